// A push's build goes live only while the push still waits for it
// (services/platform/build/push-waiter.ts), with the real builder: a push
// whose ssh service died (kill -9: nobody cancels, the lease just lapses)
// must not deploy a commit its branch never got. Without the check, the
// build below is deployed with no push waiting.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  holdWaiterLease,
  WAITER_TTL_MS,
  waiterRenewed,
} from '../../services/platform/build/push-waiter.ts';
import { enqueueBuild, followBuild } from '../../services/platform/build/queue.ts';
import type { DeployRun } from '../../services/platform/release/deploy.ts';
import { buildHarness } from '../harness/builds.ts';

const { dockerRun, startBuilder, newApp, commit } = await buildHarness('berth-push-waiter');
const deployed: string[] = [];
const builder = await startBuilder({
  // The release itself is not what is tested: it only records that it was asked for.
  deploy: async (run: DeployRun) => {
    deployed.push(run.id);
    return run.result;
  },
});

async function pushBuild(held: boolean) {
  const app = await newApp(builder.prefix);
  const rev = await commit(app, {
    Dockerfile: `FROM debian:bookworm-slim\nENV BERTH_TEST_RUN=${dockerRun.runId}\n`,
  });
  const id = await enqueueBuild(builder.queue, {
    app,
    rev,
    ref: 'refs/heads/main',
    pusher: 'ada',
    waited: true,
  });
  const release = held ? await holdWaiterLease(builder.redis, builder.prefix, id) : undefined;
  try {
    const result = await followBuild(
      builder.redis,
      builder.prefix,
      id,
      () => {},
      AbortSignal.timeout(90_000),
      {
        queue: builder.queue,
      },
    );
    return { id, result };
  } finally {
    await release?.();
  }
}

describe("a push's build", () => {
  test('goes live while the push waits, and not once the push is gone', async () => {
    const waiting = await pushBuild(true);
    assert.equal(waiting.result.status, 'succeeded', waiting.result.error);
    assert.ok(deployed.includes(waiting.id));

    const gone = await pushBuild(false);
    assert.equal(gone.result.status, 'failed');
    assert.match(gone.result.error ?? '', /^cancelled: the push that asked for it is gone/);
    assert.ok(!deployed.includes(gone.id), 'nothing was deployed');
  });

  test('a lease its push renews is told from one left by a push that died (a power cut)', async () => {
    const release = await holdWaiterLease(builder.redis, builder.prefix, 'renewed');
    try {
      assert.equal(await waiterRenewed(builder.redis, builder.prefix, 'renewed'), true);
    } finally {
      await release();
    }
    // What a push killed with its ssh service leaves: the key, still alive, not renewed.
    await builder.redis.set(`${builder.prefix}build:left:waiter`, '1', 'PX', WAITER_TTL_MS);
    assert.equal(await waiterRenewed(builder.redis, builder.prefix, 'left'), false);
    assert.equal(await waiterRenewed(builder.redis, builder.prefix, 'never'), false);
  });
});
