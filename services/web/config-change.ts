// A config change from the web: the API's PATCH and DELETE and the
// app page's set and remove forms make it through this one function, with
// config:set's and config:unset's service functions (services/platform/apps/config.ts)
// and, when the app runs a release, a new release of the result as the
// commands make (releaseConfig).
import type { FastifyRequest } from 'fastify';
import type { App, ConfigVars, Release, Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { setConfig, unsetConfig } from '../platform/apps/config.ts';
import { releaseConfig } from '../platform/release/releases.ts';
import type { Rollouts } from './rollouts.ts';

export interface ConfigChange {
  /** The release that rolls the change out (pending), or undefined: not deployed yet, or nothing changed. */
  release: Release | undefined;
  /** The keys set or removed, sorted; never a value. */
  keys: string[];
}

/**
 * Sets `set`, then removes `unset`, then releases the result (the rollout
 * goes on after this resolves; rollouts.ts). Every key passes validate.envKey
 * before anything changes. The keys are taken as they are, never parsed out of
 * a "KEY=VALUE" text: a key "A=B" must be refused, not become A set to "B=…".
 */
export async function beginConfigChange(
  o: { store: Store; rollouts: Rollouts },
  req: FastifyRequest,
  app: App,
  set: Readonly<Record<string, string>>,
  unset: readonly string[],
): Promise<ConfigChange> {
  const vars: ConfigVars = {};
  for (const [key, value] of Object.entries(set)) vars[validate.envKey(key)] = value;
  const removing = unset.map((k) => validate.envKey(k));
  let keys: string[] = [];
  const release = await o.rollouts.begin(req, `config change of ${app.name}`, async (run) => {
    const setKeys = Object.keys(vars).length > 0 ? await setConfig(o.store, app, vars) : [];
    const removed = removing.length > 0 ? await unsetConfig(o.store, app, removing) : [];
    keys = [...setKeys, ...removed].sort();
    if (keys.length === 0) return undefined;
    const what = [
      setKeys.length > 0 ? `Set ${setKeys.join(', ')}` : '',
      removed.length > 0 ? `${setKeys.length > 0 ? 'unset' : 'Unset'} ${removed.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    // As config:set: a new release when the app runs one; else its first deploy uses them.
    return releaseConfig(run, app, `${what} config vars`);
  });
  return { release, keys };
}
