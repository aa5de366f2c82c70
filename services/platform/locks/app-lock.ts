// One build per app at a time, newest waiting push wins.
//
// Everything that builds an app (a git push today; git:from-image and
// rebuilds later) holds the app's lock from before it reads the app's state
// until its build has ended and its result is recorded (for a push: until
// git has updated the ref). So an app's builds never overlap and each one
// starts from what the previous one left.
//
// At most one more asker waits for the lock. It registers itself in the
// lock's `next` key; a newer asker overwrites that entry, and the older one,
// seeing on its next poll that it is no longer next, gives up with
// BERTH_E_BUILD_SUPERSEDED (whoever pushed twice wants the second push, not
// both one after the other). The holder's own build, while it is still
// waiting in the queue for a free builder, is replaced too (see
// supersedeQueuedBuild in ../build/queue.ts); a running build never is.
//
// Keys (P = the Redis prefix; docs/redis-keys.md):
//   P build-lock:<app>        the holder's random token, SET NX PX, renewed
//                             every third of the TTL; a Berth that dies while
//                             holding it loses it after the TTL.
//   P build-lock:<app>:next   "<token> <who>" of the asker waiting next,
//                             refreshed at every poll, so a dead waiter's
//                             entry expires.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { BerthError } from '../../core/errors.ts';
import * as validate from '../../core/validate.ts';

export const appLockKey = (redisPrefix: string, app: string): string =>
  `${redisPrefix}build-lock:${validate.appName(app)}`;
export const appLockNextKey = (redisPrefix: string, app: string): string =>
  `${appLockKey(redisPrefix, app)}:next`;

// KEYS[1] lock, KEYS[2] next; ARGV: token, lock TTL, next TTL, my next entry,
// '1' when I registered as next before. Returns {'locked'}, {'waiting'} or
// {'superseded', <entry that replaced me>}.
const TRY_LOCK = `
local nxt = redis.call('GET', KEYS[2])
if ARGV[5] == '1' and nxt ~= ARGV[4] then return {'superseded', nxt or ''} end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if nxt == ARGV[4] then redis.call('DEL', KEYS[2])
  elseif nxt then redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3]) end
  return {'locked'}
end
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
return {'waiting'}
`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

export interface AppLock {
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** Who asks (a user name), named to the asker this one replaces. */
  who: string;
  /** What the asker is, for the message of the one it replaces ("push"). */
  what: string;
  /** The lock's TTL, renewed every third of it; default 30 s. */
  ttlMs?: number;
  /** How often a waiting asker polls; default 250 ms. */
  pollMs?: number;
  signal: AbortSignal;
  /** Called at every poll while the lock is held by someone else (the first call: `first`). */
  onWait?: (first: boolean) => void | Promise<void>;
  /** The lock expired under its holder (Redis unreachable for a whole TTL). */
  onLost: () => void;
}

/**
 * Waits for the app's lock; rejects with BERTH_E_BUILD_SUPERSEDED when a
 * newer asker takes this one's place while it waits.
 */
export async function acquireAppLock(
  redis: Redis,
  redisPrefix: string,
  app: string,
  o: AcquireOptions,
): Promise<AppLock> {
  const key = appLockKey(redisPrefix, app);
  const nextKey = appLockNextKey(redisPrefix, app);
  const ttlMs = o.ttlMs ?? 30_000;
  const pollMs = o.pollMs ?? 250;
  const nextTtlMs = Math.max(5000, pollMs * 20);
  const token = randomBytes(16).toString('hex');
  const entry = `${token} ${validate.userName(o.who)}`;
  let registered = false;
  for (;;) {
    o.signal.throwIfAborted();
    const [state, by] = (await redis.eval(
      TRY_LOCK,
      2,
      key,
      nextKey,
      token,
      ttlMs,
      nextTtlMs,
      entry,
      registered ? '1' : '0',
    )) as [string, string?];
    if (state === 'locked') break;
    if (state === 'superseded') {
      const who = by?.split(' ')[1];
      throw new BerthError('BERTH_E_BUILD_SUPERSEDED', {
        app,
        what: o.what,
        by: who ? ` by ${who}` : '',
      });
    }
    await o.onWait?.(!registered);
    registered = true;
    await sleep(pollMs, undefined, { signal: o.signal });
  }
  const renew = setInterval(
    () => {
      redis.eval(RENEW, 1, key, token, ttlMs).then(
        (ok) => {
          if (ok !== 0) return;
          clearInterval(renew);
          o.onLost();
        },
        () => {}, // Redis unreachable: the next round tells; after the TTL the lock is lost.
      );
    },
    Math.max(50, Math.floor(ttlMs / 3)),
  );
  return {
    async release() {
      clearInterval(renew);
      await redis.eval(RELEASE, 1, key, token).catch(() => {}); // expires on its own otherwise
    },
  };
}

/**
 * The app's lock if nobody holds it or waits for it, else undefined at once:
 * for work that can skip an app this time (the periodic reconcile).
 */
export async function tryAppLock(
  redis: Redis,
  redisPrefix: string,
  app: string,
  ttlMs = 30_000,
): Promise<AppLock | undefined> {
  const key = appLockKey(redisPrefix, app);
  if ((await redis.exists(appLockNextKey(redisPrefix, app))) === 1) return undefined;
  const token = randomBytes(16).toString('hex');
  if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return undefined;
  const renew = setInterval(
    () => void redis.eval(RENEW, 1, key, token, ttlMs).catch(() => {}),
    Math.max(50, Math.floor(ttlMs / 3)),
  );
  return {
    async release() {
      clearInterval(renew);
      await redis.eval(RELEASE, 1, key, token).catch(() => {});
    },
  };
}
