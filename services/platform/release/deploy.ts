// A successful build becomes a release and goes live: the release records
// the image, its process types, the app's config at that moment and the
// formation (the last release's, or one web instance for an app's first),
// and is rolled out (./rollout.ts). Its status says how that went, so a
// release is never left `pending` by a rollout that ended.
import type { Redis } from 'ioredis';
import { errorLine } from '../../core/errors.ts';
import type { Formation, Processes, Release, Store } from '../../core/store/index.ts';
import type { CronSpec, EnvSpec } from '../build/app-json.ts';
import type { BuildLog } from '../build/build-log.ts';
import type { BuildRequest, BuildResult } from '../build/types.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { SchedulerOf } from '../scheduler/schedulers.ts';
import { planAppEnv } from './app-env.ts';
import { checkCron, syncCron } from './cron.ts';
import { type DeployScripts, runDeployTask } from './deploy-scripts.ts';
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
  /** The TCP ports the image EXPOSEs, the first first (BuildResult.exposedPorts); absent: as before. */
  exposedPorts?: number[];
  /** app.json's scripts.dokku.predeploy / postdeploy (./deploy-scripts.ts). */
  scripts?: DeployScripts;
  /** app.json's cron tasks (./cron.ts); absent: the previous release's. */
  cron?: CronSpec[];
  /** The build that made the image, named in the release's notifications. */
  build?: string;
}

export interface DeployDeps extends Omit<RolloutDeps, 'redis' | 'redisPrefix'> {
  store: Store;
  scheduler: Scheduler;
  redis?: Redis;
  /** BERTH_CRON_SECONDS: cron schedules may have a seconds field. */
  cronSeconds?: boolean;
  /** How long predeploy and postdeploy may run (DEPLOY_TASK_TIMEOUT_MS). */
  deployTaskTimeoutMs?: number;
}

/**
 * The formation of the new release: app.json's when it gives one (every
 * type of the image, 0 where it names none), else the previous one's for
 * the types the image still has.
 */
export function formationFor(
  previous: Release | undefined,
  processes: Processes,
  fromAppJson: Record<string, number> | undefined,
  /** ps:scale before the first deploy (DeploySettings.firstFormation). */
  recorded: Formation = {},
): Formation {
  if (fromAppJson) {
    const scaled = Object.keys(processes).filter((t) => t !== RELEASE_PHASE);
    return Object.fromEntries(scaled.map((t) => [t, fromAppJson[t] ?? 0]));
  }
  const kept = Object.entries(previous?.formation ?? {}).filter(([type]) => type in processes);
  if (kept.length > 0) return Object.fromEntries(kept);
  // An app's first release, as on Heroku: one web instance when there is a web process,
  // and what ps:scale recorded before it for the types the image has.
  const first: Formation = 'web' in processes ? { web: 1 } : {};
  for (const [type, n] of Object.entries(recorded)) if (type in processes) first[type] = n;
  return first;
}

export async function deployImage(d: DeployDeps, input: DeployInput): Promise<Release> {
  const { store } = d;
  // Checked first: a bad schedule fails the deploy before anything changes.
  const cron =
    input.cron === undefined
      ? undefined
      : checkCron(input.app, input.cron, { seconds: d.cronSeconds === true });
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
  if (input.exposedPorts) {
    const [first, ...more] = input.exposedPorts;
    if (first !== undefined) {
      d.log.detail(
        `EXPOSE ${input.exposedPorts.join(' ')}: web listens on ${first}${more.length > 0 ? ` (the first; ports:set ${input.app} http:80:${more[0]} picks another)` : ''}`,
      );
    }
  }
  // Before the release exists: an image no node can pull fails the deploy with nothing changed.
  await d.scheduler.prepareImage?.(input.app, input.image, (line) => d.log.detail(line));
  const release = await store.releases.create(input.app, {
    image: input.image,
    processes: input.processes,
    healthchecks: input.healthchecks ?? {},
    formation: formationFor(
      previous,
      input.processes,
      input.formation,
      previous?.image ? {} : (await store.apps.deploySettings(input.app)).firstFormation,
    ),
    formationFrom: input.formation ? 'app.json' : null,
    description: input.description,
    by: input.by,
    ...(input.source ? { source: input.source } : {}),
    ...(cron ? { cron } : {}),
    ...(input.build ? { build: input.build } : {}),
  });
  d.log.heading(`Releasing v${release.version} of ${input.app}`);
  return goLive(d, release, {
    ...(input.exposedPorts ? { exposedPorts: input.exposedPorts } : {}),
    ...(input.scripts ? { scripts: input.scripts } : {}),
  });
}

/**
 * Rolls out a release just made and records how it went: `succeeded`, or
 * `failed` with the error thrown on. The one place a release leaves `pending`.
 */
export async function goLive(
  d: Omit<DeployDeps, 'settings'>,
  release: Release,
  o: { exposedPorts?: number[]; scripts?: DeployScripts } = {},
): Promise<Release> {
  const { store } = d;
  const { exposedPorts, scripts = {} } = o;
  const settings = await store.apps.deploySettings(release.app);
  const task = {
    ...d,
    settings,
    ...(d.deployTaskTimeoutMs ? { timeoutMs: d.deployTaskTimeoutMs } : {}),
  };
  try {
    // Before any instance starts (and before the Procfile's release command), as on Dokku.
    if (scripts.predeploy) await runDeployTask(task, release, 'predeploy', scripts.predeploy);
    await rollout(
      {
        ...d,
        redis: d.redis ?? store.redis,
        redisPrefix: store.keys.prefix,
        settings: exposedPorts ? { ...settings, portsDetected: exposedPorts } : settings,
      },
      release,
    );
    // Dokku's "port map detected", read again at every deploy; kept once the
    // image serves, so a failed deploy leaves the running release's port.
    // The app's own mappings (ports:set) and PORT come first (../apps/ports.ts).
    if (exposedPorts) {
      await store.apps.setDeploySetting(release.app, 'portsDetected', exposedPorts);
    }
  } catch (e) {
    await store.releases
      .setStatus(release.app, release.version, 'failed', errorLine(e))
      .catch(() => {});
    throw e;
  }
  await store.releases.setStatus(release.app, release.version, 'succeeded');
  d.log.heading(`v${release.version} of ${release.app} is live`);
  // The live release's cron tasks replace the previous one's schedule.
  try {
    const tasks = await syncCron(store, release.app);
    if (tasks.length > 0 || release.cron.length > 0) {
      d.log.detail(
        `cron: ${tasks.length} ${tasks.length === 1 ? 'task' : 'tasks'} scheduled (cron:list ${release.app})`,
      );
    }
  } catch (e) {
    d.log.detail(
      `cron: the schedule was not updated (${errorLine(e)}); the builder retries at its next start`,
    );
  }
  // An app without a web process starts with nothing running (Heroku's and
  // Dokku's default: 0 for other types): say so, and how to start it.
  const running = Object.values(release.formation).some((n) => n > 0);
  if (running && !((release.formation.web ?? 0) > 0)) {
    // A worker-only app: nothing is routed to it; say what runs instead.
    const runs = Object.entries(release.formation).filter(([, n]) => n > 0);
    d.log.detail(
      `runs ${runs.map(([t, n]) => `${t}=${n}`).join(' ')} and serves no HTTP (no web instance); ps:scale ${release.app} ${runs.map(([t]) => `${t}=N`).join(' ')} scales it`,
    );
  }
  if (!running) {
    const types = Object.keys(release.processes).filter((t) => t !== RELEASE_PHASE);
    d.log.detail(
      types.length === 0
        ? `nothing runs: ${release.app} has no process types`
        : `nothing runs: ${release.app} has no web process, and its other types start at 0; start them with ps:scale ${release.app} ${types.map((t) => `${t}=1`).join(' ')}`,
    );
  }
  // After traffic moved; failing, it fails the push but changes nothing (Dokku's rule).
  if (scripts.postdeploy) await runDeployTask(task, release, 'postdeploy', scripts.postdeploy);
  return { ...release, status: 'succeeded' };
}

/**
 * A restore makes an image again from its commit: predeploy's changes were
 * committed into the image, so it runs again, with the config of the
 * release that runs the image (the current one when several do).
 */
async function predeployAgain(
  store: Store,
  app: string,
  scheduler: Scheduler,
  result: BuildResult,
  log: DeployRun['log'],
  signal: AbortSignal,
): Promise<void> {
  const command = result.scripts?.predeploy;
  if (!command || result.image === undefined) return;
  const current = await store.releases.current(app);
  const release =
    current?.image === result.image
      ? current
      : (await store.releases.list(app, { limit: 100_000 })).find((r) => r.image === result.image);
  if (!release) return;
  const settings = await store.apps.deploySettings(app);
  await runDeployTask({ scheduler, log, signal, settings }, release, 'predeploy', command);
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
    | 'port'
    | 'stopTimeoutSec'
    | 'readyTimeoutMs'
    | 'uptimeMs'
    | 'drainMs'
    | 'onRetireError'
    | 'cronSeconds'
    | 'deployTaskTimeoutMs'
  > = {},
): (run: DeployRun) => Promise<BuildResult> {
  return async ({ id, request, result, log, signal }) => {
    if (result.image === undefined) return result;
    if (request.restore) {
      await predeployAgain(store, request.app, await schedulerOf(request.app), result, log, signal);
      return result;
    }
    await deployImage(
      { ...tuning, store, scheduler: await schedulerOf(request.app), log, signal },
      {
        app: request.app,
        image: result.image,
        processes: result.processes ?? { web: null },
        healthchecks: result.healthchecks ?? {},
        ...(result.formation ? { formation: result.formation } : {}),
        ...(result.env ? { env: result.env } : {}),
        ...(result.exposedPorts ? { exposedPorts: result.exposedPorts } : {}),
        ...(result.scripts ? { scripts: result.scripts } : {}),
        ...(result.cron ? { cron: result.cron } : {}),
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
