// A change that is not a build — a rollback, a new formation (ps:scale), new
// config — makes a release like a push does and rolls it out the same way,
// under the app's build lock, so it never races a push or another change.
// Called by the commands (over SSH, the local berth) and the web API.
import type Docker from 'dockerode';
import { type Actor, actorName } from '../../core/actor.ts';
import type { DefaultLimits, SwarmSettings } from '../../core/config.ts';
import { BerthError } from '../../core/errors.ts';
import type { ConfigVars, Formation, Release, Store } from '../../core/store/index.ts';
import { acquireAppLock } from '../locks/app-lock.ts';
import { setRoutes } from '../routes/routes.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import { schedulerFor } from '../scheduler/schedulers.ts';
import { goLive } from './deploy.ts';
import { appliesTo, type RolloutLog, rollout } from './rollout.ts';

export interface ReleaseChange {
  store: Store;
  docker: Docker;
  actor: Actor;
  app: string;
  /** What the new release takes from elsewhere; the rest comes from the current release. */
  change: {
    /** A release to take image, processes and config from (a rollback). */
    from?: Release;
    formation?: Formation;
    /** The complete new config (it becomes the app's config too). */
    config?: ConfigVars;
  };
  description: string;
  /**
   * Called when the rollout is about to start (the lock is held, the checks
   * passed), with the release that rolls out: a new one, recorded as pending,
   * or for a restart the current one. The web API answers 202 then and lets
   * the rollout go on.
   */
  onRollout?: (release: Release) => void;
  /** Where removed containers' last lines are kept (logArchiveOf). */
  logArchive?: string;
  /** Limits of instances whose app set none (BERTH_DEFAULT_*). */
  limits?: DefaultLimits;
  /** BERTH_APP_NETWORKS: where app networks take their subnets. */
  appNetworks?: string;
  /** BERTH_SWARM_*: where an app on the swarm scheduler runs. */
  swarm?: SwarmSettings;
  log: RolloutLog;
  signal: AbortSignal;
  /** BERTH_DRAIN_TIMEOUT (drainMs); tests: shorter stops and checks. */
  tuning?: { stopTimeoutSec?: number; readyTimeoutMs?: number; network?: string; drainMs?: number };
}

/** What a change that makes no release of its own (restart, stop, start) needs. */
export type ChangeDeps = Omit<ReleaseChange, 'change' | 'description'>;

/** The scheduler and rollout settings a command's change rolls out with. */
async function rolloutFor(c: ChangeDeps, signal: AbortSignal) {
  const scheduler = await schedulerFor(c.store, c.app, {
    docker: c.docker,
    ...(c.tuning?.network ? { network: c.tuning.network } : {}),
    ...(c.logArchive ? { logArchive: c.logArchive } : {}),
    ...(c.limits ? { limits: c.limits } : {}),
    ...(c.appNetworks ? { appNetworks: c.appNetworks } : {}),
    ...(c.swarm ? { swarm: c.swarm } : {}),
  });
  return {
    store: c.store,
    scheduler,
    log: c.log,
    signal,
    ...(c.tuning?.stopTimeoutSec ? { stopTimeoutSec: c.tuning.stopTimeoutSec } : {}),
    ...(c.tuning?.readyTimeoutMs ? { readyTimeoutMs: c.tuning.readyTimeoutMs } : {}),
    ...(c.tuning?.drainMs === undefined ? {} : { drainMs: c.tuning.drainMs }),
  };
}

/** The app's build lock for a change, with what losing it aborts. */
async function lockFor(
  c: Pick<ReleaseChange, 'store' | 'actor' | 'app' | 'log'>,
  signal: AbortSignal,
  lost: AbortController,
) {
  return acquireAppLock(c.store.redis, c.store.keys.prefix, c.app, {
    who: actorName(c.actor),
    what: 'change',
    signal,
    onWait: (first) => {
      if (first) c.log.heading(`Waiting for the build or change of ${c.app} in progress`);
    },
    onLost: () =>
      lost.abort(new BerthError('BERTH_E_CONFLICT', { what: `the build lock of ${c.app}` })),
  });
}

/**
 * ps:restart: the current release's instances (of one type, or all) again,
 * rolled out as a deploy is (new ones ready, switch, old ones drained); no
 * new release, as on Heroku.
 */
export async function restart(c: ChangeDeps & { type?: string }): Promise<Release> {
  return withLock(c, async (signal) => {
    const current = await currentRelease(c);
    const settings = await c.store.apps.deploySettings(c.app);
    const types = c.type === undefined ? undefined : [requireType(c, current, c.type)];
    const stopped = (types ?? Object.keys(current.formation)).filter((t) =>
      appliesTo(settings.stopped, t),
    );
    if (c.type !== undefined && stopped.length > 0) {
      throw new BerthError('BERTH_E_USAGE', {
        reason: `${c.type} of ${c.app} is stopped; "ps:start ${c.app} ${c.type}" starts it`,
      });
    }
    c.log.heading(`Restarting ${c.type ?? 'every process'} of ${c.app} (v${current.version})`);
    c.onRollout?.(current);
    await rollout(
      {
        ...(await rolloutFor(c, signal)),
        redis: c.store.redis,
        redisPrefix: c.store.keys.prefix,
        settings,
        ...(types ? { types } : {}),
        // The release phase ran when this release was made.
        releasePhase: false,
      },
      current,
    );
    return current;
  });
}

/**
 * ps:stop: the app's instances (of one type, or all) stop and stay stopped —
 * through deploys, config changes and restarts of Berth — until ps:start.
 * Web traffic gets the router's 503 at once; in-flight requests finish
 * within the stop timeout (SIGTERM first).
 */
export async function stopProcesses(c: ChangeDeps & { type?: string }): Promise<string[]> {
  return withLock(c, async (signal) => {
    const current = await currentRelease(c);
    const types =
      c.type === undefined ? ['_all_'] : [requireType(c, current, c.type, { running: false })];
    const settings = await c.store.apps.deploySettings(c.app);
    await c.store.apps.setDeploySetting(c.app, 'stopped', union(settings.stopped, types));
    const d = await rolloutFor(c, signal);
    const going = (await d.scheduler.list(c.app)).filter(
      (i) => i.instance > 0 && (c.type === undefined || i.type === c.type),
    );
    if (going.some((i) => i.type === 'web')) {
      // Traffic first, so no request is sent to an instance being stopped.
      await setRoutes(c.store.redis, c.store.keys.prefix, c.app, current.version, []);
    }
    c.log.heading(
      `Stopping ${going.length} ${going.length === 1 ? 'instance' : 'instances'} of ${c.app}`,
    );
    for (const i of going) {
      await d.scheduler.stop(i);
      c.log.detail(`${i.type}.${i.instance} stopped`);
    }
    return going.map((i) => `${i.type}.${i.instance}`);
  });
}

/** ps:start: what ps:stop stopped (one type, or all) runs again, rolled out as a deploy. */
export async function startProcesses(c: ChangeDeps & { type?: string }): Promise<Release> {
  return withLock(c, async (signal) => {
    const current = await currentRelease(c);
    if (c.type !== undefined) requireType(c, current, c.type);
    const settings = await c.store.apps.deploySettings(c.app);
    const stoppedTypes = Object.keys(current.formation).filter(
      (t) => (current.formation[t] ?? 0) > 0 && appliesTo(settings.stopped, t),
    );
    const types = c.type === undefined ? stoppedTypes : stoppedTypes.filter((t) => t === c.type);
    // `_all_` with one type started: the others stay stopped by name.
    const left =
      c.type === undefined
        ? []
        : settings.stopped.includes('_all_')
          ? stoppedTypes.filter((t) => t !== c.type)
          : settings.stopped.filter((t) => t !== c.type);
    await c.store.apps.setDeploySetting(c.app, 'stopped', left);
    if (types.length === 0) {
      c.log.heading(`${c.type ?? 'Every process'} of ${c.app} already runs`);
      return current;
    }
    c.log.heading(`Starting ${types.join(', ')} of ${c.app} (v${current.version})`);
    await rollout(
      {
        ...(await rolloutFor(c, signal)),
        redis: c.store.redis,
        redisPrefix: c.store.keys.prefix,
        settings: { ...settings, stopped: left },
        types,
        releasePhase: false,
      },
      current,
    );
    return current;
  });
}

/**
 * After apps:rename: the app's instances again under its new name (their
 * labels, names, network and aliases carry it), rolled out as a restart; the
 * router keeps sending the new name's traffic to the old instances until the
 * new ones are ready (the route moved with the app), then they stop, and
 * the old name's network goes with them.
 */
export async function moveInstances(c: ChangeDeps & { from: string }): Promise<number> {
  const { scheduler } = await rolloutFor(c, c.signal);
  const old = (await scheduler.list(c.from)).filter((i) => i.instance > 0);
  if (old.length > 0 && (await c.store.releases.current(c.app))?.image) await restart(c);
  for (const i of old) await scheduler.stop(i);
  await scheduler.removeAppNetwork(c.from);
  return old.length;
}

/**
 * scheduler:set of an app that runs: the current release's instances
 * started on the `to` scheduler and checked, the route switched to them, the
 * other scheduler's instances drained and stopped, as a restart rolls out;
 * so the app serves throughout. A rollout that fails leaves the app on its
 * scheduler, its instances there running and routed. Returns the number of
 * instances that moved.
 */
export async function moveScheduler(c: ChangeDeps & { to: Scheduler }): Promise<number> {
  return withLock(c, async (signal) => {
    const current = await currentRelease(c);
    const { scheduler: from, ...rest } = await rolloutFor(c, signal);
    const running = (await from.list(c.app)).filter((i) => i.instance > 0);
    const settings = await c.store.apps.deploySettings(c.app);
    // The app's own choice, docker-local too: a scheduler:set --global one must not move it.
    const setting = (name: string) => c.store.apps.setDeploySetting(c.app, 'scheduler', name);
    c.log.heading(`Moving ${c.app} (v${current.version}) from ${from.name} to ${c.to.name}`);
    c.onRollout?.(current);
    // A rollout that fails stops what it started on `to`: the route and the
    // setting still name `from`, whose instances run on.
    await rollout(
      {
        ...rest,
        scheduler: c.to,
        redis: c.store.redis,
        redisPrefix: c.store.keys.prefix,
        settings,
        releasePhase: false,
        elsewhere: { scheduler: from, instances: running },
      },
      current,
    );
    await setting(c.to.name);
    return running.length;
  });
}

const union = (a: readonly string[], b: readonly string[]) => [...new Set([...a, ...b])].sort();

/** Runs `f` under the app's build lock (waiting for a build or change under way). */
async function withLock<T>(
  c: Pick<ReleaseChange, 'store' | 'actor' | 'app' | 'log' | 'signal'>,
  f: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const lost = new AbortController();
  const signal = AbortSignal.any([c.signal, lost.signal]);
  const lock = await lockFor(c, signal, lost);
  try {
    return await f(signal);
  } finally {
    await lock.release();
  }
}

async function currentRelease(c: Pick<ReleaseChange, 'store' | 'app'>): Promise<Release> {
  const current = await c.store.releases.current(c.app);
  if (!current?.image) throw new BerthError('BERTH_E_NO_RELEASE', { app: c.app });
  return current;
}

/** `type` when the current formation runs instances of it; else one line saying so. */
function requireType(
  c: Pick<ReleaseChange, 'app'>,
  current: Release,
  type: string,
  o: { running?: boolean } = {},
): string {
  if (!((current.formation[type] ?? 0) > 0)) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `${c.app} runs no ${type} instances${o.running === false ? '' : ` ("ps:scale ${c.app} ${type}=1" adds one)`}`,
    });
  }
  return type;
}

export async function releaseChange(c: ReleaseChange): Promise<Release> {
  const { store } = c;
  return withLock(c, async (signal) => {
    const current = await store.releases.current(c.app);
    const base = c.change.from ?? current;
    if (!base?.image) throw new BerthError('BERTH_E_NO_RELEASE', { app: c.app });
    const release = await store.releases.create(c.app, {
      image: base.image,
      processes: base.processes,
      healthchecks: base.healthchecks,
      cron: base.cron,
      formation: c.change.formation ?? current?.formation ?? base.formation,
      ...(c.change.config
        ? { config: c.change.config }
        : c.change.from
          ? { config: base.config }
          : {}),
      description: c.description,
      by: actorName(c.actor),
      // The image keeps what it was made from, so a restore can make it again.
      source: base.source,
      ...(c.change.from ? { rollbackTo: c.change.from.version } : {}),
    });
    c.log.heading(`Releasing v${release.version} of ${c.app} (${c.description})`);
    c.onRollout?.(release);
    return goLive(await rolloutFor(c, signal), release);
  });
}
