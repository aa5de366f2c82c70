// A change that is not a build — a rollback, a new formation (ps:scale), new
// config — makes a release like a push does and rolls it out the same way,
// under the app's build lock, so it never races a push or another change.
// Called by the commands (over SSH, the local berth) and later the web API.
import type Docker from 'dockerode';
import { acquireAppLock } from '../builder/app-lock.ts';
import { type Actor, actorName } from '../core/actor.ts';
import { BerthError } from '../core/errors.ts';
import type { ConfigVars, Formation, Release, Store } from '../core/store/index.ts';
import { goLive } from './deploy.ts';
import { DockerLocal } from './docker-local.ts';
import { type RolloutLog, rollout } from './rollout.ts';

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
  /** Where removed containers' last lines are kept (logArchiveOf). */
  logArchive?: string;
  log: RolloutLog;
  signal: AbortSignal;
  /** BERTH_DRAIN_TIMEOUT (drainMs); tests: shorter stops and checks. */
  tuning?: { stopTimeoutSec?: number; readyTimeoutMs?: number; network?: string; drainMs?: number };
}

/** The scheduler and rollout settings a command's change rolls out with. */
function rolloutFor(c: Omit<ReleaseChange, 'change' | 'description'>, signal: AbortSignal) {
  const scheduler = new DockerLocal(c.docker, {
    ...(c.tuning?.network ? { network: c.tuning.network } : {}),
    ...(c.logArchive ? { logArchive: c.logArchive } : {}),
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
export async function restart(
  c: Omit<ReleaseChange, 'change' | 'description'> & { type?: string },
): Promise<Release> {
  const lost = new AbortController();
  const signal = AbortSignal.any([c.signal, lost.signal]);
  const lock = await lockFor(c, signal, lost);
  try {
    const current = await c.store.releases.current(c.app);
    if (!current?.image) throw new BerthError('BERTH_E_NO_RELEASE', { app: c.app });
    if (c.type !== undefined && !((current.formation[c.type] ?? 0) > 0)) {
      throw new BerthError('BERTH_E_USAGE', { reason: `${c.app} runs no ${c.type} instances` });
    }
    c.log.heading(`Restarting ${c.type ?? 'every process'} of ${c.app} (v${current.version})`);
    const d = rolloutFor(c, signal);
    await rollout(
      {
        ...d,
        redis: c.store.redis,
        redisPrefix: c.store.keys.prefix,
        checks: await c.store.apps.deploySettings(c.app),
        ...(c.type === undefined ? {} : { onlyType: c.type }),
        // The release phase ran when this release was made.
        releasePhase: false,
      },
      current,
    );
    return current;
  } finally {
    await lock.release();
  }
}

export async function releaseChange(c: ReleaseChange): Promise<Release> {
  const { store } = c;
  const lost = new AbortController();
  const signal = AbortSignal.any([c.signal, lost.signal]);
  const lock = await lockFor(c, signal, lost);
  try {
    const current = await store.releases.current(c.app);
    const base = c.change.from ?? current;
    if (!base?.image) throw new BerthError('BERTH_E_NO_RELEASE', { app: c.app });
    const release = await store.releases.create(c.app, {
      image: base.image,
      processes: base.processes,
      healthchecks: base.healthchecks,
      formation: c.change.formation ?? current?.formation ?? base.formation,
      ...(c.change.config
        ? { config: c.change.config }
        : c.change.from
          ? { config: base.config }
          : {}),
      description: c.description,
      by: actorName(c.actor),
    });
    c.log.heading(`Releasing v${release.version} of ${c.app} (${c.description})`);
    return await goLive(rolloutFor(c, signal), release);
  } finally {
    await lock.release();
  }
}
