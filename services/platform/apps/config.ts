// An app's config vars as the config:* commands and the web API change and
// read them. Keys pass validate.envKey (BERTH_* is Berth's); values may be
// any text but NUL (the store checks, naming the key and never the value, as
// values are often secrets). Builds read them (ENV_DIR of buildpacks, build
// args), and each change makes a release that rolls out
// (../release/release-change.ts).
import { BerthError } from '../../core/errors.ts';
import type { App, ConfigVars, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';

const usage = (reason: string) => new BerthError('BERTH_E_USAGE', { reason });

/**
 * KEY=VALUE arguments → vars, each key checked. `encoded`: the values are
 * base64 (Dokku's --encoded), for values with newlines or quotes.
 */
export function parseAssignments(args: readonly string[], encoded = false): ConfigVars {
  if (args.length === 0) throw usage('give at least one KEY=VALUE');
  const vars: ConfigVars = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw usage(`"${arg.slice(0, 40)}" is not KEY=VALUE`);
    const key = validate.envKey(arg.slice(0, eq));
    const raw = arg.slice(eq + 1);
    if (encoded) {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(raw) || raw.length % 4 !== 0) {
        throw usage(`the value of ${key} is not base64 (--encoded)`);
      }
      vars[key] = Buffer.from(raw, 'base64').toString('utf8');
    } else vars[key] = raw;
  }
  return vars;
}

export async function setConfig(store: Store, app: App, vars: ConfigVars): Promise<string[]> {
  // PORT is where the app's processes listen (../release/instance-spec.ts).
  if (vars.PORT !== undefined) validate.port(vars.PORT);
  await store.config.set(app.name, vars);
  return Object.keys(vars).sort();
}

/**
 * config:set --global: vars every app's instances and builds get under their
 * own (store/config-vars.ts merged). PORT is refused: it would move where
 * every app listens.
 */
export async function setGlobalConfig(store: Store, vars: ConfigVars): Promise<string[]> {
  if (vars.PORT !== undefined) {
    throw usage("PORT is each app's own (config:set APP PORT=N or ports:set); not a global var");
  }
  await store.platform.setConfig(vars);
  return Object.keys(vars).sort();
}

/** Removes the keys; resolves those that were set. */
export async function unsetConfig(store: Store, app: App, keys: readonly string[]) {
  if (keys.length === 0) throw usage('give at least one KEY');
  const checked = keys.map((k) => validate.envKey(k));
  const before = await store.config.get(app.name);
  await store.config.unset(app.name, checked);
  return checked.filter((k) => k in before).sort();
}

export async function configOf(store: Store, app: App): Promise<ConfigVars> {
  return store.config.get(app.name);
}
