// Routers on several edge nodes (issue 21, docs/design.md "The control plane
// in a cluster"): each router is its own process reading the route table
// from the one Redis, so two of them, as two machines would run them (each
// its own ports and data directory), serve the same apps; a deploy
// switches both; one killed with its whole process group (its machine
// lost), the other serves on, and a deploy after that reaches it alone.
// Redis lost (the manager's machine): both serve their last table, and take
// the changes made once it is back. Real router processes, real Redis (a
// private one for the kill), a real deploy on this machine's Engine.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Store } from '../../services/core/store/index.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { setRoutes } from '../../services/platform/routes/routes.ts';
import { schedulerFor } from '../../services/platform/scheduler/schedulers.ts';
import { engineApp, quietDeployDeps, serveText } from '../harness/deploy.ts';
import { testStackImage } from '../harness/docker.ts';
import { type PhaseResult, startLoad } from '../harness/load.ts';
import { freePort } from '../harness/ports.ts';
import { privateRedis, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { request, startBackend, startRouter, type TestRouter } from '../harness/router.ts';
import { tempDir } from '../harness/tmp.ts';
import { until } from '../harness/wait.ts';

const { prefix, store, app, config, docker } = await engineApp('edge');
const host = `${app}.berth.test`;

/** A router as another edge node runs it: its own ports and data directory, the shared Redis. */
async function edgeRouter(o: { redisUrl?: string; prefix?: string } = {}): Promise<TestRouter> {
  const router = await startRouter({
    redisUrl: o.redisUrl ?? (await sharedRedisUrl()),
    prefix: o.prefix ?? prefix,
    env: {
      BERTH_ROUTER_PROCESSES: '1',
      BERTH_DATA_DIR: await tempDir('berth-edge'),
      BERTH_WEB_PORT: String(await freePort()),
      BERTH_METRICS_PORT: String(await freePort()),
      BERTH_SSH_PORT: String(await freePort()),
    },
  });
  after(() => killGroup(router));
  return router;
}

/** The router's whole process group, as a machine's loss ends it (its router processes outlive the primary otherwise). */
function killGroup(router: TestRouter): void {
  try {
    process.kill(-(router.child.pid as number), 'SIGKILL');
  } catch {}
}

async function deploy(text: string): Promise<void> {
  const scheduler = await schedulerFor(store, app, { docker, swarm: config.swarm });
  const release = await deployImage(
    quietDeployDeps(store, scheduler, { signal: AbortSignal.timeout(120_000) }),
    {
      app,
      image: testStackImage(),
      processes: { web: serveText(text) },
      by: 'ada',
      description: text,
    },
  );
  assert.equal(release.status, 'succeeded');
}

const body = async (router: TestRouter) => {
  const a = await request(router.port, host);
  return `${a.status} ${a.body.trim()}`;
};

const failed = (r: PhaseResult[]) => r.reduce((n, p) => n + p.errors + p.non2xx, 0);

test('two routers on one Redis serve the same routes; a deploy switches both; one killed, the other serves on', async (t) => {
  await deploy('one');
  const [a, b] = [await edgeRouter(), await edgeRouter()];
  for (const r of [a, b])
    await until('release one served', async () => (await body(r)) === '200 one');

  // A deploy under keep-alive load on both: each switches, neither fails a request.
  const loads = [a, b].map((r) =>
    startLoad({
      port: r.port,
      host,
      connections: 4,
      maxMs: 90_000,
      timeoutMs: 10_000,
      phase: 'deploy',
    }),
  );
  await deploy('two');
  const t0 = performance.now();
  const switched = await Promise.all(
    [a, b].map(async (r) => {
      await until('release two served', async () => (await body(r)) === '200 two', 30_000);
      return Math.round(performance.now() - t0);
    }),
  );
  const during = await Promise.all(loads.map((l) => l.stop()));
  t.diagnostic(
    `release two served by both routers ${switched.join(' and ')} ms after the deploy returned`,
  );
  for (const phases of during) assert.equal(failed(phases), 0, JSON.stringify(phases));

  // Router a's machine lost: b, under load, notices nothing.
  const load = startLoad({
    port: b.port,
    host,
    connections: 4,
    maxMs: 60_000,
    timeoutMs: 10_000,
    phase: 'a killed',
  });
  await sleep(500);
  killGroup(a);
  await sleep(1000);
  await assert.rejects(request(a.port, host), 'router a is gone');
  load.phase('deploy with a gone');
  await deploy('three');
  await until('release three on b', async () => (await body(b)) === '200 three', 30_000);
  await sleep(500);
  const phases = await load.stop();
  t.diagnostic(JSON.stringify(phases.map(({ examples, ...p }) => p)));
  assert.equal(failed(phases), 0, JSON.stringify(phases));
  assert.ok(
    phases.every((p) => p.requests > 20),
    `b served throughout: ${phases.map((p) => p.requests)}`,
  );

  // A router that starts (the machine back) loads the whole table from Redis.
  const c = await edgeRouter();
  assert.equal(await body(c), '200 three');
});

test('Redis lost: both routers serve their last routes; once it is back they take the changes made then', async (t) => {
  const redisServer = await privateRedis();
  const redisUrl = `redis://127.0.0.1:${redisServer.port}`;
  const edgePrefix = testPrefix();
  const redis = new Redis(redisUrl, { lazyConnect: true });
  redis.on('error', () => {});
  await redis.connect();
  after(() => redis.disconnect());
  const edgeStore = new Store(redis, edgePrefix);
  await edgeStore.users.create('alice', 'admin');
  await edgeStore.apps.create({ name: 'steady', owner: 'alice' });
  const first = await startBackend('first');
  const second = await startBackend('second');
  await setRoutes(redis, edgePrefix, 'steady', 1, [first.address]);
  const routers = [
    await edgeRouter({ redisUrl, prefix: edgePrefix }),
    await edgeRouter({ redisUrl, prefix: edgePrefix }),
  ];
  const served = async (r: TestRouter) => {
    const a = await request(r.port, 'steady.berth.test');
    return a.status === 200 ? (JSON.parse(a.body) as { name: string }).name : String(a.status);
  };
  for (const r of routers) await until('first served', async () => (await served(r)) === 'first');

  const loads = routers.map((r) =>
    startLoad({
      port: r.port,
      host: 'steady.berth.test',
      connections: 4,
      maxMs: 60_000,
      timeoutMs: 10_000,
      phase: 'redis killed',
    }),
  );
  await sleep(300);
  redisServer.kill9();
  await sleep(3000);
  for (const l of loads) l.phase('redis back');
  await redisServer.restart();
  await until('redis answers', async () => (await redis.ping().catch(() => '')) === 'PONG', 20_000);
  // A deploy's route change, made once Redis is back.
  await setRoutes(redis, edgePrefix, 'steady', 2, [second.address]);
  for (const r of routers) {
    await until('second served', async () => (await served(r)) === 'second', 30_000);
  }
  const results = await Promise.all(loads.map((l) => l.stop()));
  for (const phases of results) {
    t.diagnostic(JSON.stringify(phases.map(({ examples, ...p }) => p)));
    assert.equal(failed(phases), 0, JSON.stringify(phases));
    assert.ok(
      phases.every((p) => p.requests > 20),
      `served throughout: ${phases.map((p) => p.requests)}`,
    );
  }
});
