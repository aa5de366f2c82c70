// A change that is not a build — a rollback, a new formation (ps:scale), new
// config — makes a release like a push does and rolls it out the same way,
// under the app's build lock, so it never races a push or another change.
// Called by the commands (over SSH, the local berth) and later the web API.
import type Docker from 'dockerode';
import { acquireAppLock } from '../builder/app-lock.ts';
import { type Actor, actorName } from '../core/actor.ts';
import { BerthError } from '../core/errors.ts';
import type { ConfigVars, Formation, Release, Store } from '../core/store/index.ts';
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

export async function releaseChange(c: ReleaseChange): Promise<Release> {
  const { store } = c;
  const lost = new AbortController();
  const signal = AbortSignal.any([c.signal, lost.signal]);
  const lock = await acquireAppLock(store.redis, store.keys.prefix, c.app, {
    who: actorName(c.actor),
    what: 'change',
    signal,
    onWait: (first) => {
      if (first) c.log.heading(`Waiting for the build or change of ${c.app} in progress`);
    },
    onLost: () =>
      lost.abort(new BerthError('BERTH_E_CONFLICT', { what: `the build lock of ${c.app}` })),
  });
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
    const scheduler = new DockerLocal(c.docker, {
      ...(c.tuning?.network ? { network: c.tuning.network } : {}),
      ...(c.logArchive ? { logArchive: c.logArchive } : {}),
    });
    try {
      await rollout(
        {
          scheduler,
          redis: store.redis,
          redisPrefix: store.keys.prefix,
          log: c.log,
          signal,
          checks: await store.apps.deploySettings(c.app),
          ...(c.tuning?.stopTimeoutSec ? { stopTimeoutSec: c.tuning.stopTimeoutSec } : {}),
          ...(c.tuning?.readyTimeoutMs ? { readyTimeoutMs: c.tuning.readyTimeoutMs } : {}),
          ...(c.tuning?.drainMs === undefined ? {} : { drainMs: c.tuning.drainMs }),
        },
        release,
      );
    } catch (e) {
      await store.releases.setStatus(c.app, release.version, 'failed').catch(() => {});
      throw e;
    }
    await store.releases.setStatus(c.app, release.version, 'succeeded');
    c.log.heading(`v${release.version} of ${c.app} is live`);
    return { ...release, status: 'succeeded' };
  } finally {
    await lock.release();
  }
}
