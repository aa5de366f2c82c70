// Routers on several edge nodes (issue 21, docs/design.md "The control plane
// in a cluster"): each router is its own process reading the route table
// from the one Redis, so two of them, as two machines would run them (each
// its own ports and data directory), serve the same apps; a deploy
// switches both; one killed with its whole process group (its machine
// lost), the other serves on, and a deploy after that reaches it alone. Real
// router processes, real Redis, a real deploy on this machine's Engine.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { schedulerFor } from '../../services/platform/scheduler/schedulers.ts';
import { engineApp, quietDeployDeps, serveText } from '../harness/deploy.ts';
import { testStackImage } from '../harness/docker.ts';
import { type PhaseResult, startLoad } from '../harness/load.ts';
import { freePort } from '../harness/ports.ts';
import { sharedRedisUrl } from '../harness/redis.ts';
import { request, startRouter, type TestRouter } from '../harness/router.ts';
import { tempDir } from '../harness/tmp.ts';
import { until } from '../harness/wait.ts';

const { prefix, store, app, config, docker } = await engineApp('edge');
const host = `${app}.berth.test`;

/** A router as another edge node runs it: its own ports and data directory, the shared Redis. */
async function edgeRouter(): Promise<TestRouter> {
  const router = await startRouter({
    redisUrl: await sharedRedisUrl(),
    prefix,
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
      await until('release two served', async () => (await body(r)) === '200 two', 10_000);
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
  await until('release three on b', async () => (await body(b)) === '200 three', 10_000);
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
