// app.json's `env` at a deploy, by Dokku's rules: on the app's first deploy a
// key without a value takes the entry's `value`, or 64 random hex digits for
// `generator: "secret"`; on every deploy a `sync` entry's value is set over
// whatever the app has; a required key still without a value refuses the
// deploy, naming every such key, before anything changes. Later deploys
// leave other keys as the app's owner set them (an unset default stays unset).
import { randomBytes } from 'node:crypto';
import { BerthError } from '../../core/errors.ts';
import type { ConfigVars } from '../../core/store/index.ts';
import type { EnvSpec } from '../build/app-json.ts';

export interface AppEnvPlan {
  /** What to set before the release is made. */
  set: ConfigVars;
  /** Keys set, with how (for the push output; never the values). */
  said: string[];
}

/** What app.json's env changes in `config`; BERTH_E_CONFIG_REQUIRED when keys are missing. */
export function planAppEnv(
  app: string,
  env: Readonly<Record<string, EnvSpec>>,
  config: Readonly<ConfigVars>,
  firstDeploy: boolean,
): AppEnvPlan {
  const set: ConfigVars = {};
  const said: string[] = [];
  const missing: string[] = [];
  for (const [key, spec] of Object.entries(env)) {
    const has = (config[key] ?? '') !== '';
    if (spec.sync && spec.value !== undefined) {
      if (config[key] !== spec.value) {
        set[key] = spec.value;
        said.push(`${key} (sync)`);
      }
    } else if (!has && firstDeploy && spec.value !== undefined) {
      set[key] = spec.value;
      said.push(`${key} (default)`);
    } else if (!has && firstDeploy && spec.generator === 'secret') {
      set[key] = randomBytes(32).toString('hex');
      said.push(`${key} (generated secret)`);
    } else if (!has && spec.required) {
      missing.push(key);
    }
  }
  if (missing.length > 0) {
    throw new BerthError('BERTH_E_CONFIG_REQUIRED', { app, keys: missing.join(', ') });
  }
  return { set, said };
}
