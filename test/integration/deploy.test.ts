// The deploy step (services/platform/release/deploy.ts and rollout.ts) with the
// docker-local scheduler against the real Engine and the run's Redis: each
// image becomes a release; the new instances are ready before the route
// table moves to them, and the previous release's instances go after; a
// release whose instance does not become ready fails, goes away, and leaves
// the previous one running and routed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { ROOT } from '../../services/core/actor.ts';
import { errorLine } from '../../services/core/errors.ts';
import { Store } from '../../services/core/store/index.ts';
import { APP_HOOKS } from '../../services/platform/app-hooks.ts';
import { destroyApp } from '../../services/platform/apps/apps.ts';
import { type DeployDeps, deployImage } from '../../services/platform/release/deploy.ts';
import { reconcile } from '../../services/platform/release/reconcile.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import type { Scheduler } from '../../services/platform/scheduler/scheduler.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { serveText } from '../harness/deploy.ts';
import {
  cleanupDocker,
  ensureTestStackImage,
  testDocker,
  testDockerRun,
  testStackImage,
} from '../harness/docker.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const run = testDockerRun();
const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
let docker: Docker;
let scheduler: Scheduler;

before(async () => {
  docker = (await testDocker()).docker;
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  scheduler = schedulerNamed('docker-local', {
    docker,
    network: `berth-test-${run.runId.replace(/[^a-z0-9]/g, '')}`,
    labels: run.labels,
  });
  await store.users.create('ada', 'admin');
});
after(() => cleanupDocker(run.runId, docker));

/**
 * A new app of the test's own, and the deployer's deps for it (overrides in
 * `o`); `lines` collects the rollout's output as a push shows it.
 */
async function newApp(name: string, o: Partial<DeployDeps> = {}) {
  const app = `${name}${randomBytes(3).toString('hex')}`;
  await store.apps.create({ name: app, owner: 'ada' });
  const lines: string[] = [];
  const d: DeployDeps = {
    store,
    scheduler,
    log: {
      heading: (l: string) => lines.push(`-----> ${l}`),
      detail: (l: string) => lines.push(`       ${l}`),
    },
    signal: AbortSignal.timeout(60_000),
    stopTimeoutSec: 2,
    drainMs: 0,
    ...o,
  };
  return { app, lines, d };
}

describe('deploying an image', () => {
  test('each release replaces the last only once it is ready; a failing one leaves it serving', async (t) => {
    const { app, lines, d } = await newApp('dp', {
      signal: AbortSignal.timeout(120_000),
      readyTimeoutMs: 20_000,
    });
    const deploy = (text: string) =>
      deployImage(d, {
        app,
        image: testStackImage(),
        processes: { web: serveText(text) },
        by: 'ada',
        description: `Deploy ${text}`,
      });
    const body = async () => {
      const entry = await getRoutes(redis, prefix, app);
      const res = await fetch(`http://${entry?.backends[0]}/`, {
        signal: AbortSignal.timeout(5000),
      });
      return `v${entry?.release} ${(await res.text()).trim()}`;
    };

    const started = performance.now();
    const v1 = await deploy('one');
    const firstMs = performance.now() - started;
    assert.equal(v1.version, 1);
    assert.deepEqual(v1.formation, { web: 1 }, 'the first release runs one web instance');
    assert.equal(await body(), 'v1 one');

    const t2 = performance.now();
    await deploy('two');
    const secondMs = performance.now() - t2;
    assert.equal(await body(), 'v2 two');
    assert.deepEqual(
      (await scheduler.list(app)).map((i) => [i.type, i.release, i.state]),
      [['web', 2, 'running']],
      'v1 stopped after the switch',
    );

    // A web process that never listens: v3 fails, v2 keeps serving.
    await assert.rejects(
      deployImage(d, {
        app,
        image: testStackImage(),
        processes: { web: 'echo "no port for me" >&2; exit 2' },
        by: 'ada',
        description: 'Deploy broken',
      }),
      { code: 'BERTH_E_DEPLOY_CHECK' },
    );
    assert.ok(lines.includes('         no port for me'), lines.join('\n'));
    assert.equal(await body(), 'v2 two');
    assert.equal((await store.releases.get(app, 3))?.status, 'failed');
    assert.deepEqual(
      (await scheduler.list(app)).map((i) => i.release),
      [2],
      'the failed release left nothing running',
    );
    // The next release builds on v2 (the newest that did not fail).
    const v4 = await deploy('four');
    assert.deepEqual(v4.formation, { web: 1 });
    assert.equal(await body(), 'v4 four');
    t.diagnostic(
      `first deploy ${Math.round(firstMs)} ms; a redeploy (start, ready, switch, stop old) ${Math.round(secondMs)} ms`,
    );
    // Berth stopped in the middle of a rollout (v5 pending, one v5 instance
    // started) and v4's container was lost: reconcile fails v5, stops its
    // instance, starts v4's web.1 again and routes to it.
    const v5 = await store.releases.create(app, {
      image: testStackImage(),
      processes: { web: serveText('five') },
      description: 'Deploy five',
      by: 'ada',
    });
    await scheduler.start({
      app,
      type: 'web',
      release: v5.version,
      instance: 1,
      image: testStackImage(),
      command: serveText('five'),
      env: {},
      port: 5000,
      stopTimeoutSec: 2,
    });
    for (const i of await scheduler.list(app)) {
      if (i.release === 4) await docker.getContainer(i.id).remove({ force: true });
    }
    const t6 = performance.now();
    const fixed = await reconcile({
      store,
      schedulerOf: async () => scheduler,
      stopTimeoutSec: 2,
      readyTimeoutMs: 20_000,
    });
    const reconcileMs = performance.now() - t6;
    // (The new web.1 may get the lost one's address back; then the route stands as it was.)
    assert.deepEqual(
      { failed: fixed.failed, stopped: fixed.stopped, started: fixed.started },
      { failed: [`${app} v5`], stopped: 1, started: 1 },
    );
    assert.equal((await store.releases.get(app, 5))?.status, 'failed');
    assert.equal(await body(), 'v4 four');
    const again = await reconcile({ store, schedulerOf: async () => scheduler });
    assert.deepEqual(
      again.rerouted.filter((a) => a === app),
      [],
      'a second pass changes nothing',
    );
    t.diagnostic(`reconcile after an interrupted rollout: ${Math.round(reconcileMs)} ms`);

    // apps:destroy stops what runs before it removes the images and the routes.
    const files = { repos: await tempDir('berth-repos') };
    await destroyApp(ROOT, app, { store, files, docker, hooks: APP_HOOKS });
    assert.deepEqual(await scheduler.list(app), []);
    assert.equal(await getRoutes(redis, prefix, app), undefined);
  });

  test('the release phase runs once before the rollout; when it fails nothing changes', async () => {
    const { app, lines, d } = await newApp('rp');
    const v1 = await deployImage(d, {
      app,
      image: testStackImage(),
      processes: { web: serveText('one'), release: 'echo "migrating for $GREETING"' },
      by: 'ada',
      description: 'Deploy one',
    });
    assert.equal(v1.status, 'succeeded');
    assert.ok(
      lines.includes('-----> Running the release phase: echo "migrating for $GREETING"'),
      lines.join('\n'),
    );
    assert.ok(lines.includes('       migrating for '), lines.join('\n'));
    assert.deepEqual(
      (await scheduler.list(app)).map((i) => i.type),
      ['web'],
      'the phase left no container',
    );

    await assert.rejects(
      deployImage(d, {
        app,
        image: testStackImage(),
        processes: { web: serveText('two'), release: 'echo "migration 7 failed" >&2; exit 5' },
        by: 'ada',
        description: 'Deploy two',
      }),
      {
        message: `the release phase of app "${app}" failed (exit code 5): migration 7 failed`,
      },
    );
    assert.deepEqual(
      (await scheduler.list(app)).map((i) => [i.type, i.release]),
      [['web', 1]],
      'v1 still runs, nothing of v2 started',
    );
    assert.equal((await getRoutes(redis, prefix, app))?.release, 1);
    await destroyApp(ROOT, app, {
      store,
      files: { repos: await tempDir('berth-repos') },
      docker,
      hooks: APP_HOOKS,
    });
  });

  test('the replaced release keeps running through the drain period, then stops', async () => {
    const { app, d } = await newApp('dr', { drainMs: 1500 });
    const deploy = (text: string) =>
      deployImage(d, {
        app,
        image: testStackImage(),
        processes: { web: serveText(text) },
        by: 'ada',
        description: text,
      });
    await deploy('one');
    const switched = performance.now();
    await deploy('two');
    assert.equal((await getRoutes(redis, prefix, app))?.release, 2, 'traffic is on v2 at once');
    assert.deepEqual(
      (await scheduler.list(app)).map((i) => [i.release, i.state]),
      [
        [1, 'running'],
        [2, 'running'],
      ],
      'v1 drains',
    );
    let left = await scheduler.list(app);
    while (left.some((i) => i.release === 1) && performance.now() - switched < 15_000) {
      await new Promise((r) => setTimeout(r, 100));
      left = await scheduler.list(app);
    }
    assert.deepEqual(
      left.map((i) => i.release),
      [2],
    );
    assert.ok(performance.now() - switched >= 1400, 'not before the drain period');
    await destroyApp(ROOT, app, {
      store,
      files: { repos: await tempDir('berth-repos') },
      docker,
      hooks: APP_HOOKS,
    });
  });

  test('app.json startup checks decide the rollout: a path that does not answer 2xx keeps the old release', async () => {
    const { app, lines, d } = await newApp('hc');
    // index.html says "one"; /health is the same file, so it contains "one" too.
    const v1 = await deployImage(d, {
      app,
      image: testStackImage(),
      processes: { web: `${serveText('one')}` },
      healthchecks: {
        web: [{ name: 'home', path: '/index.html', content: 'one', attempts: 5, wait: 0 }],
      },
      by: 'ada',
      description: 'Deploy one',
    });
    assert.equal(v1.status, 'succeeded');
    assert.ok(lines.includes('       web.1: home passed'), lines.join('\n'));

    const failing = performance.now();
    await assert.rejects(
      deployImage(d, {
        app,
        image: testStackImage(),
        processes: { web: serveText('two') },
        healthchecks: { web: [{ path: '/health', attempts: 2, timeout: 1, wait: 0 }] },
        by: 'ada',
        description: 'Deploy two',
      }),
      (e: Error) => {
        assert.equal(
          e.message,
          `web.1 of app "${app}" did not become ready: /health answered 404, after 2 attempts`,
        );
        // The cause above, then the fix: the check to meet, or the way around it.
        assert.match(
          errorLine(e),
          new RegExp(
            `fix what the app\\.json healthchecks of web ask for, or deploy without them: checks:skip ${app} web`,
          ),
        );
        return true;
      },
    );
    assert.ok(performance.now() - failing < 10_000);
    assert.equal((await getRoutes(redis, prefix, app))?.release, 1);
    assert.deepEqual(
      (await scheduler.list(app)).map((i) => i.release),
      [1],
    );
    await destroyApp(ROOT, app, {
      store,
      files: { repos: await tempDir('berth-repos') },
      docker,
      hooks: APP_HOOKS,
    });
  });

  test('app.json command checks run in the new instance: exit 0 passes, a failing command keeps the old release', async () => {
    const { app, lines, d } = await newApp('cc');
    // Ready only once it wrote its marker file, a moment after it starts.
    const v1 = await deployImage(d, {
      app,
      image: testStackImage(),
      processes: { web: 'sleep 1; touch /tmp/ready; exec sleep 600' },
      healthchecks: {
        web: [{ name: 'ready file', command: ['test', '-f', '/tmp/ready'], attempts: 10, wait: 1 }],
      },
      by: 'ada',
      description: 'Deploy one',
    });
    assert.equal(v1.status, 'succeeded');
    assert.ok(lines.includes('       web.1: ready file passed'), lines.join('\n'));

    await assert.rejects(
      deployImage(d, {
        app,
        image: testStackImage(),
        processes: { web: 'exec sleep 600' },
        healthchecks: {
          web: [
            { command: ['sh', '-c', 'echo not yet; exit 3'], attempts: 2, timeout: 2, wait: 0 },
          ],
        },
        by: 'ada',
        description: 'Deploy two',
      }),
      {
        message: `web.1 of app "${app}" did not become ready: sh -c echo not yet; exit 3 exited with 3 (not yet), after 2 attempts`,
      },
    );
    assert.deepEqual(
      (await scheduler.list(app)).map((i) => i.release),
      [1],
    );
    await destroyApp(ROOT, app, {
      store,
      files: { repos: await tempDir('berth-repos') },
      docker,
      hooks: APP_HOOKS,
    });
  });

  test('checks:skip takes an instance that runs as ready; checks:disable stops the old ones first', async () => {
    const { app, lines, d } = await newApp('ck', { readyTimeoutMs: 2000 });
    const deploy = (web: string) =>
      deployImage(d, {
        app,
        image: testStackImage(),
        processes: { web },
        by: 'ada',
        description: 'x',
      });
    // Never listens: with checks it fails, with checks:skip it goes live.
    await assert.rejects(deploy('exec sleep 600'), { code: 'BERTH_E_DEPLOY_CHECK' });
    await store.apps.setDeploySetting(app, 'checksSkipped', ['web']);
    const v2 = await deploy('exec sleep 600');
    assert.equal(v2.status, 'succeeded');
    assert.ok(lines.includes('       web.1 started (checks skipped)'), lines.join('\n'));

    await store.apps.setDeploySetting(app, 'checksSkipped', []);
    await store.apps.setDeploySetting(app, 'checksDisabled', ['_all_']);
    await deploy(serveText('three'));
    const i = lines.indexOf('-----> Stopping the web instances first (checks:disable)');
    assert.ok(i > 0 && lines.indexOf('-----> Starting 1 web instance of v3') > i, lines.join('\n'));
    assert.deepEqual(
      (await scheduler.list(app)).map((x) => x.release),
      [3],
    );
    await destroyApp(ROOT, app, {
      store,
      files: { repos: await tempDir('berth-repos') },
      docker,
      hooks: APP_HOOKS,
    });
  });
});
