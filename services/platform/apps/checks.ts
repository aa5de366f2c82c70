// checks:* — how an app's rollouts check new instances, as Dokku's commands:
// disable (no checks, and the old instances stop first: downtime), skip (no
// checks: an instance is ready once it runs), enable (back to checking).
// Types are given comma-separated; none means every type (`_all_`).
import { BerthError } from '../../core/errors.ts';
import type { App, DeploySettings, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';

const ALL = '_all_';

export function parseTypes(arg: string | undefined): string[] {
  if (arg === undefined || arg === '' || arg === ALL) return [ALL];
  return [...new Set(arg.split(',').map((t) => validate.processType(t.trim())))];
}

const union = (a: readonly string[], b: readonly string[]) =>
  b.includes(ALL) ? [ALL] : [...new Set([...a, ...b])].sort();
const minus = (a: readonly string[], b: readonly string[]) =>
  b.includes(ALL) ? [] : a.filter((t) => !b.includes(t));

export async function setChecks(
  store: Store,
  app: App,
  action: 'disable' | 'skip' | 'enable',
  types: readonly string[],
): Promise<DeploySettings> {
  const now = await store.apps.deploySettings(app.name);
  if (action === 'disable') {
    await store.apps.setDeploySetting(app.name, 'checksDisabled', union(now.checksDisabled, types));
  } else if (action === 'skip') {
    await store.apps.setDeploySetting(app.name, 'checksSkipped', union(now.checksSkipped, types));
  } else if (action === 'enable') {
    await store.apps.setDeploySetting(app.name, 'checksDisabled', minus(now.checksDisabled, types));
    await store.apps.setDeploySetting(app.name, 'checksSkipped', minus(now.checksSkipped, types));
  } else {
    throw new BerthError('BERTH_E_USAGE', { reason: `unknown checks action ${action}` });
  }
  return store.apps.deploySettings(app.name);
}

/** checks:set keys Berth's rollout has (Dokku's names). */
export const CHECK_SETTINGS = ['wait-to-retire', 'default-wait'] as const;

/**
 * checks:set APP KEY [VALUE]: wait-to-retire (seconds the previous release's
 * instances keep running after the switch; default BERTH_DRAIN_TIMEOUT) or
 * default-wait (seconds a process without checks must keep running, and
 * after which a web process listening on nothing is looked at; default 10).
 * No value: back to the default. `--global` (no app): the default of apps
 * that set none, over BERTH_DRAIN_TIMEOUT and Berth's 10 s.
 */
export async function setCheckSetting(
  store: Store,
  /** undefined: checks:set --global, the default of apps that set none. */
  app: App | undefined,
  key: string,
  value: string | undefined,
): Promise<void> {
  const field =
    key === 'wait-to-retire' ? 'waitToRetire' : key === 'default-wait' ? 'defaultWait' : undefined;
  if (field === undefined) {
    throw new BerthError('BERTH_E_UNKNOWN_SETTING', {
      command: 'checks:set',
      key,
      settings: CHECK_SETTINGS.join(', '),
    });
  }
  const max = field === 'waitToRetire' ? 86_400 : 600;
  const seconds = value === undefined || value === '' ? null : validate.seconds(value, key, max);
  if (app === undefined) await store.platform.set(field, seconds);
  else await store.apps.setDeploySetting(app.name, field, seconds);
}
