// The build queue's BullMQ client, in a module of its own: bullmq (with its
// scripts and dependencies) costs several MB and about half a second to
// load, and the ssh process needs it only when a push or a build command
// runs, so there it is imported on first use (issue 17). queue.ts holds
// everything else about the queue, with BullMQ's types only.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  type BUILD_JOB,
  BUILD_QUEUE,
  type BuildQueue,
  type BuildRequest,
  type BuildResult,
  queuePrefix,
} from './queue.ts';

/**
 * The `builds` queue on `connection` (an ioredis client the caller owns and
 * closes; queue.close() leaves it open).
 */
export function createBuildQueue(connection: Redis, redisPrefix: string): BuildQueue {
  return new Queue<BuildRequest, BuildResult, typeof BUILD_JOB>(BUILD_QUEUE, {
    connection,
    prefix: queuePrefix(redisPrefix),
  });
}
