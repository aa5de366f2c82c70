// Connecting to Berth's Redis: one place that turns "Redis does not answer"
// into BERTH_E_REDIS_UNAVAILABLE with the socket's own reason, and never
// shows a password from REDIS_URL.
import { Redis, type RedisOptions } from 'ioredis';
import { explainDiskFull, isRedisDiskFull } from './disk-full.ts';
import { BerthError } from './errors.ts';

/** Where each connected Redis keeps its files, as it said at connect (CONFIG GET dir). */
const dataDirs = new WeakMap<Redis, string>();

/** The directory a client's Redis keeps its files in, when it told us (CONFIG may be forbidden). */
export function redisDataDir(redis: Redis): string | undefined {
  return dataDirs.get(redis);
}

/**
 * `e` as BERTH_E_DISK_FULL, naming Redis's directory, when the Redis behind
 * `redis` refused it for a full disk; `e` itself otherwise.
 */
export function explainRedisFailure(e: unknown, redis: Redis | undefined): unknown {
  return explainDiskFull(e, redis ? redisDataDir(redis) : undefined);
}

/** The URL with any password hidden, for messages. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * A connected client that has answered PING. BullMQ workers pass
 * `{ maxRetriesPerRequest: null }`, as BullMQ requires.
 */
export async function connectRedis(url: string, options: RedisOptions = {}): Promise<Redis> {
  const redis = new Redis(url, { ...options, lazyConnect: true });
  // The socket's own error says more than ioredis' "Connection is closed".
  let socketError: Error | undefined;
  const firstError = (e: Error) => {
    socketError ??= e;
  };
  redis.on('error', firstError);
  try {
    await redis.connect();
    // A Redis on a full disk refuses PING too (MISCONF), yet it answers and
    // serves reads, and takes writes again once there is room.
    await redis.ping().catch((e: unknown) => {
      if (!isRedisDiskFull(e)) throw e;
    });
  } catch (e) {
    redis.disconnect();
    const cause = socketError ?? e;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new BerthError('BERTH_E_REDIS_UNAVAILABLE', { url: shownUrl(url), reason }, { cause });
  } finally {
    redis.off('error', firstError);
  }
  await rememberDataDir(redis);
  return redis;
}

async function rememberDataDir(redis: Redis): Promise<void> {
  try {
    const reply = (await redis.config('GET', 'dir')) as unknown;
    const list = Array.isArray(reply) ? reply.map(String) : [];
    const at = list.indexOf('dir');
    const dir = at === -1 ? undefined : list[at + 1];
    if (dir) dataDirs.set(redis, dir);
  } catch {
    // Managed Redis services often rename or forbid CONFIG: the line then names no directory.
  }
}
