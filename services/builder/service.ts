// The builder service: a BullMQ worker on the build queue (./worker.ts) with
// its own Redis connection and the negotiated Docker client. It listens on
// nothing, so it reports no endpoints.
import { mkdir } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { createDockerClient } from '../core/docker.ts';
import { BerthError } from '../core/errors.ts';
import { dataPaths } from '../core/paths.ts';
import type { RunningService, ServiceContext } from '../core/service.ts';
import { removeStaleWorkDirs } from './source.ts';
import { BUILD_DEFAULTS, type BuildWorkerOptions, startBuildWorker } from './worker.ts';

/** The URL with any password hidden, for messages. */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** A connection as BullMQ workers need it (no per-command retry limit); BERTH_E_REDIS_UNAVAILABLE when Redis does not answer. */
async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null });
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

/** Worker options besides what the service context gives (tests shorten the timings). */
export type BuilderTuning = Partial<
  Pick<
    BuildWorkerOptions,
    'concurrency' | 'timeoutMs' | 'stopGraceMs' | 'lockDurationMs' | 'stalledIntervalMs' | 'labels'
  >
>;

export async function start(
  { config, log, searchPath }: ServiceContext,
  tuning: BuilderTuning = {},
): Promise<RunningService> {
  const paths = dataPaths(config.dataDir);
  await mkdir(paths.buildLogs, { recursive: true, mode: 0o750 });
  const docker = await createDockerClient(config);
  const timeoutMs = tuning.timeoutMs ?? BUILD_DEFAULTS.timeoutMs;
  // Scratch left by a builder that was killed; a running build's is younger.
  await removeStaleWorkDirs(config.dataDir, timeoutMs + 3600_000);
  const connection = await connectRedis(config.redisUrl);
  connection.on('error', (e) => log.warn({ err: e }, 'redis'));
  try {
    const builder = await startBuildWorker({
      ...tuning,
      connection,
      redisPrefix: config.redisPrefix,
      docker,
      paths,
      searchPath,
      log,
    });
    log.info({ concurrency: builder.worker.opts.concurrency }, 'builder waiting for builds');
    return {
      endpoints: [],
      async stop() {
        await builder.close();
        // QUIT waits for a reply; with Redis down it would wait for ever.
        if (connection.status === 'ready') await connection.quit().catch(() => {});
        connection.disconnect();
      },
    };
  } catch (e) {
    connection.disconnect();
    throw e;
  }
}
