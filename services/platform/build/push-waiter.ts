// A push holds its branch until its build ends: git updates the ref only when
// the pre-receive hook (services/ssh/push-build.ts) says yes, after the
// build and its release succeeded. If the push goes away while its build
// runs (the client hangs up: it cancels the build; the ssh service dies:
// nobody does), a build that went live anyway would serve a commit the
// branch never got, while the pusher was told the push failed.
//
// So the push keeps a lease, `P build:<id>:waiter`, renewed while it waits,
// and a build asked for by a waiting push (`GitBuildRequest.waited`) is
// deployed only while the lease is held. A lapse between the check and the
// end of the release is not covered: the check comes right before the
// release starts.
import type { Redis } from 'ioredis';

/** The lease lapses this long after its last renewal. */
export const WAITER_TTL_MS = 15_000;

const waiterKey = (redisPrefix: string, id: string) => `${redisPrefix}build:${id}:waiter`;

/**
 * Holds the lease of build `id` until the returned function is called,
 * renewing it every third of its time to live.
 */
export async function holdWaiterLease(
  redis: Redis,
  redisPrefix: string,
  id: string,
): Promise<() => Promise<void>> {
  const key = waiterKey(redisPrefix, id);
  await redis.set(key, '1', 'PX', WAITER_TTL_MS);
  const renew = setInterval(() => {
    void redis.set(key, '1', 'PX', WAITER_TTL_MS).catch(() => {});
  }, WAITER_TTL_MS / 3);
  renew.unref();
  return async () => {
    clearInterval(renew);
    await redis.del(key).catch(() => 0);
  };
}

/** Whether the push that asked for build `id` still waits for it. */
export async function waiterHeld(redis: Redis, redisPrefix: string, id: string): Promise<boolean> {
  return (await redis.exists(waiterKey(redisPrefix, id))) === 1;
}
