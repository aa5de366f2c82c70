// What a builder does before it takes builds: frees those that builders now
// gone left active (see freeOrphanedBuilds).
import type { Redis } from 'ioredis';
import type { Logger } from '../core/log.ts';
import { createBuildQueue } from '../platform/build/queue-open.ts';

/**
 * Builds left active by builders that are all gone (the machine lost power,
 * every builder was killed) held their dead worker's lock until it expired,
 * and BullMQ's stalled check took two passes more: after a power cut
 * builds:list said "running" for a minute for a build nothing ran (issue 17,
 * item 3). With no worker of the queue connected to Redis nothing can be
 * running them, so their locks go now, and the stalled check that a worker
 * makes as it starts puts them back in the queue as it would have later
 * (their one retry: a push still waiting gets its build, an ended one fails
 * at once saying its push is gone). Returns the builds freed.
 */
export async function freeOrphanedBuilds(
  redis: Redis,
  redisPrefix: string,
  log?: Logger,
): Promise<string[]> {
  const queue = createBuildQueue(redis, redisPrefix);
  try {
    // A live builder's connections are listed (a killed one's closed with it).
    if ((await queue.getWorkers()).length > 0) return [];
    const active = await redis.lrange(queue.toKey('active'), 0, -1);
    if (active.length === 0) return [];
    const tx = redis.multi();
    for (const id of active) tx.del(`${queue.toKey(id)}:lock`);
    tx.sadd(queue.toKey('stalled'), ...active);
    // The last check's mark, which would hold off the check at start.
    tx.del(queue.toKey('stalled-check'));
    await tx.exec();
    log?.warn(
      { builds: active },
      'builds left running by a builder that is gone: retried or ended now',
    );
    return active;
  } finally {
    await queue.close();
  }
}
