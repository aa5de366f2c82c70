// The scheduler seam: a second scheduler, registered and chosen for one app,
// is what the builder's deploy step, the commands' rollouts (config:set,
// ps:scale), the reconciler, logs, storage, ps:report, the route table and
// apps:destroy use for that app, with no change outside
// services/platform/scheduler; another app stays on docker-local.
//
// The second scheduler is a real one: docker-local on a network of its own
// (real containers on the real Engine), seen through a wrapper that records
// every call and reports each instance's address in IPv6 form, the
// IPv4-mapped `[::ffff:a.b.c.d]:port` (a socket reaches it as the IPv4
// address). So the route table, the startup checks and the router are shown
// to take an address that is not an IPv4 ip:port.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { loadConfig } from '../../services/core/config.ts';
import { Store } from '../../services/core/store/index.ts';
import { BuildLog } from '../../services/platform/build/build-log.ts';
import { deployBuilds } from '../../services/platform/release/deploy.ts';
import { reconcile } from '../../services/platform/release/reconcile.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import type { Instance, Scheduler } from '../../services/platform/scheduler/scheduler.ts';
import {
  appSchedulers,
  registerScheduler,
  schedulerNamed,
} from '../../services/platform/scheduler/schedulers.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { serveText } from '../harness/deploy.ts';
import {
  ensureTestStackImage,
  removeAppFromEngine,
  testDocker,
  testDockerRun,
  testStackImage,
} from '../harness/docker.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { request, startRouter, type TestRouter } from '../harness/router.ts';
import { tempDir } from '../harness/tmp.ts';

const run = testDockerRun();
const network = `berth-test-${run.runId.replace(/[^a-z0-9]/g, '')}-second`;
const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const ada = userActor('ada', 'admin');
const suffix = randomBytes(3).toString('hex');
const moved = `second${suffix}`;
const plain = `plain${suffix}`;
let docker: Docker;
let dataDir: string;
let router: TestRouter | undefined;

/** Every call the second scheduler took, as "method app". */
const calls: string[] = [];
const mappedAddress = (a: string | undefined) => {
  if (a === undefined) return undefined;
  const colon = a.lastIndexOf(':');
  return `[::ffff:${a.slice(0, colon)}]${a.slice(colon)}`;
};
const mapped = (i: Instance): Instance => ({ ...i, address: mappedAddress(i.address) });

function recorded(inner: Scheduler): Scheduler {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return prop === 'name' ? 'second' : value;
      return async (...args: unknown[]) => {
        const first = args[0] as { app?: string } | string | string[];
        const app = typeof first === 'string' ? first : Array.isArray(first) ? '' : first?.app;
        calls.push(`${String(prop)} ${app ?? ''}`.trim());
        const result = await value.apply(target, args);
        if (prop === 'start') return mapped(result as Instance);
        if (prop === 'list') return (result as Instance[]).map(mapped);
        return result;
      };
    },
  });
}

const unregister = registerScheduler('second', (deps) =>
  recorded(schedulerNamed('docker-local', { ...deps, network, labels: run.labels })),
);

before(async () => {
  docker = (await testDocker()).docker;
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  dataDir = await tempDir('berth-seam');
  await store.users.create('ada', 'admin');
  for (const app of [moved, plain]) await store.apps.create({ name: app, owner: 'ada' });
  await store.apps.setDeploySetting(moved, 'scheduler', 'second');
  router = await startRouter({ redisUrl: await sharedRedisUrl(), prefix });
});
after(async () => {
  unregister();
  await router?.stop();
  await removeAppFromEngine(docker, plain);
});

const commands = () =>
  commandRunner(
    store,
    loadConfig({
      BERTH_DATA_DIR: dataDir,
      DOCKER_HOST: process.env.DOCKER_HOST,
      BERTH_DRAIN_TIMEOUT: '0',
    }),
  );

/** The builder's deploy step for an image, as the builder service wires it (appSchedulers). */
async function deployAsBuilder(app: string, text: string) {
  const deploy = deployBuilds(store, appSchedulers(store, { docker }), { drainMs: 0 });
  const buildId = randomBytes(4).toString('hex');
  const log = await BuildLog.open({
    redis,
    redisPrefix: prefix,
    buildId,
    file: path.join(dataDir, 'builds', `${buildId}.log`),
  });
  try {
    return await deploy({
      id: buildId,
      request: {
        app,
        pusher: 'ada',
        requestedAt: new Date().toISOString(),
        image: testStackImage(),
      },
      result: { status: 'succeeded', image: testStackImage(), processes: { web: serveText(text) } },
      log,
      signal: AbortSignal.timeout(60_000),
    });
  } finally {
    await log.close('-----> Done');
  }
}

const callsFor = (app: string) => calls.filter((c) => c.endsWith(` ${app}`));

describe('a second scheduler for one app', () => {
  test('the deploy step, rollouts, routes, ps:report, logs, storage, the reconciler and apps:destroy use it', async () => {
    // The builder's deploy step: the moved app's instances are the second scheduler's.
    assert.equal((await deployAsBuilder(moved, 'moved $PORT')).status, 'succeeded');
    assert.equal((await deployAsBuilder(plain, 'plain')).status, 'succeeded');
    assert.ok(callsFor(moved).includes(`start ${moved}`), calls.join('\n'));
    assert.deepEqual(callsFor(plain), [], 'the other app stays on docker-local');
    const [container] = await docker.listContainers({
      filters: { label: [`berth.app=${moved}`, 'berth.process=web'] },
    });
    assert.deepEqual(Object.keys(container?.NetworkSettings.Networks ?? {}), [
      `${network}.${moved}`,
    ]);
    const [plainContainer] = await docker.listContainers({
      filters: { label: [`berth.app=${plain}`, 'berth.process=web'] },
    });
    assert.deepEqual(Object.keys(plainContainer?.NetworkSettings.Networks ?? {}), [
      `berth.${plain}`,
    ]);

    // The route table holds the second scheduler's addresses, and the router serves through them.
    const routes = await getRoutes(redis, prefix, moved);
    assert.match(routes?.backends[0] ?? '', /^\[::ffff:[0-9.]+\]:5000$/);
    const served = await request(router?.port ?? 0, `${moved}.berth.test`);
    assert.equal(served.status, 200, served.body);
    assert.equal(served.body.trim(), 'moved 5000');

    // Commands: a config change and a scale roll out through it; ps:report and logs read it.
    const cmd = commands();
    calls.length = 0;
    const set = await cmd(ada, ['config:set', moved, 'GREETING=hi']);
    assert.equal(set.code, 0, set.stderr);
    const scaled = await cmd(ada, ['ps:scale', moved, 'web=2']);
    assert.equal(scaled.code, 0, scaled.stderr);
    assert.equal((await getRoutes(redis, prefix, moved))?.backends.length, 2);
    for (const b of (await getRoutes(redis, prefix, moved))?.backends ?? []) {
      assert.match(b, /^\[::ffff:[0-9.]+\]:5000$/);
    }
    const report = await cmd(ada, ['ps:report', moved, '--format', 'json']);
    assert.equal(report.code, 0, report.stderr);
    const instances = JSON.parse(report.stdout) as Instance[];
    assert.equal(instances.filter((i) => i.state === 'running').length, 2);
    assert.ok(instances.every((i) => i.address === undefined || i.address.startsWith('[::ffff:')));
    const logs = await cmd(ada, ['logs', moved, '-n', '50']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(
      logs.stdout,
      /app\[web\.1\]: .*GET \/ HTTP/,
      'the request served through the router',
    );
    const mounted = await cmd(ada, ['storage:mount', moved, 'data:/data']);
    assert.equal(mounted.code, 0, mounted.stderr);
    const listed = await cmd(ada, ['storage:list', moved, '--format', 'json']);
    assert.deepEqual(JSON.parse(listed.stdout), [
      { name: 'data', path: '/data', volume: `berth-storage.${moved}.data` },
    ]);
    for (const method of ['start', 'stop', 'list', 'logLines', 'ensureStorage', 'storageVolumes']) {
      assert.ok(calls.includes(`${method} ${moved}`), `${method}: ${calls.join(', ')}`);
    }
    assert.deepEqual(callsFor(plain), []);

    // The reconciler: an instance removed behind Berth's back comes back through it.
    const gone = (await docker.listContainers({ filters: { label: [`berth.app=${moved}`] } }))[0];
    await docker.getContainer(gone?.Id ?? '').remove({ force: true });
    calls.length = 0;
    const fixed = await reconcile({
      store,
      schedulerOf: appSchedulers(store, { docker }),
      apps: [moved, plain],
      drainMs: 0,
    });
    assert.equal(fixed.started, 1);
    assert.ok(calls.includes(`start ${moved}`), calls.join(', '));
    assert.deepEqual(callsFor(plain), []);

    // apps:destroy stops its instances and removes its storage through it.
    calls.length = 0;
    const destroyed = await cmd(ada, ['apps:destroy', moved, '--force', '--remove-storage']);
    assert.equal(destroyed.code, 0, destroyed.stderr);
    assert.ok(calls.includes(`removeStorage ${moved}`), calls.join(', '));
    assert.deepEqual(
      await docker.listContainers({ all: true, filters: { label: [`berth.app=${moved}`] } }),
      [],
    );
  });

  test('an app set to a scheduler that is not registered gets one clear error, and nothing runs', async () => {
    const app = `unknown${suffix}`;
    await store.apps.create({ name: app, owner: 'ada' });
    await store.apps.setDeploySetting(app, 'scheduler', 'nomad');
    const r = await commands()(ada, ['ps:report', app]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'berth: no scheduler named "nomad" (there are: docker-local, second, swarm) — choose one of those\n',
    );
  });
});
