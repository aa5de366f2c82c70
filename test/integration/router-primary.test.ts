// The router's primary killed (kill -9) under load: its router processes
// serve on, and the next primary adopts them (issue 16, item 12: it used to
// take its workers down, a 2.2 s outage). Real processes the test started
// itself, real Redis, a backend on loopback, keep-alive load from the test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from '../../services/core/pids.ts';
import { Store } from '../../services/core/store/index.ts';
import { setRoutes } from '../../services/platform/routes/routes.ts';
import { type PhaseResult, startLoad } from '../harness/load.ts';
import { servicesOf } from '../harness/platform.ts';
import { freePort } from '../harness/ports.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { request, startBackend, startRouter } from '../harness/router.ts';
import { tempDir } from '../harness/tmp.ts';
import { until } from '../harness/wait.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);

/** The router processes (workers) of the router started for `dataDir`. */
const workersOf = (dataDir: string) => servicesOf(dataDir, 'router', 'worker');

const failed = (r: PhaseResult[]) => r.reduce((n, p) => n + p.errors + p.non2xx, 0);

test('kill -9 of the primary under load: no request fails, and the next primary adopts its router processes', async (t) => {
  await store.users.create('alice', 'admin');
  await store.apps.create({ name: 'steady', owner: 'alice' });
  const backend = await startBackend('steady');
  await setRoutes(redis, prefix, 'steady', 1, [backend.address]);
  const dataDir = await tempDir();
  const options = {
    redisUrl: await sharedRedisUrl(),
    prefix,
    // The same configuration for both primaries, as the supervisor gives:
    // the next primary adopts only router processes that run its own.
    env: {
      BERTH_ROUTER_PROCESSES: '2',
      BERTH_DATA_DIR: dataDir,
      BERTH_WEB_PORT: String(await freePort()),
      BERTH_METRICS_PORT: String(await freePort()),
      BERTH_SSH_PORT: String(await freePort()),
    },
  };
  const first = await startRouter(options);
  const ports = { http: first.port, https: first.httpsPort };
  await until('the route is served', async () => {
    return (await request(first.port, 'steady.berth.test')).status === 200;
  });
  const workers = await workersOf(dataDir);
  assert.equal(workers.length, 2, `router processes: ${workers}`);

  // Bounded: loopback, 8 connections, at most 20 s.
  const load = startLoad({
    port: first.port,
    host: 'steady.berth.test',
    connections: 8,
    maxMs: 20_000,
    timeoutMs: 5000,
    phase: 'before',
  });
  await sleep(1000);
  load.phase('primary killed');
  const killedAt = performance.now();
  first.child.kill('SIGKILL');
  await sleep(1500);
  assert.deepEqual(await workersOf(dataDir), workers, 'the router processes serve on');

  load.phase('new primary');
  const second = await startRouter({ ...options, ports });
  const adoptedMs = performance.now() - killedAt;
  await sleep(1000);
  const phases = await load.stop();
  t.diagnostic(JSON.stringify(phases.map(({ examples, ...p }) => p)));
  t.diagnostic(`new primary ready ${Math.round(adoptedMs)} ms after the kill`);
  assert.equal(failed(phases), 0, JSON.stringify(phases));
  assert.ok(
    phases.every((p) => p.requests > 50),
    'load ran in every phase',
  );
  assert.deepEqual(await workersOf(dataDir), workers, 'adopted, not replaced');

  // A deliberate stop of the new primary stops the router processes it adopted.
  await second.stop();
  await until('adopted router processes stopped', () => workers.every((p) => !isAlive(p)), 20_000);
});
