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
import {
  startDatastoreBackupWorker,
  syncAllBackupSchedules,
} from '../platform/datastores/backup-schedule.ts';
import { tryAppLock } from '../platform/locks/app-lock.ts';
import { startNotifier } from '../platform/notify/delivery.ts';
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
  { config, log, searchPath, replacing }: ServiceContext,
  tuning: BuilderTuning = {},
): Promise<RunningService> {
  const paths = dataPaths(config.dataDir);
  const timeoutMs = tuning.timeoutMs ?? config.buildTimeoutMs;
  // Steps that wait on different things (the Engine, the disk, Redis) run
  // side by side: the builder's start is most of Berth's start (issue 17).
  const [docker, connection] = await allOrClose(
    createDockerClient(config),
    connectRedis(config.redisUrl, { maxRetriesPerRequest: null }),
    (async () => {
      await mkdir(paths.buildLogs, { recursive: true, mode: 0o750 });
      // Scratch left by a builder that was killed; a running build's is younger.
      await removeStaleWorkDirs(config.dataDir, timeoutMs + 3600_000);
    })(),
  );
  connection.on('error', (e) => log.warn({ err: e }, 'redis'));
  try {
    // The deploy step makes releases: the instances and process types quotas hold there too.
    const store = new Store(connection, config.redisPrefix, { quotas: config.quotas });
    const logArchive = logArchiveOf(paths);
    const limits = config.defaultLimits;
    const { appNetworks, swarm } = config;
    const schedulerOf = appSchedulers(store, { docker, logArchive, limits, appNetworks, swarm });
    // What builds may use: their network, and the cgroup that limits their
    // processes; made while the apps are reconciled. Handled, so that a
    // failing reconcile leaves no rejection unheard.
    const limitsReady = Promise.all([
      ensureBuildNetwork(docker),
      prepareBuildCgroup(docker, config.buildLimits.pids),
    ]);
    limitsReady.catch(() => {});
    // Before any build: what runs is brought in line with the releases
    // (a rollout this process was doing when it stopped ended with it).
    // Beside the builder this process replaces (a reload), whose builds and
    // rollouts run on while it drains, only apps nobody holds are touched:
    // a rollout of that one's, under its app's lock, would be undone.
    const fixed = await reconcile({
      store,
      schedulerOf,
      log,
      ...(replacing
        ? { lock: (app: string) => tryAppLock(connection, config.redisPrefix, app) }
        : {}),
      readyTimeoutMs: 5000,
      drainMs: config.drainTimeoutMs,
    });
    if (fixed.failed.length + fixed.stopped + fixed.started + fixed.rerouted.length > 0) {
      log.info(fixed, 'apps reconciled with their releases');
    }
    const [network, cgroup] = await limitsReady;
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
      ...(config.swarm.registry && config.swarm.registryDir
        ? { ownRegistry: { address: config.swarm.registry, dir: config.swarm.registryDir } }
        : {}),
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
      watched: everyScheduler({ docker, logArchive, swarm }),
      log,
      lock: (app) => tryAppLock(connection, config.redisPrefix, app),
      drainMs: config.drainTimeoutMs,
    });
    // app.json cron tasks: what a builder stopped mid-run left is let go, the
    // schedules are made those of the releases, then due runs run (one
    // missed while the builder was away first, once: ../platform/release/cron.ts).
    // Beside the builder this one replaces (a reload), that one's runs are
    // not stale: they finish while it drains.
    if (!replacing) await releaseStaleRuns(store);
    await syncAllCron(store, log);
    const cron = await startCronWorker({ connection, store, schedulerOf, log });
    // Apps' webhooks: the outbox's events delivered (services/platform/notify/).
    const notifier = await startNotifier({
      connection,
      redisPrefix: config.redisPrefix,
      allowPrivateTargets: config.webhookPrivateTargets,
      log,
    });
    // Datastores' scheduled backups (postgres:backup-schedule), on the job queue like cron.
    await syncAllBackupSchedules(store, log);
    const datastoreBackups = await startDatastoreBackupWorker({
      connection,
      store,
      log,
      docker,
      appNetworks,
      dataDir: config.dataDir,
      keep: config.datastoreBackupKeep,
      s3: config.datastoreS3,
    });
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
            docker,
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
        await notifier.close();
        await datastoreBackups.close();
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

/**
 * Waits for every step; when one fails, closes the Redis connection another
 * made (the second), then rethrows the first failure.
 */
async function allOrClose<D, R extends { disconnect(): void }>(
  docker: Promise<D>,
  redis: Promise<R>,
  rest: Promise<void>,
): Promise<[D, R]> {
  const [d, r, x] = await Promise.allSettled([docker, redis, rest]);
  if (d.status === 'fulfilled' && r.status === 'fulfilled' && x.status === 'fulfilled') {
    return [d.value, r.value];
  }
  if (r.status === 'fulfilled') r.value.disconnect();
  throw [d, r, x].find((o) => o.status === 'rejected')?.reason;
}
