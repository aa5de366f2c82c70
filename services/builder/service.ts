// The builder service: a BullMQ worker on the build queue (./worker.ts) with
// its own Redis connection and the negotiated Docker client. It listens on
// nothing, so it reports no endpoints.
import { mkdir } from 'node:fs/promises';
import { createDockerClient } from '../core/docker.ts';
import { dataPaths } from '../core/paths.ts';
import { connectRedis } from '../core/redis.ts';
import type { RunningService, ServiceContext } from '../core/service.ts';
import { Store } from '../core/store/index.ts';
import { startBackupSchedule } from '../platform/backup/schedule.ts';
import { ensureBuildNetwork, prepareBuildCgroup } from '../platform/build/build-limits.ts';
import { removeStaleWorkDirs } from '../platform/build/source.ts';
import { tryAppLock } from '../platform/locks/app-lock.ts';
import { releaseStaleRuns, startCronWorker, syncAllCron } from '../platform/release/cron.ts';
import { deployBuilds } from '../platform/release/deploy.ts';
import { reconcile } from '../platform/release/reconcile.ts';
import { startReconciler } from '../platform/release/reconcile-loop.ts';
import { logArchiveOf } from '../platform/scheduler/app-logs.ts';
import { appSchedulers, everyScheduler } from '../platform/scheduler/schedulers.ts';
import { type BuildWorkerOptions, startBuildWorker } from './worker.ts';

/** The longest the reconciler waits on a Docker request without a byte of answer. */
const RECONCILE_REQUEST_TIMEOUT_MS = 45_000;

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
  const timeoutMs = tuning.timeoutMs ?? config.buildTimeoutMs;
  // Scratch left by a builder that was killed; a running build's is younger.
  await removeStaleWorkDirs(config.dataDir, timeoutMs + 3600_000);
  const connection = await connectRedis(config.redisUrl, { maxRetriesPerRequest: null });
  connection.on('error', (e) => log.warn({ err: e }, 'redis'));
  try {
    // The deploy step makes releases: the instances and process types quotas hold there too.
    const store = new Store(connection, config.redisPrefix, { quotas: config.quotas });
    const logArchive = logArchiveOf(paths);
    const limits = config.defaultLimits;
    const { appNetworks, swarm } = config;
    const schedulerOf = appSchedulers(store, { docker, logArchive, limits, appNetworks, swarm });
    // Before any build: what runs is brought in line with the releases
    // (a rollout this process was doing when it stopped ended with it).
    const fixed = await reconcile({
      store,
      schedulerOf,
      log,
      readyTimeoutMs: 5000,
      drainMs: config.drainTimeoutMs,
    });
    if (fixed.failed.length + fixed.stopped + fixed.started + fixed.rerouted.length > 0) {
      log.info(fixed, 'apps reconciled with their releases');
    }
    // What builds may use: their network, and the cgroup that limits their processes.
    const network = await ensureBuildNetwork(docker);
    const cgroup = await prepareBuildCgroup(docker, config.buildLimits.pids);
    log.info({ note: cgroup.note }, 'build limits');
    const builder = await startBuildWorker({
      ...(config.buildConcurrency === undefined ? {} : { concurrency: config.buildConcurrency }),
      ...tuning,
      timeoutMs,
      connection,
      redisPrefix: config.redisPrefix,
      docker,
      paths,
      searchPath,
      stackImage: config.stackImage,
      imageRetention: config.imageRetention,
      allowedBaseImages: config.allowedBaseImages,
      buildpackUrls: config.buildpackUrls,
      network: config.buildNetwork,
      resources: {
        ...config.buildLimits,
        network,
        ...(cgroup.parent ? { cgroupParent: cgroup.parent } : {}),
      },
      // Each image goes live from here, so a push waits for its release too.
      deploy: deployBuilds(store, schedulerOf, {
        drainMs: config.drainTimeoutMs,
        onRetireError: (e) => log.warn({ err: e }, 'stopping a replaced instance failed'),
        cronSeconds: config.cronSeconds,
      }),
      log,
    });
    log.info({ concurrency: builder.worker.opts.concurrency }, 'builder waiting for builds');
    // Then while Berth runs, app by app under its lock: what the Engine lost,
    // restarted or moved comes back and is routed. Its Docker requests are
    // bounded (a stop waits at most an app's 30 s stop timeout): one left
    // unanswered by an Engine going down would otherwise hold the app's lock,
    // and with it every later pass, for good. The event stream stays unbounded.
    const bounded = {
      docker: await createDockerClient(config, { requestTimeoutMs: RECONCILE_REQUEST_TIMEOUT_MS }),
      logArchive,
      limits,
      appNetworks,
      swarm,
    };
    const reconciler = startReconciler({
      store,
      schedulerOf: appSchedulers(store, bounded),
      watched: everyScheduler({ docker, logArchive }),
      log,
      lock: (app) => tryAppLock(connection, config.redisPrefix, app),
      drainMs: config.drainTimeoutMs,
    });
    // app.json cron tasks: what a builder stopped mid-run left is let go, the
    // schedules are made those of the releases, then due runs run (one
    // missed while the builder was away first, once: ../platform/release/cron.ts).
    await releaseStaleRuns(store);
    await syncAllCron(store, log);
    const cron = startCronWorker({ connection, store, schedulerOf, log });
    // Scheduled backups (BERTH_BACKUP_DIR), a long-running loop like the reconciler's.
    const backups =
      config.backup.dir === undefined
        ? undefined
        : startBackupSchedule({
            redis: connection,
            config,
            paths,
            searchPath,
            log,
            dir: config.backup.dir,
            intervalMs: config.backup.intervalMs,
            keep: config.backup.keep,
          });
    return {
      endpoints: [],
      async stop() {
        backups?.stop();
        reconciler.stop();
        await cron.close();
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
