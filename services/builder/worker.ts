// The builder's side of the build queue (the contract is at the top of
// ../platform/build/queue.ts): a BullMQ Worker on `builds` that runs each job with
// runBuild(), writes its output to the log stream and to the log file, and
// ends every build with exactly one `end` entry — when it succeeds, fails,
// throws, times out, is cancelled, or the worker is stopped.
//
// Stopping a build: a per-build timeout (default 30 min) and the cancel key
// (read every `cancelPollMs`, default 2 s) abort the build's signal; the
// Docker request is aborted, so the Engine stops the build and its container.
// If a step does not return within `abortGraceMs` of that, the build is ended
// anyway and the step is left to finish on its own.
//
// A worker that dies mid-build (kill -9, a crash, the machine) holds its
// job's BullMQ lock until it expires (`lockDurationMs`, 20 s); the stalled-job
// check of any builder (every `stalledIntervalMs`, 10 s; the supervisor
// restarts a dead builder within seconds) then puts the job back in the queue
// ONCE (maxStalledCount 1) and it is built again from the start, the log
// saying so; a push still waiting has its quarantine, so the retry can build
// it, while for an ended push the retry fails at once ("the pushed objects are
// gone", or, when its quarantine outlived it, its lease no longer renewed:
// waiterRenewed). A second stall fails the job, and the 'failed' handler below
// writes its `end` entry. So a build whose worker died ends, retried or failed,
// within about lockDuration + 2 × stalledInterval (≈ 40 s) of the death, never
// `running` forever; followBuild() would also end the follow of a job that
// failed without an entry (test/e2e/build-resilience.test.ts kills a builder
// mid-build). When no builder is left (a power cut, a kill of all Berth), the
// next one to start frees such builds at once (./orphaned-builds.ts;
// test/e2e/power-loss.test.ts).
//
// One build per app at a time is not this worker's job: whoever enqueues a
// build holds the app's build lock (../platform/locks/app-lock.ts) until it has ended, so
// the queue never holds two runnable builds of one app.
import os from 'node:os';
import { Worker } from 'bullmq';
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import { type BuildNetwork, DEFAULTS } from '../core/config.ts';
import { BerthError, errorLine, isBerthError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { DataPaths } from '../core/paths.ts';
import { Store } from '../core/store/index.ts';
import type { BuildResources } from '../platform/build/build-limits.ts';
import { BuildLog, buildLogFile, ERROR } from '../platform/build/build-log.ts';
import { waiterHeld, waiterRenewed } from '../platform/build/push-waiter.ts';
import {
  BUILD_QUEUE,
  type BuildRequest,
  type BuildResult,
  cancelRequested,
  finishBuild,
  queuePrefix,
} from '../platform/build/queue.ts';
import { IMAGE_RETENTION_DEFAULT, pruneApp } from '../platform/build/retention.ts';
import { runBuild } from '../platform/build/run-build.ts';
import type { DeployRun } from '../platform/release/deploy.ts';
import { freeOrphanedBuilds } from './orphaned-builds.ts';

/** A deploy step's failure: the build itself succeeded (BuildResult.failedAt). */
class ReleaseFailed extends Error {
  constructor(override readonly cause: unknown) {
    super('the release failed');
  }
}

/** The same retention in Berth's registry (loaded only where there is one); a failure is logged. */
async function pruneRegistry(
  registry: { address: string; dir: string },
  app: string,
  kept: string[],
  log?: Logger,
): Promise<void> {
  const { pruneOwnRegistry } = await import('../platform/registry/retention.ts');
  await pruneOwnRegistry(registry, app, kept).then(
    (deleted) => {
      if (deleted.length > 0)
        log?.info({ app, deleted }, "removed older images from Berth's registry");
    },
    (e: unknown) =>
      log?.warn({ err: e, app }, "could not remove older images from Berth's registry"),
  );
}

export const BUILD_DEFAULTS = {
  /** A build running longer is stopped and fails; the service passes BERTH_BUILD_TIMEOUT. */
  timeoutMs: 30 * 60_000,
  /** How often a running build looks for its cancel key. */
  cancelPollMs: 2000,
  /** BullMQ's job lock; a dead worker's job is free again this long after its death. */
  lockDurationMs: 20_000,
  /** How often BullMQ looks for jobs whose worker died. */
  stalledIntervalMs: 10_000,
  /**
   * How long a stopping builder lets running builds finish before cancelling
   * them. close() takes at most this + abortGraceMs + 7 s (27 s), within the
   * supervisor's 35 s before SIGKILL.
   */
  stopGraceMs: 10_000,
  /** How long a stopped build's step may take to return before the build is ended anyway. */
  abortGraceMs: 10_000,
} as const;

/**
 * Builds at once on this machine, all apps together: half the CPU threads,
 * at least one (1 on the 2-core machines Berth is tested on). A Docker build
 * of a real app uses a core or more, and the apps being served need the rest.
 */
export function defaultConcurrency(cpus: number = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cpus / 2));
}

export interface BuildWorkerOptions {
  /**
   * The worker's connection; BullMQ needs `maxRetriesPerRequest: null` on it.
   * The caller owns it and closes it after close().
   */
  connection: Redis;
  redisPrefix: string;
  docker: Docker;
  paths: Pick<DataPaths, 'root' | 'repos' | 'buildLogs' | 'runtimes'>;
  /** The image buildpack builds start from; default Config's default (berth/stack:bookworm). */
  stackImage?: string;
  /** Where Node.js runtimes come from; default the public npm registry. */
  runtimeRegistry?: string;
  /** Default: the buildpacks/ folder of this checkout. */
  buildpacksDir?: string;
  /** Images kept per app (BERTH_IMAGE_RETENTION); default 5. */
  imageRetention?: number;
  /** BERTH_SWARM_REGISTRY and its directory: the same retention in Berth's own registry. */
  ownRegistry?: { address: string; dir: string };
  /** BERTH_ALLOWED_BASE_IMAGES; default its default. */
  allowedBaseImages?: readonly string[];
  /** BERTH_BUILDPACK_URLS; default its default. */
  buildpackUrls?: readonly string[];
  /** What each build may use (services/platform/build/build-limits.ts); default the Engine's defaults. */
  resources?: BuildResources;
  /** The operator's CA bundle and proxies for builds (BERTH_BUILD_*); default none. */
  network?: BuildNetwork;
  /**
   * Makes a successful build's image live (the builder service passes the
   * deployer); its lines go to the same log, before the end entry, so the
   * push waits for the release too. Absent: builds only make images.
   */
  deploy?: (run: DeployRun) => Promise<BuildResult>;
  /** PATH to find git in. */
  searchPath: string;
  log?: Logger;
  /** Builds at once; default defaultConcurrency(). */
  concurrency?: number;
  timeoutMs?: number;
  cancelPollMs?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  stopGraceMs?: number;
  abortGraceMs?: number;
  /** More labels for every image built (tests: berth.test-run). */
  labels?: Readonly<Record<string, string>>;
}

export interface BuildWorker {
  worker: Worker<BuildRequest, BuildResult>;
  /**
   * Stops taking builds, lets running ones finish for `stopGraceMs`, then
   * cancels them (they end `cancelled: the builder was stopped`).
   */
  close(): Promise<void>;
}

/** "30 min", "1.5 min", "45 s", "2.5 s". */
export function formatDuration(ms: number): string {
  if (ms >= 60_000) {
    const min = ms / 60_000;
    return `${Number.isInteger(min) ? min : min.toFixed(1)} min`;
  }
  const s = ms / 1000;
  return `${Number.isInteger(s) || s >= 10 ? Math.round(s) : s.toFixed(1)} s`;
}

const cancelled = (reason: string) => new BerthError('BERTH_E_BUILD_CANCELLED', { reason });

const PUSH_GONE =
  'the push that asked for it is gone, so its branch was not updated; nothing was deployed (push again)';

/** Resolves true when `p` settles within `ms`, false otherwise. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startBuildWorker(o: BuildWorkerOptions): Promise<BuildWorker> {
  const redis = o.connection;
  const prefix = o.redisPrefix;
  const timeoutMs = o.timeoutMs ?? BUILD_DEFAULTS.timeoutMs;
  const cancelPollMs = o.cancelPollMs ?? BUILD_DEFAULTS.cancelPollMs;
  const abortGraceMs = o.abortGraceMs ?? BUILD_DEFAULTS.abortGraceMs;
  const stopGraceMs = o.stopGraceMs ?? BUILD_DEFAULTS.stopGraceMs;
  // App build settings and config vars (BullMQ blocks on a connection of its own).
  const store = new Store(redis, prefix);
  /** The stop function of every running build, by build id. */
  const running = new Map<string, (reason: BerthError) => void>();

  /** The end entry, retried through a short Redis outage; rejects when Redis stays away. */
  async function end(id: string, result: BuildResult, request: BuildRequest): Promise<void> {
    // A restore's builds are the restore's business, not the app's webhooks'.
    const notify = request.restore ? undefined : { app: request.app };
    for (let attempt = 1; ; attempt++) {
      try {
        await finishBuild(redis, prefix, id, result, notify);
        return;
      } catch (e) {
        if (attempt >= 5) throw e;
        await new Promise((r) => setTimeout(r, 1000 * attempt));
      }
    }
  }

  /** Adds a build's time to its owner's build minutes of today (services/core/store/quotas.ts). */
  async function chargeBuild(request: BuildRequest, ms: number): Promise<void> {
    const owner = request.owner ?? (await store.apps.get(request.app))?.owner;
    if (owner !== undefined) await store.quotas.addBuildTime(owner, ms);
  }

  async function build(id: string, request: BuildRequest, attempt: number, external?: AbortSignal) {
    const started = Date.now();
    let log: BuildLog;
    try {
      log = await BuildLog.open({
        redis,
        redisPrefix: prefix,
        buildId: id,
        file: buildLogFile(o.paths.buildLogs, request.app, id),
        onWriteError: (e) => o.log?.warn({ err: e, build: id }, 'writing the build log failed'),
      });
    } catch (e) {
      const result: BuildResult = {
        status: 'failed',
        error: `cannot write the build log under ${o.paths.buildLogs}: ${errorLine(e)}`,
      };
      await end(id, result, request);
      return result;
    }
    const control = new AbortController();
    const stop = (reason: BerthError) => {
      if (!control.signal.aborted) control.abort(reason);
    };
    running.set(id, stop);
    const timer = setTimeout(
      () => stop(new BerthError('BERTH_E_BUILD_TIMEOUT', { duration: formatDuration(timeoutMs) })),
      timeoutMs,
    );
    const checkCancel = async () => {
      const reason = await cancelRequested(redis, prefix, id).catch(() => undefined);
      if (reason !== undefined) stop(cancelled(reason));
    };
    const poll = setInterval(() => void checkCancel(), cancelPollMs);
    const onExternal = () => stop(cancelled(errorLine(external?.reason ?? 'by the builder')));
    external?.addEventListener('abort', onExternal, { once: true });
    o.log?.info({ build: id, app: request.app, rev: request.rev, attempt }, 'build started');
    // Once per build: a build run again after its builder died began already.
    if (!request.restore) {
      const description = `Deploy ${request.rev === undefined ? request.image : request.rev.slice(0, 7)}`;
      const data = {
        at: new Date().toISOString(),
        stage: 'build' as const,
        build: id,
        description,
      };
      await store.notifications
        .emitOnce(request.app, `build.${id}`, 86_400, 'deploy.started', data)
        .catch((e: unknown) =>
          o.log?.warn({ err: e, build: id }, 'could not raise deploy.started'),
        );
    }

    let result: BuildResult;
    try {
      await checkCancel();
      if (attempt > 1) {
        // After a power cut or a kill of all Berth the push that waited is
        // gone too (its quarantine may still be on the disk): building would
        // hold the builder a build's length for a result nothing can deploy.
        if (request.waited && !(await waiterRenewed(redis, prefix, id))) {
          throw cancelled(PUSH_GONE);
        }
        log.heading(
          `The builder running this build stopped; building it again from the start (attempt ${attempt})`,
        );
      }
      control.signal.throwIfAborted();
      const work = runBuild(
        {
          docker: o.docker,
          store,
          paths: o.paths,
          searchPath: o.searchPath,
          stackImage: o.stackImage ?? DEFAULTS.BERTH_STACK_IMAGE,
          ...(o.runtimeRegistry ? { runtimeRegistry: o.runtimeRegistry } : {}),
          ...(o.buildpacksDir ? { buildpacksDir: o.buildpacksDir } : {}),
          ...(o.allowedBaseImages ? { allowedBaseImages: o.allowedBaseImages } : {}),
          ...(o.buildpackUrls ? { buildpackUrls: o.buildpackUrls } : {}),
          ...(o.resources ? { resources: o.resources } : {}),
          ...(o.network ? { network: o.network } : {}),
          labels: o.labels ?? {},
        },
        { id, request, log, signal: control.signal },
      ).then(async (built) => {
        // A restore makes a release's image again: the restore rolls it out.
        // Only app.json's predeploy runs again (the deploy step knows how),
        // since its changes were part of the image.
        if (built.status !== 'succeeded' || !o.deploy) return built;
        if (request.restore && !built.scripts?.predeploy) return built;
        // A push that went away (its ssh service with it) never updates its branch.
        if (request.waited && !(await waiterHeld(store.redis, o.redisPrefix, id))) {
          throw cancelled(PUSH_GONE);
        }
        return o.deploy({ id, request, result: built, log, signal: control.signal }).catch((e) => {
          throw new ReleaseFailed(e);
        });
      });
      // A step that ignores the stop does not hold the build's end.
      const abandoned = new Promise<never>((_, reject) => {
        const onStop = () => setTimeout(() => reject(control.signal.reason), abortGraceMs).unref();
        control.signal.addEventListener('abort', onStop, { once: true });
      });
      abandoned.catch(() => {});
      result = await Promise.race([work, abandoned]);
    } catch (caught) {
      const released = caught instanceof ReleaseFailed;
      const e = released ? caught.cause : caught;
      const reason = control.signal.aborted && !isBerthError(e) ? control.signal.reason : e;
      result = {
        status: 'failed',
        error: errorLine(reason),
        ...(released ? { failedAt: 'release' } : {}),
      };
      if (!isBerthError(reason)) o.log?.error({ err: e, build: id }, 'build failed unexpectedly');
    } finally {
      clearTimeout(timer);
      clearInterval(poll);
      external?.removeEventListener('abort', onExternal);
      running.delete(id);
    }
    await log.close(
      result.status === 'succeeded' ? '-----> Build succeeded' : `${ERROR}${result.error}`,
    );
    // The time this build held a builder goes to its owner's build minutes,
    // before the end is written, so the owner's next build is judged with it.
    if (!request.restore)
      await chargeBuild(request, Date.now() - started).catch((e: unknown) =>
        o.log?.warn({ err: e, build: id }, 'could not count the build minutes'),
      );
    await end(id, result, request);
    // Retention once the push has its answer: removing an old image's layers
    // takes seconds (tens under load when it holds a whole environment), and
    // nothing the push reports depends on it. A build whose release failed
    // made its image all the same.
    if (result.status === 'succeeded' || result.failedAt === 'release') {
      const keep = o.imageRetention ?? IMAGE_RETENTION_DEFAULT;
      await pruneApp(o.docker, store, request.app, keep).then(
        async (pruned) => {
          if (pruned.removed.length > 0)
            o.log?.info(
              { app: request.app, removed: pruned.removed, keep },
              'removed older images',
            );
          if (o.ownRegistry) await pruneRegistry(o.ownRegistry, request.app, pruned.kept, o.log);
        },
        (e: unknown) =>
          o.log?.warn(
            { err: e, app: request.app },
            'could not remove older images (builds:prune tries again)',
          ),
      );
    }
    o.log?.info(
      {
        build: id,
        app: request.app,
        status: result.status,
        error: result.error,
        ms: Date.now() - started,
      },
      'build ended',
    );
    return result;
  }

  await freeOrphanedBuilds(redis, prefix, o.log);
  const worker = new Worker<BuildRequest, BuildResult>(
    BUILD_QUEUE,
    async (job, _token, signal) => {
      const id = job.id;
      if (id === undefined) throw new Error('a build job without an id');
      return build(id, job.data, (job.stalledCounter ?? 0) + 1, signal);
    },
    {
      connection: redis,
      prefix: queuePrefix(prefix),
      concurrency: o.concurrency ?? defaultConcurrency(),
      lockDuration: o.lockDurationMs ?? BUILD_DEFAULTS.lockDurationMs,
      stalledInterval: o.stalledIntervalMs ?? BUILD_DEFAULTS.stalledIntervalMs,
      maxStalledCount: 1,
      name: `builder@${os.hostname()}:${process.pid}`,
    },
  );
  // Jobs BullMQ fails without running them (stalled twice: their workers died)
  // still get their one `end` entry; for every other job it is written already
  // and finishBuild keeps the first.
  worker.on('failed', (job, err) => {
    if (job?.id === undefined) return;
    const error = new BerthError('BERTH_E_BUILD_STALLED', { reason: err.message }).toLine();
    const notify = job.data?.restore ? undefined : { app: job.data.app };
    void finishBuild(redis, prefix, job.id, { status: 'failed', error }, notify).catch(
      (e: unknown) => o.log?.warn({ err: e, build: job.id }, 'could not end a failed build'),
    );
  });
  worker.on('error', (e) => o.log?.warn({ err: e }, 'build queue'));
  await worker.waitUntilReady();

  return {
    worker,
    async close() {
      if (running.size === 0 && redis.status !== 'ready') {
        // Idle with Redis away: nothing to finish, and BullMQ would wait for Redis.
        await settlesWithin(worker.close(true), 500);
        return;
      }
      const closing = worker.close();
      closing.catch(() => {});
      // Idle, it closes at once.
      if (await settlesWithin(closing, running.size > 0 ? stopGraceMs : 2000)) return;
      if (running.size > 0) {
        o.log?.warn({ builds: [...running.keys()] }, 'cancelling the builds still running');
        for (const stop of running.values()) stop(cancelled('the builder was stopped'));
        if (await settlesWithin(closing, abortGraceMs + 5000)) return;
      }
      o.log?.warn('the build queue did not close in time; closing it without waiting for Redis');
      await settlesWithin(worker.close(true), 2000);
    },
  };
}
