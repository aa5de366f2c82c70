// releases, releases:info, releases:rollback, ps:scale, ps:report and
// config:set going live, through the command dispatcher (as over SSH) with
// the real Engine: an app whose releases serve different text, on Berth's
// network; each command's release is rolled out and the route table moves.
// The app's containers are removed by its label at the end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { loadConfig } from '../../services/core/config.ts';
import { Store } from '../../services/core/store/index.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { reconcile } from '../../services/platform/release/reconcile.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import { appSchedulers, schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { quietDeployDeps, routedContent, serveText } from '../harness/deploy.ts';
import {
  ensureTestStackImage,
  removeAppFromEngine,
  testDocker,
  testStackImage,
  volumeExists,
} from '../harness/docker.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const app = `rc${randomBytes(3).toString('hex')}`;
const ada = userActor('ada', 'admin');
let docker: Docker;
let run: ReturnType<typeof commandRunner>;

before(async () => {
  docker = (await testDocker()).docker;
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  run = commandRunner(
    store,
    loadConfig({
      BERTH_DATA_DIR: await tempDir('berth-rc'),
      DOCKER_HOST: process.env.DOCKER_HOST,
      BERTH_DRAIN_TIMEOUT: '0',
    }),
  );
  await store.users.create('ada', 'admin');
  await store.apps.create({ name: app, owner: 'ada' });
});
after(() => removeAppFromEngine(docker, app));

/** A web process serving "<text> GREETING=<its GREETING>". */
const serve = (text: string) => serveText(`${text} GREETING=$GREETING`);

async function served(): Promise<string> {
  const { release, backends, texts } = await routedContent(redis, prefix, app);
  return `v${release} x${backends} ${texts.join('|')}`;
}

describe('release commands on a running app', () => {
  test('config:set releases, ps:scale scales, releases:rollback goes back; the history shows each', async (t) => {
    const d = quietDeployDeps(store, schedulerNamed('docker-local', { docker }));
    for (const text of ['one', 'two']) {
      await deployImage(d, {
        app,
        image: testStackImage(),
        processes: { web: serve(text) },
        by: 'ada',
        description: `Deploy ${text}`,
      });
    }
    assert.equal(await served(), 'v2 x1 two GREETING=');

    const set = await run(ada, ['config:set', app, 'GREETING=hi']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /-----> Releasing v3 of .* \(Set GREETING config vars\)/);
    assert.equal(await served(), 'v3 x1 two GREETING=hi');

    const scaled = await run(ada, ['ps:scale', app, 'web=2']);
    assert.equal(scaled.code, 0, scaled.stderr);
    assert.equal(await served(), 'v4 x2 two GREETING=hi');
    const ps = JSON.parse((await run(ada, ['ps:report', app, '--format', 'json'])).stdout);
    assert.deepEqual(
      ps.map((i: { type: string; instance: number; release: number; state: string }) => [
        i.type,
        i.instance,
        i.release,
        i.state,
      ]),
      [
        ['web', 1, 4, 'running'],
        ['web', 2, 4, 'running'],
      ],
    );
    assert.match((await run(ada, ['ps:scale', app])).stdout, /^web +2$/m);

    // Back to v1: its image, its processes and its config (no GREETING), at the current scale.
    const started = performance.now();
    const back = await run(ada, ['releases:rollback', app, 'v1']);
    const rollbackMs = performance.now() - started;
    assert.equal(back.code, 0, back.stderr);
    assert.equal(await served(), 'v5 x2 one GREETING=');
    assert.deepEqual(
      JSON.parse((await run(ada, ['config:show', app, '--format', 'json'])).stdout),
      {},
      "the app's config went back with it",
    );
    // Without a version: the release before the current one (v4).
    assert.equal((await run(ada, ['releases:rollback', app])).code, 0);
    assert.equal(await served(), 'v6 x2 two GREETING=hi');

    const history = JSON.parse((await run(ada, ['releases', app, '--format', 'json'])).stdout);
    assert.deepEqual(
      history.map((r: { version: number; description: string; status: string }) => [
        r.version,
        r.description,
        r.status,
      ]),
      [
        [6, 'Rollback to v4', 'succeeded'],
        [5, 'Rollback to v1', 'succeeded'],
        [4, 'Scale web=2', 'succeeded'],
        [3, 'Set GREETING config vars', 'succeeded'],
        [2, 'Deploy two', 'succeeded'],
        [1, 'Deploy one', 'succeeded'],
      ],
    );
    const info = (await run(ada, ['releases:info', app, 'v3'])).stdout;
    assert.match(info, /^ {7}Config keys: +GREETING$/m);
    assert.doesNotMatch(info, /hi/, 'config values are not shown');

    for (const [argv, expected] of [
      [['releases:rollback', app, 'v99'], /has no release v99/],
      [['releases:rollback', app, 'latest'], /"latest" is not a release such as v12/],
      [['ps:scale', app, 'worker=1'], /has no worker process \(it has web\)/],
      [['ps:scale', app, 'web=1000'], /at most 100 instances/],
      [['ps:scale', app, 'Web=1'], /invalid process type/],
    ] as const) {
      const r = await run(ada, [...argv]);
      assert.notEqual(r.code, 0, argv.join(' '));
      assert.match(r.stderr, expected);
    }
    assert.equal(await served(), 'v6 x2 two GREETING=hi', 'refused commands changed nothing');

    // A restart: new containers of the same release, no new release.
    const before = JSON.parse((await run(ada, ['ps:report', app, '--format', 'json'])).stdout);
    const restarted = await run(ada, ['ps:restart', app]);
    assert.equal(restarted.code, 0, restarted.stderr);
    const after = JSON.parse((await run(ada, ['ps:report', app, '--format', 'json'])).stdout);
    assert.equal(after.length, 2);
    for (const i of after) {
      assert.equal(i.release, 6);
      assert.ok(!before.some((b: { id: string }) => b.id === i.id), 'new containers');
    }
    assert.equal(await served(), 'v6 x2 two GREETING=hi');
    assert.match(
      (await run(ada, ['ps:restart', app, 'worker'])).stderr,
      /runs no worker instances/,
    );

    // One-off processes from the current release, with its config.
    const ran = await run(ada, ['run', app, 'echo', '"$GREETING from run"']);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'hi from run\n');
    assert.equal((await run(ada, ['run', app, 'exit 7'])).code, 7, "the exit code is run's");
    const detached = await run(ada, ['run:detached', app, 'sleep', '1']);
    assert.match(
      detached.stdout,
      new RegExp(`^-----> Started ${app}\\.run\\.once\\.v6\\.[0-9a-f]{6}$`, 'm'),
    );

    // The app's output across its instances and deploys: the replaced
    // releases' containers are gone, their requests are still in the logs.
    const logs = (await run(ada, ['logs', app, '-n', '1000'])).stdout.trim().split('\n');
    const requests = logs.filter((l) => /app\[web\.[12]\]: .*"GET \/ HTTP\/1\.1" 200/.test(l));
    assert.ok(requests.length >= 10, logs.join('\n'));
    const times = logs.map((l) => l.split(' ')[0] ?? '');
    assert.deepEqual([...times].sort(), times, 'in time order');
    assert.equal((await run(ada, ['logs', app, '-n', '3'])).stdout.trim().split('\n').length, 3);
    assert.equal((await run(ada, ['logs', app, '-p', 'worker'])).stdout, '');
    assert.match((await run(ada, ['logs', app, '-n', '0'])).stderr, /-n takes a number of lines/);
    t.diagnostic(
      `releases:rollback v1, command to the old content served: ${Math.round(rollbackMs)} ms`,
    );
  });

  test('ps:stop stops the app until ps:start, through a config change and a reconcile', async () => {
    const stopped = await run(ada, ['ps:stop', app]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(
      stopped.stdout,
      /-----> Stopped every process of .*; "ps:start .*" starts it again/,
    );
    assert.deepEqual((await getRoutes(redis, prefix, app))?.backends, []);
    // Instances of the formation (the previous test's run:detached may still be ending).
    const report = async () =>
      (
        JSON.parse((await run(ada, ['ps:report', app, '--format', 'json'])).stdout) as {
          instance: number;
        }[]
      ).filter((i) => i.instance > 0);
    assert.deepEqual(await report(), []);

    // A change makes its release, and the app stays stopped.
    const set = await run(ada, ['config:set', app, 'GREETING=later']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /web of .* is stopped \(ps:stop\): v7 starts it at ps:start/);
    assert.deepEqual(await report(), []);
    // As does Berth's reconcile (after a restart of Berth, and every 10 s).
    const r = await reconcile({ store, schedulerOf: appSchedulers(store, { docker }), drainMs: 0 });
    assert.equal(r.started, 0);
    assert.deepEqual(await report(), []);
    assert.match(
      (await run(ada, ['ps:restart', app, 'web'])).stderr,
      /web of .* is stopped; "ps:start .* web" starts it/,
    );

    const started = await run(ada, ['ps:start', app]);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(await served(), 'v7 x2 two GREETING=later');
    assert.match((await run(ada, ['ps:start', app])).stdout, /already runs/);
    assert.equal(
      JSON.parse((await run(ada, ['releases', app, '--format', 'json'])).stdout)[0].version,
      7,
      'stop and start make no release',
    );
  });

  test('storage:mount keeps data across deploys and rollbacks; resource:limit reaches the containers', async () => {
    const mounted = await run(ada, ['storage:mount', app, 'data:/data']);
    assert.equal(mounted.code, 0, mounted.stderr);
    assert.match(mounted.stdout, /Mounted berth-storage\..*\.data at \/data; restarting/);
    assert.equal((await run(ada, ['run', app, 'echo kept > /data/f'])).code, 0);
    const set = await run(ada, ['config:set', app, 'GREETING=again']);
    assert.equal(set.code, 0, set.stderr);
    assert.equal((await run(ada, ['releases:rollback', app])).code, 0);
    assert.equal((await run(ada, ['run', app, 'cat /data/f'])).stdout, 'kept\n');
    assert.equal(await served(), 'v9 x2 two GREETING=later');
    assert.deepEqual(
      JSON.parse((await run(ada, ['storage:list', app, '--format', 'json'])).stdout),
      [{ name: 'data', path: '/data', volume: `berth-storage.${app}.data` }],
    );

    const limited = await run(ada, [
      'resource:limit',
      app,
      '--memory',
      '64m',
      '--cpus',
      '0.5',
      'web',
    ]);
    assert.equal(limited.code, 0, limited.stderr);
    assert.match(limited.stdout, /Limited web to 64 MB of memory, 0\.5 CPUs; restarting/);
    for (const c of await docker.listContainers({
      filters: { label: [`berth.app=${app}`, 'berth.process=web'] },
    })) {
      const { HostConfig, Mounts } = await docker.getContainer(c.Id).inspect();
      assert.equal(HostConfig.Memory, 64 * 1024 ** 2);
      assert.equal(HostConfig.NanoCpus, 5e8);
      assert.deepEqual(
        Mounts.map((m) => [m.Name, m.Destination]),
        [[`berth-storage.${app}.data`, '/data']],
      );
    }
    assert.match(
      (await run(ada, ['resource:report', app])).stdout,
      /^web +64 MB of memory, 0\.5 CPUs$/m,
    );

    for (const [argv, expected] of [
      [['storage:mount', app, 'data:/proc/x'], /the kernel owns \/proc/],
      [['storage:mount', app, 'data:/'], /invalid container path/],
      [['storage:mount', app, 'Data:/d'], /invalid storage name/],
      [['storage:mount', app, 'other:/data'], /\/data already has data mounted/],
      [['storage:mount', app, 'nocolon'], /is not NAME:\/path/],
      [['resource:limit', app, '--memory', '1x'], /invalid memory size/],
      [['resource:limit', app, '--cpus', '200'], /more than this machine's \d+ CPUs/],
      [['resource:limit', app], /give --memory, --cpus, --pids or several/],
    ] as const) {
      const r = await run(ada, [...argv]);
      assert.notEqual(r.code, 0, argv.join(' '));
      assert.match(r.stderr, expected);
    }

    const unmounted = await run(ada, ['storage:unmount', app, 'data:/data']);
    assert.equal(unmounted.code, 0, unmounted.stderr);
    assert.equal((await run(ada, ['run', app, 'test -e /data/f'])).code, 1, 'not mounted any more');
    assert.deepEqual(
      JSON.parse((await run(ada, ['storage:list', app, '--format', 'json'])).stdout),
      [{ name: 'data', path: null, volume: `berth-storage.${app}.data` }],
      'the volume and its data are kept',
    );
    assert.equal((await run(ada, ['resource:limit-clear', app, 'web', '--no-restart'])).code, 0);
    assert.deepEqual(
      JSON.parse((await run(ada, ['resource:report', app, '--format', 'json'])).stdout),
      {},
    );
  });

  test('logs -t follows the running instances live until the client goes away', async (t) => {
    const client = new AbortController();
    const marker = `live-${randomBytes(3).toString('hex')}`;
    let printedHistory: () => void = () => {};
    const history = new Promise<void>((r) => {
      printedHistory = r;
    });
    let seenLive: () => void = () => {};
    const live = new Promise<void>((r) => {
      seenLive = r;
    });
    const following = run(ada, ['logs', app, '-t', '-n', '1'], '', {
      signal: client.signal,
      onOutput: (text) => {
        printedHistory();
        if (text.includes(`GET /${marker}`)) seenLive();
      },
    });
    // The history (one line) is out before the request is made, so the
    // marker can only come from the live follow.
    await history;
    const entry = await getRoutes(redis, prefix, app);
    await fetch(`http://${entry?.backends[0]}/${marker}`).then((r) => r.text());
    const t0 = performance.now();
    await Promise.race([
      live,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('the line did not arrive within 10 s')), 10_000),
      ),
    ]);
    const ms = performance.now() - t0;
    client.abort();
    assert.equal((await following).code, 0, 'the follow ends when the client goes away');
    t.diagnostic(`logs -t: a request's access line printed ${Math.round(ms)} ms after its answer`);
  });

  test('a crash-looping process is shown crashed with its exit code, backs off, and leaves other apps alone', async (t) => {
    const crashing = `${app}c`;
    after(() => removeAppFromEngine(docker, crashing));
    await store.apps.create({ name: crashing, owner: 'ada' });
    // Up for the deploy's uptime check (its default-wait), then exiting 3 on every start after the first.
    await deployImage(quietDeployDeps(store, schedulerNamed('docker-local', { docker })), {
      app: crashing,
      image: testStackImage(),
      processes: {
        web: serve('crashy'),
        worker: 'test -e /tmp/ran && exit 3; touch /tmp/ran; sleep 2.5; exit 3',
      },
      by: 'ada',
      description: 'Deploy a worker that crashes',
    });
    // Dokku's default wait (10 s) would catch the worker's exit at 2.5 s: this
    // app asks for a 2 s one, so the worker passes once and crash-loops after.
    assert.equal((await run(ada, ['checks:set', crashing, 'default-wait', '2'])).code, 0);
    const scaled = await run(ada, ['ps:scale', crashing, 'worker=1']);
    assert.equal(scaled.code, 0, scaled.stderr);
    const other = await getRoutes(redis, prefix, app);
    const otherBefore = (await schedulerNamed('docker-local', { docker }).list(app)).map((i) => [
      i.id,
      i.restarts,
    ]);
    // The other app is requested all along, one request at a time.
    let requests = 0;
    const failures: string[] = [];
    let loading = true;
    const load = (async () => {
      while (loading) {
        requests++;
        try {
          const res = await fetch(`http://${other?.backends[0]}/`, {
            signal: AbortSignal.timeout(5000),
          });
          await res.text();
          if (res.status !== 200) failures.push(String(res.status));
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    })();
    const t0 = performance.now();
    // Between crashes Docker starts it again: a report may catch it running for a moment.
    let report = '';
    let crashedReport = '';
    while (performance.now() - t0 < 12_000) {
      report = (await run(ada, ['ps:report', crashing])).stdout;
      if (/^worker\.1 +v2 +crashed /m.test(report)) crashedReport = report;
      await new Promise((r) => setTimeout(r, 250));
    }
    loading = false;
    await load;
    const worker = (await schedulerNamed('docker-local', { docker }).list(crashing)).find(
      (i) => i.type === 'worker',
    );
    assert.match(crashedReport, /^worker\.1 +v2 +crashed +- +\d+ +3$/m, report);
    // Docker's doubling delay (0.1, 0.2, 0.4 ... s) after the first exit at ~2.5 s: about 7
    // restarts in 12 s, where restarting at once would make hundreds.
    assert.ok(
      worker && worker.restarts >= 2 && worker.restarts <= 12,
      `restarts: ${worker?.restarts}`,
    );
    assert.match(report, /^web\.1 +v2 +running /m, 'its web process is not disturbed either');
    assert.deepEqual(failures, [], `the other app answered all ${requests} requests`);
    assert.deepEqual(
      (await schedulerNamed('docker-local', { docker }).list(app)).map((i) => [i.id, i.restarts]),
      otherBefore,
      "the other app's instances are the same, never restarted",
    );
    t.diagnostic(
      `crash loop: ${worker?.restarts} restarts in 12 s; other app: ${requests} requests, 0 failed`,
    );
  });

  test('apps:rename moves running instances to the new name; refused while storage is mounted', async () => {
    const renamed = `${app}n`;
    after(() => removeAppFromEngine(docker, renamed));
    const containersOf = async (name: string) =>
      (await docker.listContainers({ filters: { label: [`berth.app=${name}`] } })).filter(
        (c) => c.Labels['berth.instance'] !== '0',
      );
    const before = await containersOf(app);
    assert.ok(before.length > 0);
    const r = await run(ada, ['apps:rename', app, renamed]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`-----> Restarting every process of ${renamed}`));
    assert.deepEqual(await containersOf(app), [], 'the old name runs nothing');
    assert.equal((await containersOf(renamed)).length, before.length);
    const entry = await getRoutes(redis, prefix, renamed);
    const res = await fetch(`http://${entry?.backends[0]}/`, { signal: AbortSignal.timeout(5000) });
    assert.match(await res.text(), /GREETING=later/);
    assert.match(
      (await run(ada, ['logs', renamed, '-n', '1000'])).stdout,
      /"GET \/ HTTP\/1\.1" 200/,
      'the kept logs moved with the app',
    );

    assert.equal((await run(ada, ['storage:mount', renamed, 'data:/data'])).code, 0);
    const refused = await run(ada, ['apps:rename', renamed, app]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /has storage mounted \(data:\/data\).*storage:unmount first/);
    assert.equal(
      (await run(ada, ['storage:unmount', renamed, 'data:/data', '--no-restart'])).code,
      0,
    );
    assert.notEqual((await run(ada, ['storage:unmount', renamed, 'data:/data'])).code, 0);
    assert.equal((await run(ada, ['apps:rename', renamed, app])).code, 0);
    assert.deepEqual(await containersOf(renamed), []);
  });

  test('apps:destroy asks before it removes storage, separately from the name; --force keeps it', async () => {
    for (const [suffix, answer, removed] of [
      ['keep', 'no', false],
      ['drop', 'yes', true],
    ] as const) {
      const other = `${app}-${suffix}`;
      after(() => removeAppFromEngine(docker, other));
      await store.apps.create({ name: other, owner: 'ada' });
      const mounted = await run(ada, ['storage:mount', other, 'files:/files']);
      assert.match(mounted.stdout, /gets it with its first deploy/);
      const volume = `berth-storage.${other}.files`;
      assert.ok(await volumeExists(docker, volume));
      // Both answers typed ahead, as a pipe delivers them: one chunk.
      const r = await run(ada, ['apps:destroy', other], `${other}\n${answer}\n`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /has 1 storage volume \(files\)\.\n ! {5}Type yes to remove them/);
      assert.equal(await volumeExists(docker, volume), !removed);
      if (!removed)
        assert.match(
          r.stdout,
          new RegExp(`Kept its storage with the data: ${volume.replaceAll('.', '\\.')}`),
        );
    }
    const forced = await run(ada, ['apps:destroy', app, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.doesNotMatch(forced.stderr, /Type yes/);
    assert.ok(
      await volumeExists(docker, `berth-storage.${app}.data`),
      '--force alone never removes data',
    );
  });
});
