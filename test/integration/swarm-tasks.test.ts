// One-off runs on the swarm scheduler, on a 3-node Docker Swarm made on this
// machine (test/harness/swarm.ts): the release phase runs as a Swarm job
// before the rollout (and a failing one stops the deploy with nothing
// changed), `run` returns a job's output and exit code, a terminal is
// refused in one line, run:detached leaves a job that is removed once it
// ended, and an aborted run's job is removed at once. Heavy (three Docker
// Engines): it runs alone (test/run.ts's SOLO).
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { BerthError } from '../../services/core/errors.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { instanceSpec } from '../../services/platform/release/instance-spec.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import type { Scheduler } from '../../services/platform/scheduler/scheduler.ts';
import { schedulerFor } from '../../services/platform/scheduler/schedulers.ts';
import { engineApp, quietDeployDeps, serveText } from '../harness/deploy.ts';
import { newTestRunId, testDocker, testStackImage } from '../harness/docker.ts';
import { startSwarm } from '../harness/swarm.ts';
import { until } from '../harness/wait.ts';

const { docker: shared } = await testDocker();
const swarm = await startSwarm(shared, { runId: newTestRunId() });
after(() => swarm.remove());
const { prefix, store, app, config, docker, ada, run } = await engineApp('swt', {
  BERTH_SWARM_MANAGER: swarm.manager,
  BERTH_SWARM_NETWORK: swarm.overlay,
  BERTH_DRAIN_TIMEOUT: '1s',
});
await swarm.distribute(testStackImage());
const manager = swarm.nodes[0] as string;
const scheduler = async () => schedulerFor(store, app, { docker, swarm: config.swarm });

/** The swarm's services, by name. */
async function services(): Promise<string[]> {
  return (await swarm.exec(manager, ['service', 'ls', '--format', '{{.Name}}']))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .sort();
}

/** A one-off of the app's current release running `command`. */
async function oneOffSpec(command: string) {
  const current = await store.releases.current(app);
  assert.ok(current);
  return instanceSpec(current, await store.apps.deploySettings(app), {
    type: 'run',
    instance: 0,
    command,
    port: 5000,
    stopTimeoutSec: 2,
  });
}

describe('one-off runs on Docker Swarm', () => {
  test('the release phase runs as a swarm job before the rollout; its output is in the deploy log', {
    timeout: 300_000,
  }, async () => {
    const r = await run(ada, ['scheduler:set', app, 'selected', 'swarm']);
    assert.equal(r.code, 0, r.stderr);
    const log: string[] = [];
    const t0 = Date.now();
    const release = await deployImage(
      quietDeployDeps(store, await scheduler(), {
        signal: AbortSignal.timeout(240_000),
        log: { heading: (l) => log.push(`> ${l}`), detail: (l) => log.push(l) },
      }),
      {
        app,
        image: testStackImage(),
        processes: {
          web: serveText('hello'),
          release: 'echo "release phase on $(hostname)"; echo "to stderr" >&2',
        },
        by: 'ada',
        description: 'Deploy with a release phase on the swarm',
      },
    );
    assert.equal(release.status, 'succeeded');
    process.stderr.write(`# swarm-tasks: deploy with a release phase ${Date.now() - t0} ms\n`);
    const phase = log.findIndex((l) => l.startsWith('> Running the release phase'));
    assert.ok(phase >= 0, log.join('\n'));
    const said = log.findIndex((l) => /^release phase on [0-9a-f]{12}$/.test(l));
    assert.ok(said > phase, log.join('\n'));
    assert.ok(log.includes('to stderr'), log.join('\n'));
    // Its job is gone; the web service is the only one left.
    assert.deepEqual(
      (await services()).map((n) => n.replace(/-[0-9a-f]{6}$/, '')),
      [`${app}-web-v${release.version}`],
    );
    const instances = await (await scheduler()).list(app);
    assert.deepEqual(
      instances.map((i) => `${i.type} ${i.state}`),
      ['web running'],
    );
  });

  test('a failing release phase stops the deploy: nothing started, the route unchanged', {
    timeout: 300_000,
  }, async () => {
    const routedBefore = (await getRoutes(store.redis, prefix, app))?.backends;
    const servicesBefore = await services();
    await assert.rejects(
      deployImage(
        quietDeployDeps(store, await scheduler(), { signal: AbortSignal.timeout(240_000) }),
        {
          app,
          image: testStackImage(),
          processes: { web: serveText('never'), release: 'echo "migration failed"; exit 3' },
          by: 'ada',
          description: 'A release phase that fails',
        },
      ),
      (e: unknown) =>
        e instanceof BerthError &&
        e.code === 'BERTH_E_DEPLOY_RELEASE_PHASE' &&
        /exit code 3/.test(e.message) &&
        /migration failed/.test(e.message),
    );
    assert.deepEqual(await services(), servicesBefore);
    assert.deepEqual((await getRoutes(store.redis, prefix, app))?.backends, routedBefore);
  });

  test("run returns the job's stdout, stderr and exit code, and removes the job", {
    timeout: 180_000,
  }, async () => {
    const before = await services();
    const t0 = Date.now();
    const r = await run(ada, ['run', app, 'echo out-$((40+2)); echo err-line >&2; exit 3']);
    process.stderr.write(`# swarm-tasks: run of a one-off job ${Date.now() - t0} ms\n`);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.equal(r.stdout, 'out-42\n');
    assert.match(r.stderr, /^err-line$/m);
    assert.deepEqual(await services(), before);
    // The Procfile's web entry, named as the command, runs its command line (here: to its end).
    const ok = await run(ada, ['run', app, 'true']);
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('a run with a terminal is refused in one line, with nothing started', async () => {
    const s = await scheduler();
    const before = await services();
    await assert.rejects(
      s.runAttached(
        await oneOffSpec('bash'),
        {
          stdin: Readable.from([]),
          stdout: new PassThrough(),
          stderr: new PassThrough(),
          terminal: {
            term: 'xterm',
            size: { rows: 24, cols: 80 },
            output: new PassThrough(),
            onResize: () => () => {},
          } as never,
        },
        AbortSignal.timeout(30_000),
      ),
      (e: unknown) =>
        e instanceof BerthError &&
        e.code === 'BERTH_E_SWARM_NO_TERMINAL' &&
        !e.toLine().includes('\n') &&
        /without -t/.test(e.toLine()),
    );
    assert.deepEqual(await services(), before);
  });

  test('run:detached starts a job and returns; the job is removed once it ended', {
    timeout: 120_000,
  }, async () => {
    const r = await run(ada, ['run:detached', app, 'sleep 2; echo done']);
    assert.equal(r.code, 0, r.stderr);
    const name = /Started (\S+)/.exec(r.stdout)?.[1] ?? '';
    assert.match(name, new RegExp(`^${app}-run-once-v\\d+-[0-9a-f]{6}$`));
    assert.ok((await services()).includes(name));
    // Not an instance of the app: ps and the reconciler do not see it.
    assert.ok((await (await scheduler()).list(app)).every((i) => i.type !== 'run'));
    // The next detached run (or the scheduler's watch) removes it once it ended.
    await until(
      'the detached job ended and removed',
      async () => {
        const again = await run(ada, ['run:detached', app, 'true']);
        assert.equal(again.code, 0, again.stderr);
        return !(await services()).includes(name);
      },
      60_000,
    );
  });

  test('an aborted run removes its job at once', { timeout: 120_000 }, async () => {
    const s: Scheduler = await scheduler();
    const control = new AbortController();
    const lines: string[] = [];
    const earlier = new Set(await services());
    const running = s.runOnce(
      await oneOffSpec('echo started; sleep 600'),
      (l) => lines.push(l),
      control.signal,
    );
    await until('its first line', async () => lines.includes('started'), 60_000);
    const job = (await services()).find((n) => !earlier.has(n));
    assert.match(job ?? '', new RegExp(`^${app}-run-once-`));
    control.abort();
    await assert.rejects(running);
    await until('its job removed', async () => !(await services()).includes(job ?? ''), 30_000);
  });

  test('storage:mount pins the app to the node its volume lives on: instances and runs there, data kept; the reports name the node', {
    timeout: 300_000,
  }, async () => {
    const mounted = await run(ada, ['storage:mount', app, 'data:/data']);
    assert.equal(mounted.code, 0, mounted.stdout + mounted.stderr);
    const scaled = await run(ada, ['ps:scale', app, 'web=2']);
    assert.equal(scaled.code, 0, scaled.stdout + scaled.stderr);
    const s = await scheduler();
    let instances = await s.list(app);
    await until(
      '2 running tasks of the release with storage',
      async () => {
        instances = await s.list(app);
        return instances.length === 2 && instances.every((i) => i.state === 'running');
      },
      90_000,
    );
    // The volume is on the manager node, and so is every task.
    assert.deepEqual(
      instances.map((i) => i.node),
      [manager, manager],
    );
    const [name] = (await services()).filter((n) => n.startsWith(`${app}-web-`));
    const constraints = JSON.parse(
      await swarm.exec(manager, [
        'service',
        'inspect',
        '--format',
        '{{json .Spec.TaskTemplate.Placement.Constraints}}',
        name ?? '',
      ]),
    ) as string[];
    assert.equal(constraints.length, 1);
    assert.match(constraints[0] ?? '', /^node\.id==[a-z0-9]+$/);
    // One-offs run there too, and see what another wrote.
    const wrote = await run(ada, ['run', app, 'echo kept > /data/f']);
    assert.equal(wrote.code, 0, wrote.stderr);
    const read = await run(ada, ['run', app, 'cat /data/f; hostname']);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stdout, /^kept\n/);
    const report = await run(ada, ['storage:report', app]);
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stdout, new RegExp(`Storage node: +${manager}`));
    assert.match(report.stdout, new RegExp(`-v berth-storage\\.${app}\\.data:/data`));
    const ps = await run(ada, ['ps:report', app]);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /NODE/);
    assert.equal(ps.stdout.split(manager).length - 1, 2, ps.stdout);
    // On the manager node, its own Engine gives their figures.
    const figures = await s.usage(instances.map((i) => i.id));
    assert.equal(figures.size, 2);
    for (const u of figures.values()) assert.ok(u.memoryBytes > 0 && u.cpuPercent >= 0);
    const list = await run(ada, ['storage:list', app, '--format', 'json']);
    assert.deepEqual(JSON.parse(list.stdout), [
      { name: 'data', path: '/data', volume: `berth-storage.${app}.data` },
    ]);
  });

  test("an app.json command check is the service's health check: one that passes deploys, one that never passes stops the deploy", {
    timeout: 300_000,
  }, async () => {
    const deploy = async (healthchecks: Record<string, unknown[]>, text: string) =>
      deployImage(
        quietDeployDeps(store, await scheduler(), { signal: AbortSignal.timeout(240_000) }),
        {
          app,
          image: testStackImage(),
          processes: { web: serveText(text) },
          healthchecks,
          by: 'ada',
          description: 'A deploy with a command check',
        },
      );
    const passing = await deploy(
      {
        web: [
          {
            type: 'startup',
            name: 'served',
            command: ['cat', '/tmp/s/index.html'],
            content: 'checked',
            attempts: 10,
            timeout: 5,
            wait: 1,
          },
        ],
      },
      'checked',
    );
    assert.equal(passing.status, 'succeeded');
    const [name] = (await services()).filter((n) =>
      n.startsWith(`${app}-web-v${passing.version}-`),
    );
    const test = JSON.parse(
      await swarm.exec(manager, [
        'service',
        'inspect',
        '--format',
        '{{json .Spec.TaskTemplate.ContainerSpec.Healthcheck.Test}}',
        name ?? '',
      ]),
    ) as string[];
    assert.deepEqual(test.slice(-3), ['checked', 'cat', '/tmp/s/index.html']);
    const routed = (await getRoutes(store.redis, prefix, app))?.backends;
    assert.equal(routed?.length, 2);
    const before = await services();
    await assert.rejects(
      deploy(
        { web: [{ type: 'startup', command: ['false'], attempts: 2, timeout: 2, wait: 1 }] },
        'never',
      ),
    );
    // Nothing of the failed release is left running, and the route is the passing release's.
    await until(
      "the failed release's service removed",
      async () => {
        const now = await services();
        return now.length === before.length && now.every((n) => before.includes(n));
      },
      60_000,
    );
    assert.deepEqual((await getRoutes(store.redis, prefix, app))?.backends, routed);
  });
});
