// Redis for tests: a real redis-server, never a mock. Most tests share the
// one that test/run.ts starts (BERTH_TEST_REDIS_URL) and keep apart by key
// prefix; tests that kill Redis start a private one.
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { Redis } from 'ioredis';
import { type RedisServer, startRedisServer } from '../../infra/bootstrap/redis-server.ts';
import { freePort } from './ports.ts';
import { tempDir } from './tmp.ts';
import { until } from './wait.ts';

/** A key prefix no other test or Berth instance uses; its keys are deleted after the file. */
export function testPrefix(): string {
  const prefix = `berth-test:${randomBytes(6).toString('hex')}:`;
  return prefix;
}

export interface PrivateRedis extends RedisServer {
  port: number;
  /** kill -9 the server, as a crash would. */
  kill9(): void;
  /** Start it again on the same port and directory (its AOF is replayed). */
  restart(): Promise<void>;
}

/**
 * A redis-server of this test's own, killed after the file's tests, or at
 * process exit with `untilExit` (for a server other files' after-hooks use).
 */
export async function privateRedis({ untilExit = false } = {}): Promise<PrivateRedis> {
  const dir = await tempDir('berth-redis');
  const port = await freePort();
  let server = await startRedisServer({ dir, port });
  const handle: PrivateRedis = {
    ...server,
    port,
    kill9() {
      process.kill(handle.pid, 'SIGKILL');
    },
    async restart() {
      // The port is free once the killed server is gone.
      await until('the killed redis-server is gone', () => !alive(handle.pid), 10_000);
      server = await startRedisServer({ dir, port });
      handle.pid = server.pid;
    },
  };
  const kill = () => {
    try {
      process.kill(handle.pid, 'SIGKILL');
    } catch {}
  };
  if (untilExit) process.once('exit', kill);
  else after(kill);
  return handle;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let shared: Promise<string> | undefined;

/** The URL of the Redis shared by this test run (one of our own when run alone). */
export function sharedRedisUrl(): Promise<string> {
  const fromRunner = process.env.BERTH_TEST_REDIS_URL;
  if (fromRunner) return Promise.resolve(fromRunner);
  // Killed at exit, not in an after hook: clients' clean-up hooks still need it.
  shared ??= privateRedis({ untilExit: true }).then((r) => r.url);
  return shared;
}

/** A client on the shared Redis that deletes the prefix's keys and disconnects after the file. */
export async function redisClient(prefix: string): Promise<Redis> {
  let redis: Redis | undefined;
  after(async () => {
    if (!redis) return;
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  redis = new Redis(await sharedRedisUrl(), { lazyConnect: false });
  return redis;
}

/**
 * Every key under `prefix` with its value (DUMP, so any type), as one string:
 * equal before and after means a refused command changed nothing in Redis.
 */
export async function prefixSnapshot(redis: Redis, prefix: string): Promise<string> {
  const keys = (await redis.keys(`${prefix}*`)).sort();
  const values = await Promise.all(keys.map((k) => redis.dumpBuffer(k)));
  return JSON.stringify(keys.map((k, i) => [k, values[i]?.toString('base64')]));
}
