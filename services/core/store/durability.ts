// Redis is Berth's system of record, so an acknowledged write must survive
// kill -9 of Redis: that takes the append-only file. Redis only has to write()
// a change to the AOF before it replies (with everysec, not always: a slow
// fsync lets it hold changes back up to 2 s), so "no" and "always" survive a
// killed process; infra/bootstrap/redis-server.ts says which Berth uses and
// why. Snapshots alone (RDB) lose everything since the last one.
import type { Redis } from 'ioredis';

/**
 * A warning to log at start when the Redis does not keep acknowledged writes
 * across a crash, or undefined when it does.
 */
export async function checkDurability(redis: Redis): Promise<string | undefined> {
  let reply: unknown;
  try {
    reply = await redis.config('GET', 'appendonly');
  } catch (e) {
    // Managed Redis services often rename or forbid CONFIG.
    const reason = e instanceof Error ? e.message : String(e);
    return `cannot check that Redis keeps writes across a crash (CONFIG GET appendonly failed: ${reason}); make sure it runs with "appendonly yes"`;
  }
  const list = Array.isArray(reply) ? reply.map(String) : [];
  const value = list[list.indexOf('appendonly') + 1];
  if (value === 'no') {
    return 'Redis runs with "appendonly no": apps, releases and keys Berth acknowledged are lost if Redis is killed or the machine crashes; set "appendonly yes" in its configuration, or let Berth start its own Redis';
  }
  return undefined;
}
