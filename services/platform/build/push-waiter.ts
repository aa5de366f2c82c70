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
import { setTimeout as sleep } from 'node:timers/promises';
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

/**
 * Whether the push that asked for build `id` still renews its lease: its
 * time to live goes up within one renewal period (and a second). A lease
 * whose push died with its ssh service (a power cut, a kill of Berth) stays
 * for up to WAITER_TTL_MS, no longer renewed: a retried build asks this
 * before it builds anything its push can no longer take.
 */
export async function waiterRenewed(
  redis: Redis,
  redisPrefix: string,
  id: string,
  withinMs: number = WAITER_TTL_MS / 3 + 1000,
): Promise<boolean> {
  const key = waiterKey(redisPrefix, id);
  const first = await redis.pttl(key);
  if (first < 0) return false;
  const t0 = Date.now();
  while (Date.now() - t0 < withinMs) {
    await sleep(200);
    const now = await redis.pttl(key);
    if (now < 0) return false;
    // Left alone it would be down to first - elapsed; a renewal puts it back
    // up by the seconds since the previous one.
    if (now > first - (Date.now() - t0) + 1000) return true;
  }
  return false;
}
