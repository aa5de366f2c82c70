// A successful build becomes a release and goes live: the release records
// the image, its process types, the app's config at that moment and the
// formation (the last release's, or one web instance for an app's first),
// and is rolled out (./rollout.ts). Its status says how that went, so a
// release is never left `pending` by a rollout that ended.
import type { Redis } from 'ioredis';
import { errorLine } from '../../core/errors.ts';
import type { Formation, Processes, Release, Store } from '../../core/store/index.ts';
import type { EnvSpec } from '../build/app-json.ts';
import type { BuildLog } from '../build/build-log.ts';
import type { BuildRequest, BuildResult } from '../build/types.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { SchedulerOf } from '../scheduler/schedulers.ts';
import { planAppEnv } from './app-env.ts';
import { RELEASE_PHASE, type RolloutDeps, rollout } from './rollout.ts';

/** What the build worker hands the deployer for a successful build. */
export interface DeployRun {
  id: string;
  request: BuildRequest;
  /** The successful build's result (its image and process types). */
  result: BuildResult;
  log: BuildLog;
  signal: AbortSignal;
}

export interface DeployInput {
  app: string;
  image: string;
  processes: Processes;
  /** Who asked (the pusher). */
  by: string;
  /** What changed, e.g. "Deploy 3f2a1c9". */
  description: string;
  /** app.json startup checks by process type (none: the default checks). */
  healthchecks?: Record<string, unknown[]>;
  /** app.json's formation quantities: they set the scale (types not named run 0). */
  formation?: Record<string, number>;
  /** app.json's env entries (./app-env.ts). */
  env?: Record<string, EnvSpec>;
  /** What the image was made from (`commit:<sha>`, `image:<ref>`), for berth restore. */
  source?: string;
  /** The build that made the image, named in the release's notifications. */
  build?: string;
}

export interface DeployDeps extends Omit<RolloutDeps, 'redis' | 'redisPrefix'> {
  store: Store;
  scheduler: Scheduler;
  redis?: Redis;
}

/**
 * The formation of the new release: app.json's when it gives one (every
 * type of the image, 0 where it names none), else the previous one's for
 * the types the image still has.
 */
function formationFor(
  previous: Release | undefined,
  processes: Processes,
  fromAppJson: Record<string, number> | undefined,
): Formation {
  if (fromAppJson) {
    const scaled = Object.keys(processes).filter((t) => t !== RELEASE_PHASE);
    return Object.fromEntries(scaled.map((t) => [t, fromAppJson[t] ?? 0]));
  }
  const kept = Object.entries(previous?.formation ?? {}).filter(([type]) => type in processes);
  if (kept.length > 0) return Object.fromEntries(kept);
  // An app's first release, as on Heroku: one web instance when there is a web process.
  return 'web' in processes ? { web: 1 } : {};
}

export async function deployImage(d: DeployDeps, input: DeployInput): Promise<Release> {
  const { store } = d;
  const previous = await store.releases.current(input.app);
  if (input.env) {
    const first = !previous?.image;
    const plan = planAppEnv(input.app, input.env, await store.config.get(input.app), first);
    if (plan.said.length > 0) {
      await store.config.set(input.app, plan.set);
      d.log.detail(`app.json env: set ${plan.said.join(', ')}`);
    }
  }
  const ignored = Object.keys(input.formation ?? {}).filter((t) => !(t in input.processes));
  if (ignored.length > 0) {
    d.log.detail(`app.json formation: no ${ignored.join(', ')} process in this build; left out`);
  }
  const release = await store.releases.create(input.app, {
    image: input.image,
    processes: input.processes,
    healthchecks: input.healthchecks ?? {},
    formation: formationFor(previous, input.processes, input.formation),
    formationFrom: input.formation ? 'app.json' : null,
    description: input.description,
    by: input.by,
    ...(input.source ? { source: input.source } : {}),
    ...(input.build ? { build: input.build } : {}),
  });
  d.log.heading(`Releasing v${release.version} of ${input.app}`);
  return goLive(d, release);
}

/**
 * Rolls out a release just made and records how it went: `succeeded`, or
 * `failed` with the error thrown on. The one place a release leaves `pending`.
 */
export async function goLive(d: Omit<DeployDeps, 'settings'>, release: Release): Promise<Release> {
  const { store } = d;
  try {
    await rollout(
      {
        ...d,
        redis: d.redis ?? store.redis,
        redisPrefix: store.keys.prefix,
        settings: await store.apps.deploySettings(release.app),
      },
      release,
    );
  } catch (e) {
    await store.releases
      .setStatus(release.app, release.version, 'failed', errorLine(e))
      .catch(() => {});
    throw e;
  }
  await store.releases.setStatus(release.app, release.version, 'succeeded');
  d.log.heading(`v${release.version} of ${release.app} is live`);
  // An app without a web process starts with nothing running (Heroku's and
  // Dokku's default: 0 for other types): say so, and how to start it.
  const running = Object.values(release.formation).some((n) => n > 0);
  if (!running) {
    const types = Object.keys(release.processes).filter((t) => t !== RELEASE_PHASE);
    d.log.detail(
      types.length === 0
        ? `nothing runs: ${release.app} has no process types`
        : `nothing runs: ${release.app} has no web process, and its other types start at 0; start them with ps:scale ${release.app} ${types.map((t) => `${t}=1`).join(' ')}`,
    );
  }
  return { ...release, status: 'succeeded' };
}

/**
 * The builder's deploy step (BuildWorkerOptions.deploy): a successful build's
 * image becomes the app's next release, rolled out by the app's scheduler.
 */
export function deployBuilds(
  store: Store,
  schedulerOf: SchedulerOf,
  tuning: Pick<
    DeployDeps,
    'port' | 'stopTimeoutSec' | 'readyTimeoutMs' | 'uptimeMs' | 'drainMs' | 'onRetireError'
  > = {},
): (run: DeployRun) => Promise<BuildResult> {
  return async ({ id, request, result, log, signal }) => {
    if (result.image === undefined) return result;
    await deployImage(
      { ...tuning, store, scheduler: await schedulerOf(request.app), log, signal },
      {
        app: request.app,
        image: result.image,
        processes: result.processes ?? { web: null },
        healthchecks: result.healthchecks ?? {},
        ...(result.formation ? { formation: result.formation } : {}),
        ...(result.env ? { env: result.env } : {}),
        by: request.pusher,
        description:
          request.rev === undefined
            ? `Deploy ${request.image}`
            : `Deploy ${request.rev.slice(0, 7)}`,
        source: request.rev === undefined ? `image:${request.image}` : `commit:${request.rev}`,
        build: id,
      },
    );
    return result;
  };
}
