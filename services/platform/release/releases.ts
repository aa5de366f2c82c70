// What an app's owner does with releases: roll back, scale, and let a config
// change go live. Each makes a new release through releaseChange (the app's
// build lock, a rollout, a status), so a release history reads like Heroku's.
import type { Config } from '../../core/config.ts';
import { BerthError } from '../../core/errors.ts';
import { dataPaths } from '../../core/paths.ts';
import type { App, Formation, Release } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { logArchiveOf } from '../scheduler/app-logs.ts';
import { type ReleaseChange, releaseChange } from './release-change.ts';
import { RELEASE_PHASE } from './rollout.ts';

export type ReleaseRun = Pick<
  ReleaseChange,
  | 'store'
  | 'docker'
  | 'actor'
  | 'log'
  | 'signal'
  | 'tuning'
  | 'logArchive'
  | 'limits'
  | 'appNetworks'
  | 'swarm'
  | 'onRollout'
>;

/** What every change rolls out with from the operator's settings, over SSH and from the web alike. */
export type RolloutSettings = Pick<
  ReleaseRun,
  'tuning' | 'logArchive' | 'limits' | 'appNetworks' | 'swarm'
>;

/**
 * BERTH_DRAIN_TIMEOUT, where removed instances' last lines are kept,
 * BERTH_DEFAULT_* limits, BERTH_APP_NETWORKS.
 */
export const rolloutSettings = (
  config: Pick<Config, 'drainTimeoutMs' | 'dataDir' | 'defaultLimits' | 'appNetworks' | 'swarm'>,
): RolloutSettings => ({
  tuning: { drainMs: config.drainTimeoutMs },
  logArchive: logArchiveOf(dataPaths(config.dataDir)),
  limits: config.defaultLimits,
  appNetworks: config.appNetworks,
  swarm: config.swarm,
});

const usage = (reason: string) => new BerthError('BERTH_E_USAGE', { reason });

/** "v12" or "12" → 12. */
export function releaseVersion(text: string): number {
  const m = /^v?([1-9][0-9]{0,8})$/.exec(text);
  if (!m) throw usage(`"${text.slice(0, 20)}" is not a release such as v12`);
  return Number(m[1]);
}

/**
 * The release a rollback to `target` takes its image, processes and config
 * from; without a target, the newest succeeded release before the current one.
 * The web's confirmation page shows it before anything changes.
 */
export async function rollbackTarget(
  store: ReleaseRun['store'],
  app: string,
  target?: number,
): Promise<Release> {
  if (target !== undefined) {
    const to = await store.releases.get(app, target);
    if (!to) throw new BerthError('BERTH_E_RELEASE_NOT_FOUND', { app, version: `v${target}` });
    if (!to.image) throw new BerthError('BERTH_E_NO_ROLLBACK_TARGET', { app });
    return to;
  }
  const current = await store.releases.current(app);
  const older = (await store.releases.list(app)).filter(
    (r) => r.status === 'succeeded' && r.image && current && r.version < current.version,
  );
  const to = older[0];
  if (!to) throw new BerthError('BERTH_E_NO_ROLLBACK_TARGET', { app });
  return to;
}

/** releases:rollback APP [vN]: vN's image, processes and config as a new release (default: the one before the current). */
export async function rollback(run: ReleaseRun, app: App, target?: number): Promise<Release> {
  const to = await rollbackTarget(run.store, app.name, target);
  return releaseChange({
    ...run,
    app: app.name,
    change: { from: to },
    description: `Rollback to v${to.version}`,
  });
}

/** The most instances of one process type ps:scale (and the page's scale form) allows. */
export const MAX_INSTANCES = 100;

/** "web=3" assignments → counts, each type checked; counts 0-MAX_INSTANCES. */
export function parseScale(args: readonly string[]): Formation {
  const formation: Formation = {};
  for (const arg of args) {
    const m = /^([^=]+)=([0-9]{1,6})$/.exec(arg);
    if (!m) throw usage(`"${arg.slice(0, 40)}" is not TYPE=COUNT, such as web=2`);
    const count = Number(m[2]);
    if (count > MAX_INSTANCES) {
      throw usage(`at most ${MAX_INSTANCES} instances of a process type, not ${count}`);
    }
    const type = validate.processType(m[1] as string);
    if (type === RELEASE_PHASE)
      throw usage('release runs once before each rollout; it is not scaled');
    formation[type] = count;
  }
  return formation;
}

/**
 * ps:scale before the app's first deploy: the counts are recorded, and the
 * first deploy starts them (for the types its image has), as on Dokku, so a
 * CI job may scale before it pushes. Returns the recorded formation.
 */
export async function recordFirstFormation(
  store: ReleaseRun['store'],
  app: App,
  counts: Formation,
): Promise<Formation> {
  const { firstFormation } = await store.apps.deploySettings(app.name);
  const formation = { ...firstFormation, ...counts };
  await store.apps.setDeploySetting(app.name, 'firstFormation', formation);
  return formation;
}

/** ps:scale APP TYPE=N...: the current formation with these counts, as a new release. */
export async function scale(run: ReleaseRun, app: App, counts: Formation): Promise<Release> {
  const current = await run.store.releases.current(app.name);
  if (!current?.image) throw new BerthError('BERTH_E_NO_RELEASE', { app: app.name });
  if (current.formationFrom === 'app.json') {
    throw usage(
      `the scale of ${app.name} is set by the formation key of its app.json: change the quantities there and push, or remove the key to scale with ps:scale`,
    );
  }
  for (const type of Object.keys(counts)) {
    if (!(type in current.processes)) {
      throw usage(
        `${app.name} has no ${type} process (it has ${Object.keys(current.processes).join(', ') || 'none'})`,
      );
    }
  }
  const formation = { ...current.formation, ...counts };
  return releaseChange({
    ...run,
    app: app.name,
    change: { formation },
    description: `Scale ${Object.entries(counts)
      .map(([t, n]) => `${t}=${n}`)
      .join(' ')}`,
  });
}

/** After config:set/unset: the app's config as a new release, when it runs one. */
export async function releaseConfig(
  run: ReleaseRun,
  app: App,
  description: string,
): Promise<Release | undefined> {
  const current = await run.store.releases.current(app.name);
  if (!current?.image) return undefined;
  return releaseChange({ ...run, app: app.name, change: {}, description });
}
