// A build whose builder is gone, with no builder left to notice (a power cut,
// a kill of all Berth): the next builder to start takes it up at once, not
// once the dead builder's lock has lapsed and two stalled checks have passed
// (services/builder/orphaned-builds.ts). The dead builder is a BullMQ worker
// of this test's that takes the build and never ends it, then drops its
// Redis connections, as a killed process does.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import {
  BUILD_QUEUE,
  enqueueBuild,
  followBuild,
  queuePrefix,
} from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { buildHarness } from '../harness/builds.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';

const { dockerRun, startBuilder, newApp, commit } = await buildHarness('berth-orphans');

describe('a build its builder left running', () => {
  test('is built by the next builder as soon as it starts', async () => {
    const prefix = testPrefix();
    const app = await newApp(prefix);
    const rev = await commit(app, {
      Dockerfile: `FROM debian:bookworm-slim\nENV BERTH_TEST_RUN=${dockerRun.runId}\n`,
    });
    const redis = await redisClient(prefix);
    const queue = createBuildQueue(redis, prefix);
    const id = await enqueueBuild(queue, { app, rev, ref: 'refs/heads/main', pusher: 'ada' });
    await queue.close();

    const connection = new Redis(await sharedRedisUrl(), { maxRetriesPerRequest: null });
    let took: () => void = () => {};
    const taken = new Promise<void>((resolve) => {
      took = resolve;
    });
    const dead = new Worker(
      BUILD_QUEUE,
      async () => {
        took();
        await new Promise(() => {});
      },
      { connection, prefix: queuePrefix(prefix), lockDuration: 20_000 },
    );
    await taken;
    // Killed: no more lock renewals, its connections gone, the build still active.
    await dead.close(true);
    connection.disconnect();

    const t0 = performance.now();
    await startBuilder({ prefix, lockDurationMs: 20_000, stalledIntervalMs: 10_000 });
    // When the build starts again (its first line), not when it ends: the
    // build's own time, seconds on a busy machine, is not what is measured.
    let startedMs: number | undefined;
    const result = await followBuild(
      redis,
      prefix,
      id,
      () => {
        startedMs ??= Math.round(performance.now() - t0);
      },
      AbortSignal.timeout(90_000),
    );
    assert.equal(result.status, 'succeeded', result.error);
    // Not the 20 s of the dead builder's lock, and more.
    assert.ok(
      startedMs !== undefined && startedMs < 10_000,
      `started ${startedMs} ms after the next builder did`,
    );
  });
});
