// Per-user quotas (issue 16: one user made 1,000 apps in 13 s, and could run
// 300 process types × 100 instances): how many apps a user owns, how many
// instances those apps run, how many process types one app runs, and how
// many minutes a day the user's builds hold a builder. The caps are an
// admin's per user (`P user:NAME:quotas`, quota:set), else the operator's
// defaults (BERTH_QUOTA_*, given to the Store); admins have none.
//
// A cap is checked inside the script that makes the change it limits
// (apps.create, releases.create), so two requests at once cannot both pass
// it: Redis runs one script at a time. What a user's apps run is read from
// the releases themselves, the newest one of each app that did not fail
// (the one running or rolling out), so nothing has to be kept in step.
// Whatever an app's collaborators do counts against its owner.
//
// Disk is the exception: what a repository takes is a file-system figure
// the store cannot compute. The push measures its app's repository
// (services/platform/git/repo-usage.ts) and records it in the app's hash
// (`repoBytes`) before git runs and again after; a user's disk is the sum of
// their apps' figures, so a push walks one repository, not all of them.
import type { QuotaDefaults } from '../config.ts';
import * as validate from '../validate.ts';
import { pairsToObject, type StoreContext } from './context.ts';
import { Script } from './lua.ts';
import { decode, QUOTAS, type QuotaCaps, type QuotaName, UserQuotasSchema } from './records.ts';

/**
 * Lua helpers for the scripts that check a quota (prepended to them, after
 * the key layout). A default arrives as ARGV text: a count, or 'unlimited'.
 */
export const QUOTA_LUA = `
-- The cap of quota \`name\` for \`user\`: their own, else \`default\`; nil: none (admins, 'unlimited').
local function quota_cap(user, name, default)
  if redis.call('HGET', K.user(user), 'role') == 'admin' then return nil end
  local v = redis.call('HGET', K.userQuotas(user), name) or default
  if v == nil or v == '' or v == 'unlimited' then return nil end
  return tonumber(v)
end
-- The apps \`user\` owns.
local function owned_apps(user)
  local out = {}
  for _, a in ipairs(redis.call('SMEMBERS', K.apps)) do
    if redis.call('HGET', K.app(a), 'owner') == user then out[#out + 1] = a end
  end
  return out
end
-- The key of the app's newest release that did not fail: what runs, or rolls out.
local function live_release(app)
  for _, v in ipairs(redis.call('ZREVRANGE', K.releases(app), 0, -1)) do
    if redis.call('HGET', K.release(app, v), 'status') ~= 'failed' then return K.release(app, v) end
  end
  return nil
end
-- Instances, and process types with at least one, of a formation (JSON).
local function formation_size(text)
  local n, types = 0, 0
  for _, count in pairs(cjson.decode(text or '{}')) do
    if type(count) == 'number' and count > 0 then n = n + count types = types + 1 end
  end
  return n, types
end
local function app_size(app)
  local key = live_release(app)
  return formation_size(key and redis.call('HGET', key, 'formation'))
end
-- Seconds the user's builds took on \`today\` (UTC, YYYY-MM-DD).
local function build_seconds(user, today)
  local usage = K.userBuildUsage(user)
  if redis.call('HGET', usage, 'day') ~= today then return 0 end
  return tonumber(redis.call('HGET', usage, 'seconds') or '0')
end
-- Bytes the app's git repository took when last measured (by a push); 0: never.
local function repo_bytes(app)
  return tonumber(redis.call('HGET', K.app(app), 'repoBytes') or '0') or 0
end
local function disk_used(user)
  local n = 0
  for _, a in ipairs(owned_apps(user)) do n = n + repo_bytes(a) end
  return n
end
local function quota_error(user, name, cap, reason, remedy)
  return {'BERTH_E_QUOTA', 'user', user, 'quota', name, 'cap', cap, 'reason', reason, 'remedy', remedy}
end
`;

/** A script that checks quotas: QUOTA_LUA, then `body`. */
export const quotaScript = (name: string, body: string): Script =>
  new Script(name, `${QUOTA_LUA}${body}`);

/** A default cap as a script argument. */
export const capArg = (cap: number | null | undefined): string =>
  cap === null || cap === undefined ? 'unlimited' : String(cap);

/** The operator's defaults by quota name; no defaults given: none. */
export function defaultCaps(d: QuotaDefaults | undefined): QuotaCaps {
  return {
    apps: d?.apps ?? null,
    instances: d?.instances ?? null,
    'process-types': d?.processTypes ?? null,
    'build-minutes': d?.buildMinutes ?? null,
    'push-size': d?.pushSize ?? null,
    disk: d?.disk ?? null,
  };
}

const setQuotas = new Script(
  'quotas.set',
  `
local user = ARGV[2]
if redis.call('EXISTS', K.user(user)) == 0 then return {'BERTH_E_USER_NOT_FOUND', 'user', user} end
for i = 3, #ARGV - 1, 2 do
  if ARGV[i + 1] == 'default' then redis.call('HDEL', K.userQuotas(user), ARGV[i])
  else redis.call('HSET', K.userQuotas(user), ARGV[i], ARGV[i + 1]) end
end
return {'ok'}
`,
);

// What a user has, read in one step.
const usage = quotaScript(
  'quotas.usage',
  `
local user, today = ARGV[2], ARGV[3]
if redis.call('EXISTS', K.user(user)) == 0 then return {'BERTH_E_USER_NOT_FOUND', 'user', user} end
local apps = owned_apps(user)
local instances, most = 0, 0
for _, a in ipairs(apps) do
  local n, types = app_size(a)
  instances = instances + n
  if types > most then most = types end
end
return {'ok', #apps, instances, most, build_seconds(user, today),
  redis.call('HGET', K.user(user), 'role'), redis.call('HGETALL', K.userQuotas(user)),
  string.format('%.0f', disk_used(user))}
`,
);

const admitBuild = quotaScript(
  'quotas.admitBuild',
  `
local app, today, default = ARGV[2], ARGV[3], ARGV[4]
local owner = redis.call('HGET', K.app(app), 'owner')
if not owner then return {'BERTH_E_APP_NOT_FOUND', 'app', app} end
local cap = quota_cap(owner, 'build-minutes', default)
if cap then
  local used = build_seconds(owner, today)
  if used >= cap * 60 then
    local minutes = math.ceil(used / 60)
    return quota_error(owner, 'build-minutes', cap,
      'the builds of ' .. owner .. ' took ' .. minutes .. (minutes == 1 and ' minute' or ' minutes') .. ' today (UTC)',
      'build again after midnight UTC')
  end
end
return {'ok', owner}
`,
);

// What a push to \`app\` may do: its owner's push-size and disk caps, and the
// figure of each app the owner has ('' when never measured).
const pushCaps = quotaScript(
  'quotas.pushCaps',
  `
local app, pushDefault, diskDefault = ARGV[2], ARGV[3], ARGV[4]
local owner = redis.call('HGET', K.app(app), 'owner')
if not owner then return {'BERTH_E_APP_NOT_FOUND', 'app', app} end
local push = quota_cap(owner, 'push-size', pushDefault)
local disk = quota_cap(owner, 'disk', diskDefault)
local figures = {}
for _, a in ipairs(owned_apps(owner)) do
  figures[#figures + 1] = a
  figures[#figures + 1] = redis.call('HGET', K.app(a), 'repoBytes') or ''
end
return {'ok', owner, push and string.format('%.0f', push) or 'unlimited', disk and string.format('%.0f', disk) or 'unlimited', figures}
`,
);

const recordRepo = new Script(
  'quotas.recordRepo',
  `
local app, bytes = ARGV[2], ARGV[3]
-- A destroyed app's figure goes with its hash; never bring the hash back.
if redis.call('EXISTS', K.app(app)) == 1 then redis.call('HSET', K.app(app), 'repoBytes', bytes) end
return {'ok'}
`,
);

// Time goes to the day the build ended; a day's first build starts the count again.
const addBuildSeconds = new Script(
  'quotas.addBuildSeconds',
  `
local user, today, seconds = ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('EXISTS', K.user(user)) == 0 then return {'ok', 0} end
local usage = K.userBuildUsage(user)
if redis.call('HGET', usage, 'day') ~= today then
  redis.call('HSET', usage, 'day', today, 'seconds', 0)
end
return {'ok', redis.call('HINCRBY', usage, 'seconds', seconds)}
`,
);

/** One quota of a user: what they have and their cap, and where the cap comes from. */
export interface QuotaLine {
  /**
   * Apps owned; instances across them; the most process types one app runs;
   * build minutes today (rounded up); bytes the repositories of the apps
   * owned take on disk. null for push-size, which caps each push on its own.
   */
  used: number | null;
  /** null: none. */
  cap: number | null;
  /** `admin`: admins have no caps; `user`: an admin set it (quota:set); `default`: BERTH_QUOTA_*. */
  from: 'admin' | 'user' | 'default';
}

export interface QuotaReport {
  user: string;
  quotas: Record<QuotaName, QuotaLine>;
  /** Seconds the user's builds took today (UTC). */
  buildSeconds: number;
}

/** What a push to an app may send and store (Quotas.pushCaps). */
export interface PushCaps {
  owner: string;
  /** Bytes of pack one push may send; null: no cap. */
  pushSize: number | null;
  /** Bytes the owner's repositories may take; null: no cap. */
  disk: number | null;
  /** The owner's apps and the bytes each one's repository took when last measured; undefined: never. */
  repos: Record<string, number | undefined>;
}

/** A change to a user's caps: a count, null (no cap) or 'default' (back to BERTH_QUOTA_*). */
export type QuotaPatch = Partial<Record<QuotaName, number | null | 'default'>>;

/** Today in UTC, as the build minutes count days. */
const utcDay = (d: Date): string => d.toISOString().slice(0, 10);

export class Quotas {
  constructor(private readonly ctx: StoreContext) {}

  /** The operator's default caps this store enforces (BERTH_QUOTA_*). */
  get defaults(): QuotaCaps {
    return defaultCaps(this.ctx.quotas);
  }

  /** Sets a user's own caps; BERTH_E_USER_NOT_FOUND. */
  async set(user: string, patch: QuotaPatch): Promise<void> {
    const args: string[] = [validate.userName(user)];
    for (const [name, value] of Object.entries(patch)) {
      if (!(QUOTAS as readonly string[]).includes(name)) throw new Error(`not a quota: ${name}`);
      if (value === undefined) continue;
      args.push(name, value === 'default' ? 'default' : capArg(value));
    }
    await setQuotas.run(this.ctx, args);
  }

  /** What the user has against each cap; BERTH_E_USER_NOT_FOUND. */
  async report(user: string): Promise<QuotaReport> {
    validate.userName(user);
    const [apps, instances, types, seconds, role, own, disk] = await usage.run(this.ctx, [
      user,
      utcDay(this.ctx.now()),
    ]);
    const set = decode(UserQuotasSchema, this.ctx.keys.userQuotas(user), pairsToObject(own));
    const defaults = this.defaults;
    const used: Record<QuotaName, number | null> = {
      apps: Number(apps),
      instances: Number(instances),
      'process-types': Number(types),
      'build-minutes': Math.ceil(Number(seconds) / 60),
      'push-size': null,
      disk: Number(disk),
    };
    const line = (name: QuotaName): QuotaLine => {
      if (role === 'admin') return { used: used[name], cap: null, from: 'admin' };
      const mine = set[name];
      return mine === undefined
        ? { used: used[name], cap: defaults[name], from: 'default' }
        : { used: used[name], cap: mine, from: 'user' };
    };
    return {
      user,
      quotas: {
        apps: line('apps'),
        instances: line('instances'),
        'process-types': line('process-types'),
        'build-minutes': line('build-minutes'),
        'push-size': line('push-size'),
        disk: line('disk'),
      },
      buildSeconds: Number(seconds),
    };
  }

  /**
   * Whether the app's owner may start one more build today: resolves the
   * owner, or throws BERTH_E_QUOTA when their build minutes are used up
   * (BERTH_E_APP_NOT_FOUND without the app). The minutes are counted when
   * builds end, so builds started together may together go past the cap by
   * what they take; the next one is refused.
   */
  async admitBuild(app: string): Promise<{ owner: string }> {
    const [owner] = await admitBuild.run(this.ctx, [
      validate.appName(app),
      utcDay(this.ctx.now()),
      capArg(this.defaults['build-minutes']),
    ]);
    return { owner: String(owner) };
  }

  /**
   * The push-size and disk caps of the app's owner, and the repository
   * figures of the owner's apps as last recorded (BERTH_E_APP_NOT_FOUND
   * without the app). The push decides with them (services/platform/git/push-quota.ts).
   */
  async pushCaps(app: string): Promise<PushCaps> {
    const [owner, push, disk, figures] = await pushCaps.run(this.ctx, [
      validate.appName(app),
      capArg(this.defaults['push-size']),
      capArg(this.defaults.disk),
    ]);
    const size = (v: unknown) => (v === 'unlimited' ? null : Number(v));
    const repos: Record<string, number | undefined> = {};
    const list = figures as string[];
    for (let i = 0; i < list.length; i += 2) {
      const bytes = list[i + 1];
      repos[String(list[i])] = bytes === '' || bytes === undefined ? undefined : Number(bytes);
    }
    return { owner: String(owner), pushSize: size(push), disk: size(disk), repos };
  }

  /** Records the bytes the app's git repository takes now (measured by the caller). */
  async recordRepoBytes(app: string, bytes: number): Promise<void> {
    await recordRepo.run(this.ctx, [validate.appName(app), Math.max(0, Math.round(bytes))]);
  }

  /** Counts a build's time (ms, rounded up to the second) against the user's minutes of today. */
  async addBuildTime(user: string, ms: number): Promise<void> {
    const seconds = Math.max(0, Math.ceil(ms / 1000));
    await addBuildSeconds.run(this.ctx, [validate.userName(user), utcDay(this.ctx.now()), seconds]);
  }
}
