// Apps: the record, the set of all apps, collaborators, and destroy, which
// removes everything the app owns in Redis in one step so that a crash can
// never leave a half-destroyed app whose domain still routes somewhere.
import { BerthError } from '../errors.ts';
import * as validate from '../validate.ts';
import { execAll, isEmpty, pairsToObject, type StoreContext } from './context.ts';
import { Script } from './lua.ts';
import { capArg, quotaScript } from './quotas.ts';
import {
  type App,
  AppSchema,
  type BuildSettingField,
  type BuildSettings,
  BuildSettingsSchema,
  type DeploySettingField,
  type DeploySettings,
  DeploySettingsSchema,
  decode,
  GlobalSettingsSchema,
  type HttpsSettingField,
  type HttpsSettings,
  HttpsSettingsSchema,
  type ProxySettings,
  ProxySettingsSchema,
} from './records.ts';

export interface NewApp {
  name: string;
  /** An existing user; becomes the app's owner. */
  owner: string;
  /** Default 'main'. */
  deployBranch?: string;
}

const create = quotaScript(
  'apps.create',
  `
local name, owner, createdAt, branch, appsDefault = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('EXISTS', K.app(name)) == 1 then return {'BERTH_E_APP_EXISTS', 'app', name} end
if redis.call('EXISTS', K.user(owner)) == 0 then return {'BERTH_E_USER_NOT_FOUND', 'user', owner} end
-- Counted and created in one step: two creates at the cap cannot both pass.
local cap = quota_cap(owner, 'apps', appsDefault)
if cap then
  local owned = #owned_apps(owner)
  if owned >= cap then
    return quota_error(owner, 'apps', cap, owner .. ' owns ' .. owned .. (owned == 1 and ' app' or ' apps'),
      'destroy an app no longer needed (apps:destroy)')
  end
end
-- Sub-keys of an app of the same name can only be debris from a hand edit; start clean.
redis.call('DEL', K.collaborators(name), K.config(name), K.releaseSeq(name), K.releases(name), K.appDomains(name), K.builds(name), K.routes(name), K.metrics(name), K.metricsMinutes(name), K.metricsTotal(name), K.hooks(name), K.deliveries(name), K.deliveryOrder(name))
redis.call('HSET', K.app(name), 'name', name, 'owner', owner, 'createdAt', createdAt, 'deployBranch', branch)
redis.call('SADD', K.apps, name)
redis.call('PUBLISH', K.routesChannel, name)
return {'ok'}
`,
);

const destroy = new Script(
  'apps.destroy',
  `
local name = ARGV[2]
if redis.call('EXISTS', K.app(name)) == 0 then return {'BERTH_E_APP_NOT_FOUND', 'app', name} end
-- Every version ever allocated, and any the index knows, so no release hash is left behind.
local last = tonumber(redis.call('GET', K.releaseSeq(name)) or '0')
for v = 1, last do redis.call('DEL', K.release(name, v)) end
for _, v in ipairs(redis.call('ZRANGE', K.releases(name), 0, -1)) do redis.call('DEL', K.release(name, v)) end
for _, d in ipairs(redis.call('SMEMBERS', K.appDomains(name))) do
  -- Only release index entries that point here; the set is a mirror of the index.
  if redis.call('HGET', K.domains, d) == name then
    redis.call('HDEL', K.domains, d)
    redis.call('DEL', K.cert(d))
    redis.call('SREM', K.certs, d)
    redis.call('PUBLISH', K.certsChannel, d)
  end
end
redis.call('DEL', K.app(name), K.collaborators(name), K.config(name), K.releaseSeq(name), K.releases(name), K.appDomains(name), K.builds(name), K.routes(name), K.metrics(name), K.metricsMinutes(name), K.metricsTotal(name), K.hooks(name), K.deliveries(name), K.deliveryOrder(name))
redis.call('SREM', K.apps, name)
redis.call('PUBLISH', K.routesChannel, name)
return {'ok'}
`,
);

const rename = new Script(
  'apps.rename',
  `
local from, to = ARGV[2], ARGV[3]
if redis.call('EXISTS', K.app(from)) == 0 then return {'BERTH_E_APP_NOT_FOUND', 'app', from} end
if redis.call('EXISTS', K.app(to)) == 1 then return {'BERTH_E_APP_EXISTS', 'app', to} end
-- Debris under the new name (a hand edit) would be merged into the app; start clean.
redis.call('DEL', K.collaborators(to), K.config(to), K.releaseSeq(to), K.releases(to), K.appDomains(to), K.builds(to), K.routes(to), K.metrics(to), K.metricsMinutes(to), K.metricsTotal(to), K.hooks(to), K.deliveries(to), K.deliveryOrder(to))
local function move(a, b) if redis.call('EXISTS', a) == 1 then redis.call('RENAME', a, b) end end
local last = tonumber(redis.call('GET', K.releaseSeq(from)) or '0')
for v = 1, last do
  if redis.call('EXISTS', K.release(from, v)) == 1 then
    redis.call('RENAME', K.release(from, v), K.release(to, v))
    redis.call('HSET', K.release(to, v), 'app', to)
  end
end
for _, d in ipairs(redis.call('SMEMBERS', K.appDomains(from))) do
  if redis.call('HGET', K.domains, d) == from then redis.call('HSET', K.domains, d, to) end
end
move(K.collaborators(from), K.collaborators(to))
move(K.config(from), K.config(to))
move(K.releaseSeq(from), K.releaseSeq(to))
move(K.releases(from), K.releases(to))
move(K.appDomains(from), K.appDomains(to))
move(K.builds(from), K.builds(to))
move(K.routes(from), K.routes(to))
move(K.metrics(from), K.metrics(to))
move(K.metricsMinutes(from), K.metricsMinutes(to))
move(K.metricsTotal(from), K.metricsTotal(to), K.hooks(to), K.deliveries(to), K.deliveryOrder(to))
redis.call('RENAME', K.app(from), K.app(to))
redis.call('HSET', K.app(to), 'name', to)
redis.call('SREM', K.apps, from)
redis.call('SADD', K.apps, to)
redis.call('PUBLISH', K.routesChannel, from)
redis.call('PUBLISH', K.routesChannel, to)
return {'ok'}
`,
);

const setField = new Script(
  'apps.setField',
  `
local name, field, value = ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', K.app(name)) == 0 then return {'BERTH_E_APP_NOT_FOUND', 'app', name} end
if field == 'owner' then
  if redis.call('EXISTS', K.user(value)) == 0 then return {'BERTH_E_USER_NOT_FOUND', 'user', value} end
  -- The owner has every right already; keeping it a collaborator too would outlive a transfer.
  redis.call('SREM', K.collaborators(name), value)
end
if value == '' then redis.call('HDEL', K.app(name), field) else redis.call('HSET', K.app(name), field, value) end
-- Settings the router serves by (HTTPS redirect, HSTS, body limit) reach it with the app's routes.
if ARGV[5] == 'routes' then redis.call('PUBLISH', K.routesChannel, name) end
return {'ok'}
`,
);

const collaborator = new Script(
  'apps.collaborator',
  `
local name, user, op = ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', K.app(name)) == 0 then return {'BERTH_E_APP_NOT_FOUND', 'app', name} end
if op == 'remove' then return {'ok', redis.call('SREM', K.collaborators(name), user)} end
if redis.call('EXISTS', K.user(user)) == 0 then return {'BERTH_E_USER_NOT_FOUND', 'user', user} end
if redis.call('HGET', K.app(name), 'owner') == user then return {'ok', 0} end
return {'ok', redis.call('SADD', K.collaborators(name), user)}
`,
);

// Read in one script so that an app destroyed meanwhile is absent, not half there.
const list = new Script(
  'apps.list',
  `
local out = {'ok'}
for _, name in ipairs(redis.call('SMEMBERS', K.apps)) do
  out[#out + 1] = {name, redis.call('HGETALL', K.app(name)), redis.call('SMEMBERS', K.collaborators(name))}
end
return out
`,
);

export class Apps {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * Creates the app; BERTH_E_APP_EXISTS if the name is taken,
   * BERTH_E_USER_NOT_FOUND for the owner, BERTH_E_QUOTA when the owner has
   * all the apps their quota allows.
   */
  async create(input: NewApp): Promise<App> {
    const name = validate.appName(input.name);
    const owner = validate.userName(input.owner);
    // git:set --global deploy-branch names the branch new apps deploy from.
    const deployBranch = validate.branchName(
      input.deployBranch ??
        (await this.ctx.redis.hget(this.ctx.keys.globalSettings, 'deployBranch')) ??
        'main',
    );
    const createdAt = this.ctx.now().toISOString();
    const cap = capArg(this.ctx.quotas?.apps);
    await create.run(this.ctx, [name, owner, createdAt, deployBranch, cap]);
    return { name, owner, createdAt, deployBranch, collaborators: [] };
  }

  /** The app, or undefined when there is none of that name. */
  async get(name: string): Promise<App | undefined> {
    validate.appName(name);
    const { redis, keys } = this.ctx;
    const [hash, members] = await execAll(
      redis.multi().hgetall(keys.app(name)).smembers(keys.collaborators(name)),
    );
    return this.parse(name, hash as Record<string, string>, members);
  }

  /** The app, or BERTH_E_APP_NOT_FOUND. */
  async require(name: string): Promise<App> {
    const app = await this.get(name);
    if (app === undefined) throw new BerthError('BERTH_E_APP_NOT_FOUND', { app: name });
    return app;
  }

  async exists(name: string): Promise<boolean> {
    validate.appName(name);
    return (await this.ctx.redis.exists(this.ctx.keys.app(name))) === 1;
  }

  /** Every app, sorted by name. */
  async list(): Promise<App[]> {
    const rows = await list.run(this.ctx, []);
    const apps = rows.map((row) => {
      const [name, hash, members] = row as [string, unknown, unknown];
      const app = this.parse(name, pairsToObject(hash), members);
      // In the set but without a record: the set and the records disagree.
      if (app === undefined) {
        throw new BerthError('BERTH_E_STORE_CORRUPT', {
          key: this.ctx.keys.apps,
          reason: `lists "${name}" but ${this.ctx.keys.app(name)} does not exist`,
        });
      }
      return app;
    });
    return apps.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Every app name, sorted. */
  async names(): Promise<string[]> {
    return (await this.ctx.redis.smembers(this.ctx.keys.apps)).sort();
  }

  async setDeployBranch(name: string, branch: string): Promise<void> {
    await setField.run(this.ctx, [
      validate.appName(name),
      'deployBranch',
      validate.branchName(branch),
    ]);
  }

  /**
   * Renames the app with everything it has: config, releases (their `app`
   * field too), collaborators, domains. BERTH_E_APP_EXISTS when the new name
   * is taken. Domains keep pointing at it; the caller moves the files.
   */
  async rename(from: string, to: string): Promise<void> {
    await rename.run(this.ctx, [validate.appName(from), validate.appName(to)]);
  }

  /** How the app's builds are made (defaults where nothing was set); BERTH_E_APP_NOT_FOUND. */
  async buildSettings(name: string): Promise<BuildSettings> {
    validate.appName(name);
    const key = this.ctx.keys.app(name);
    const hash = await this.ctx.redis.hgetall(key);
    if (isEmpty(hash)) throw new BerthError('BERTH_E_APP_NOT_FOUND', { app: name });
    return decode(BuildSettingsSchema, key, hash);
  }

  /**
   * Sets one build setting (null: back to its default). The value is checked
   * by the same schema that reads it, so nothing unreadable is stored.
   */
  async setBuildSetting<F extends BuildSettingField>(
    name: string,
    field: F,
    value: BuildSettings[F],
  ): Promise<void> {
    validate.appName(name);
    const stored =
      value === null || (Array.isArray(value) && value.length === 0)
        ? ''
        : typeof value === 'string'
          ? value
          : JSON.stringify(value);
    // Callers pass checked values; this keeps a slip from storing what get() cannot read.
    if (stored !== '') BuildSettingsSchema.shape[field].parse(stored);
    await setField.run(this.ctx, [name, field, stored]);
  }

  /** How the app's rollouts check new instances (checks:*); BERTH_E_APP_NOT_FOUND. */
  async deploySettings(name: string): Promise<DeploySettings> {
    validate.appName(name);
    const { redis, keys } = this.ctx;
    const key = keys.app(name);
    const [hash, globals, globalConfig] = (await execAll(
      redis.multi().hgetall(key).hgetall(keys.globalSettings).hgetall(keys.globalConfig),
    )) as [Record<string, string>, Record<string, string>, Record<string, string>];
    if (isEmpty(hash)) throw new BerthError('BERTH_E_APP_NOT_FOUND', { app: name });
    return {
      ...decode(DeploySettingsSchema, key, hash),
      global: decode(GlobalSettingsSchema, keys.globalSettings, globals),
      globalConfig: { ...globalConfig },
    };
  }

  async setDeploySetting<F extends DeploySettingField>(
    name: string,
    field: F,
    value: DeploySettings[F],
  ): Promise<void> {
    validate.appName(name);
    // Lists and maps are JSON; a name (the scheduler) is itself; empty or null: the default.
    const stored =
      value === null
        ? ''
        : typeof value === 'string'
          ? value
          : typeof value === 'number'
            ? String(value)
            : (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0)
              ? ''
              : JSON.stringify(value);
    // Callers pass checked values; this keeps a slip from storing what deploySettings() cannot read.
    if (stored !== '') DeploySettingsSchema.shape[field].parse(stored);
    await setField.run(this.ctx, [name, field, stored]);
  }

  /** How the router serves the app over HTTPS (certs:set); BERTH_E_APP_NOT_FOUND. */
  async httpsSettings(name: string): Promise<HttpsSettings> {
    validate.appName(name);
    const key = this.ctx.keys.app(name);
    const hash = await this.ctx.redis.hgetall(key);
    if (isEmpty(hash)) throw new BerthError('BERTH_E_APP_NOT_FOUND', { app: name });
    return decode(HttpsSettingsSchema, key, hash);
  }

  /**
   * Sets one HTTPS setting (null: back to its default) and tells every router
   * process (`P routes`), which serves by it from the next request.
   */
  async setHttpsSetting<F extends HttpsSettingField>(
    name: string,
    field: F,
    value: HttpsSettings[F] | null,
  ): Promise<void> {
    validate.appName(name);
    const stored =
      value === null ? '' : typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value);
    // Callers pass checked values; this keeps a slip from storing what httpsSettings() cannot read.
    if (stored !== '') HttpsSettingsSchema.shape[field].parse(stored);
    await setField.run(this.ctx, [name, field, stored, 'routes']);
  }

  /** How the router treats the app's traffic (proxy:*); BERTH_E_APP_NOT_FOUND. */
  async proxySettings(name: string): Promise<ProxySettings> {
    validate.appName(name);
    const key = this.ctx.keys.app(name);
    const hash = await this.ctx.redis.hgetall(key);
    if (isEmpty(hash)) throw new BerthError('BERTH_E_APP_NOT_FOUND', { app: name });
    return decode(ProxySettingsSchema, key, hash);
  }

  /** The app's request body limit in bytes (0: none; null: back to BERTH_MAX_BODY_SIZE); routers follow at once. */
  async setMaxBodySize(name: string, bytes: number | null): Promise<void> {
    validate.appName(name);
    const stored = bytes === null ? '' : String(bytes);
    // Callers pass checked values; this keeps a slip from storing what the router cannot read.
    if (stored !== '') ProxySettingsSchema.shape.maxBodySize.parse(stored);
    await setField.run(this.ctx, [name, 'maxBodySize', stored, 'routes']);
  }

  /** apps:lock|unlock: a locked app's pushes and deploys are refused (BERTH_E_APP_LOCKED). */
  async setLocked(name: string, locked: boolean): Promise<void> {
    await setField.run(this.ctx, [validate.appName(name), 'locked', locked ? 'true' : '']);
  }

  async isLocked(name: string): Promise<boolean> {
    return (
      (await this.ctx.redis.hget(this.ctx.keys.app(validate.appName(name)), 'locked')) === 'true'
    );
  }

  /** Gives the app to another existing user (apps:transfer). */
  async setOwner(name: string, owner: string): Promise<void> {
    await setField.run(this.ctx, [validate.appName(name), 'owner', validate.userName(owner)]);
  }

  /** Lets an existing user push and run commands on the app; false if nothing changed. */
  async addCollaborator(name: string, user: string): Promise<boolean> {
    const args = [validate.appName(name), validate.userName(user), 'add'];
    const [added] = await collaborator.run(this.ctx, args);
    return added === 1;
  }

  /** False when the user was not a collaborator. */
  async removeCollaborator(name: string, user: string): Promise<boolean> {
    const args = [validate.appName(name), validate.userName(user), 'remove'];
    const [removed] = await collaborator.run(this.ctx, args);
    return removed === 1;
  }

  /** Removes the app with its config, releases, collaborators, domains and their certificates' metadata. */
  async destroy(name: string): Promise<void> {
    await destroy.run(this.ctx, [validate.appName(name)]);
  }

  private parse(name: string, hash: Record<string, string>, members: unknown): App | undefined {
    if (isEmpty(hash)) return undefined;
    const collaborators = Array.isArray(members) ? members.map(String).sort() : members;
    const key = this.ctx.keys.app(name);
    const app = decode(AppSchema, key, { ...hash, collaborators });
    if (app.name !== name) {
      throw new BerthError('BERTH_E_STORE_CORRUPT', { key, reason: `holds app "${app.name}"` });
    }
    return app;
  }
}
