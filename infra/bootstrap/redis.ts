// Redis for `npm start`: use the one at REDIS_URL when it answers; otherwise,
// when that URL is on this machine, start redis-server as a daemon with its
// files under the data directory. It keeps running after Berth stops, like
// the Docker Engine, so the next start is quick and no state moves.
import { realpath } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { BerthError } from '../../services/core/errors.ts';
import type { Progress } from './progress.ts';
import { AOF_FSYNC, pingRedis, startRedisServer } from './redis-server.ts';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export interface EnsureRedisOptions {
  redisUrl: string;
  dir: string;
  progress: Progress;
}

export async function ensureRedis(o: EnsureRedisOptions): Promise<{ startedByUs: boolean }> {
  const url = new URL(o.redisUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 6379);
  if (await pingRedis(host, port)) {
    await keepRunningWhenFull(o);
    return { startedByUs: false };
  }
  if (!LOOPBACK.has(url.hostname)) {
    throw new BerthError('BERTH_E_REDIS_UNAVAILABLE', {
      url: o.redisUrl,
      reason: 'no answer, and it is not on this machine, so Berth cannot start it',
    });
  }
  const step = o.progress.step(`Starting Redis on ${host}:${port} (data in ${o.dir})`);
  try {
    await startRedisServer({ dir: o.dir, port, host, daemonize: true });
  } catch (e) {
    step.fail((e as Error).message);
    throw new BerthError(
      'BERTH_E_REDIS_UNAVAILABLE',
      { url: o.redisUrl, reason: (e as Error).message },
      { cause: e },
    );
  }
  step.done();
  return { startedByUs: true };
}

/**
 * A Redis an earlier Berth started (its files in our directory) may still run
 * with "appendfsync always" (exits when its disk fills) or "everysec" (may
 * hold acknowledged writes back under a slow disk, lost to a kill -9):
 * ./redis-server.ts says why Berth runs it with "no". Switched in place, with
 * no restart. A Redis that is not ours is left as its admin set it. Best
 * effort: a Redis that forbids CONFIG is left alone.
 */
async function keepRunningWhenFull(o: EnsureRedisOptions): Promise<void> {
  const redis = new Redis(o.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const [, dir] = (await redis.config('GET', 'dir')) as string[];
    // Redis reports the directory it changed into: the real path.
    if (dir !== (await realpath(o.dir).catch(() => o.dir))) return;
    const [, fsync] = (await redis.config('GET', 'appendfsync')) as string[];
    if (fsync === AOF_FSYNC) return;
    await redis.config('SET', 'appendfsync', AOF_FSYNC);
    o.progress.info(
      `Redis: appendfsync ${fsync} → ${AOF_FSYNC}, so that it keeps running when its disk fills and writes each change before it answers (Berth fsyncs the file every second)`,
    );
  } catch {
    // Not ours to change, or no CONFIG: as it was.
  } finally {
    redis.disconnect();
  }
}
