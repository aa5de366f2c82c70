// Connecting to Berth's Redis: one place that turns "Redis does not answer"
// into BERTH_E_REDIS_UNAVAILABLE with the socket's own reason, and never
// shows a password from REDIS_URL.
import { Redis, type RedisOptions } from 'ioredis';
import { BerthError } from './errors.ts';

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
    await redis.ping();
  } catch (e) {
    redis.disconnect();
    const cause = socketError ?? e;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new BerthError('BERTH_E_REDIS_UNAVAILABLE', { url: shownUrl(url), reason }, { cause });
  } finally {
    redis.off('error', firstError);
  }
  return redis;
}
