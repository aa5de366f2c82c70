// Config vars: one hash per app, env key -> value. Values are any text except
// NUL, because they end up as environment strings of a process and the kernel
// ends those at NUL. Releases snapshot this hash when they are created.
import { BerthError } from '../errors.ts';
import * as validate from '../validate.ts';
import { execAll, type StoreContext } from './context.ts';
import { Script } from './lua.ts';
import type { ConfigVars } from './records.ts';

// Linux refuses to exec with one "KEY=VALUE\0" string over MAX_ARG_STRLEN (128 KiB).
const MAX_ENV_STRING = 128 * 1024;

const set = new Script(
  'config.set',
  `
local app = ARGV[2]
if redis.call('EXISTS', K.app(app)) == 0 then return {'BERTH_E_APP_NOT_FOUND', 'app', app} end
hset_list(K.config(app), argv_from(3))
return {'ok'}
`,
);

const unset = new Script(
  'config.unset',
  `
local app = ARGV[2]
if redis.call('EXISTS', K.app(app)) == 0 then return {'BERTH_E_APP_NOT_FOUND', 'app', app} end
local removed = 0
for i = 3, #ARGV do removed = removed + redis.call('HDEL', K.config(app), ARGV[i]) end
return {'ok', removed}
`,
);

/** A config value as an environment string can hold it (also for config:set --global). */
export function configValue(key: string, text: string): string {
  // The error names the key, never the value: values are often secrets.
  const bad = (reason: string): never => {
    throw new BerthError('BERTH_E_INVALID_NAME', { kind: 'config value of', value: key, reason });
  };
  if (typeof text !== 'string') bad('not a string');
  if (text.includes('\0')) bad('it contains a NUL byte, which no environment variable can hold');
  if (Buffer.byteLength(key) + Buffer.byteLength(text) + 2 > MAX_ENV_STRING) {
    bad('KEY=VALUE must fit in 128 KiB, the limit of one environment string on Linux');
  }
  return text;
}

export class ConfigVarsRepo {
  constructor(private readonly ctx: StoreContext) {}

  /** All config vars of the app; BERTH_E_APP_NOT_FOUND without the app. */
  async get(app: string): Promise<ConfigVars> {
    validate.appName(app);
    const { redis, keys } = this.ctx;
    const [exists, hash] = await execAll(
      redis.multi().exists(keys.app(app)).hgetall(keys.config(app)),
    );
    if (exists !== 1) throw new BerthError('BERTH_E_APP_NOT_FOUND', { app });
    return { ...(hash as ConfigVars) };
  }

  /**
   * What a build and an instance see: the global config vars
   * (config:set --global) with the app's own over them.
   */
  async merged(app: string): Promise<ConfigVars> {
    const own = await this.get(app);
    const global = await this.ctx.redis.hgetall(this.ctx.keys.globalConfig);
    return { ...global, ...own };
  }

  /** Sets the given vars together (others stay as they are). */
  async set(app: string, vars: Readonly<ConfigVars>): Promise<void> {
    validate.appName(app);
    const fields: string[] = [];
    for (const [key, text] of Object.entries(vars))
      fields.push(validate.envKey(key), configValue(key, text));
    await set.run(this.ctx, [app, ...fields]);
  }

  /** Removes the given keys; returns how many existed. */
  async unset(app: string, keys: readonly string[]): Promise<number> {
    validate.appName(app);
    const names = keys.map((key) => validate.envKey(key));
    const [removed] = await unset.run(this.ctx, [app, ...names]);
    return Number(removed);
  }
}
