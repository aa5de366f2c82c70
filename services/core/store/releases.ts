// Releases: v1, v2, ... per app. A release is image + config + formation; every
// change to one of them makes a new release, so a release is also the history
// of the app. Creating one allocates the version and writes the record in one
// script, so concurrent deploys and config changes get distinct consecutive
// versions and each release's config is exactly the config at that moment.
import { BerthError } from '../errors.ts';
import * as validate from '../validate.ts';
import { execAll, isEmpty, pairsToObject, type StoreContext } from './context.ts';
import { Script } from './lua.ts';
import { capArg, quotaScript } from './quotas.ts';
import {
  type ConfigVars,
  decode,
  type Formation,
  FormationSchema,
  type Processes,
  ProcessesSchema,
  RELEASE_SOURCE,
  RELEASE_STATUSES,
  type Release,
  ReleaseSchema,
  type ReleaseStatus,
} from './records.ts';

export interface NewRelease {
  /** Omitted: the image of the base release (see create). null: no image. */
  image?: string | null;
  /** Omitted: the formation of the base release, or {} for the first release. */
  formation?: Formation;
  /** Omitted: the process types of the base release, or {} (they come with a new image). */
  processes?: Processes;
  /** Omitted: those of the base release (they come with a new image, from its app.json). */
  healthchecks?: Record<string, unknown[]>;
  /** app.json's cron tasks. Omitted: those of the base release (they come with a new image). */
  cron?: unknown[];
  /** Omitted: the base release's. null: the formation is ps:scale's again. */
  formationFrom?: 'app.json' | null;
  /**
   * Omitted: the app's config now. Given: it replaces the app's config too,
   * in the same step (a rollback takes the old release's config back).
   */
  config?: ConfigVars;
  description: string;
  by: string;
  /** Default 'pending'; the deployer marks it succeeded or failed. */
  status?: ReleaseStatus;
  /** What the image was made from (RELEASE_SOURCE): `commit:<sha>` or `image:<ref>`. */
  source?: string | null;
  /** The build that made it (a push's), for its notifications. */
  build?: string;
  /** A rollback: the version it takes back (its success is `deploy.rolled-back`). */
  rollbackTo?: number;
}

const create = quotaScript(
  'releases.create',
  `
local app, imageMode, image, formation = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local description, by, createdAt, status, processes, newConfig, checks = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local instancesDefault, typesDefault, formationFrom, source = ARGV[13], ARGV[14], ARGV[15], ARGV[16]
local cron = ARGV[17]
local build, rollbackTo = ARGV[18], ARGV[19]
if redis.call('EXISTS', K.app(app)) == 0 then return {'BERTH_E_APP_NOT_FOUND', 'app', app} end
-- The base is the newest release that did not fail: pending ones are what is being rolled out.
local base
for _, v in ipairs(redis.call('ZREVRANGE', K.releases(app), 0, -1)) do
  if redis.call('HGET', K.release(app, v), 'status') ~= 'failed' then base = K.release(app, v) break end
end
if imageMode == 'inherit' then image = base and redis.call('HGET', base, 'image') or false end
if imageMode == 'none' then image = false end
if formation == '' then formation = base and redis.call('HGET', base, 'formation') or '{}' end
if processes == '' then processes = base and redis.call('HGET', base, 'processes') or '{}' end
if checks == '' then checks = base and redis.call('HGET', base, 'healthchecks') or '{}' end
if cron == '' then cron = base and redis.call('HGET', base, 'cron') or '[]' end
if formationFrom == '' then formationFrom = base and redis.call('HGET', base, 'formationFrom') or 'none' end
-- An image keeps what it was made from, whichever release runs it.
if source == '' and imageMode == 'inherit' then source = base and redis.call('HGET', base, 'source') or '' end
-- The owner's quotas, against the formation this release runs: only a change
-- that adds instances or types is checked, so a deploy, a config change or a
-- scale-down still goes through for a user an admin has since capped lower.
local owner = redis.call('HGET', K.app(app), 'owner')
local ncap = quota_cap(owner, 'instances', instancesDefault)
local tcap = quota_cap(owner, 'process-types', typesDefault)
if ncap or tcap then
  local n, types = formation_size(formation)
  local wasN, wasTypes = formation_size(base and redis.call('HGET', base, 'formation'))
  if tcap and types > wasTypes and types > tcap then
    return quota_error(owner, 'process-types', tcap, app .. ' would run ' .. types .. ' process types',
      'scale a type of ' .. app .. ' to 0 first')
  end
  if ncap and n > wasN then
    local total = n
    for _, other in ipairs(owned_apps(owner)) do
      if other ~= app then total = total + (app_size(other)) end
    end
    if total > ncap then
      return quota_error(owner, 'instances', ncap, 'the apps of ' .. owner .. ' would run ' .. total .. ' instances',
        'scale an app down first (ps:scale APP TYPE=N)')
    end
  end
end
if newConfig ~= '' then
  redis.call('DEL', K.config(app))
  for k, v in pairs(cjson.decode(newConfig)) do redis.call('HSET', K.config(app), k, v) end
end
local vars = redis.call('HGETALL', K.config(app))
local config = {}
for i = 1, #vars, 2 do config[vars[i]] = vars[i + 1] end
local version = redis.call('INCR', K.releaseSeq(app))
local key = K.release(app, version)
redis.call('HSET', key, 'app', app, 'version', version, 'config', cjson.encode(config),
  'formation', formation, 'processes', processes, 'healthchecks', checks, 'description', description, 'by', by, 'createdAt', createdAt, 'status', status)
if image then redis.call('HSET', key, 'image', image) end
if formationFrom ~= 'none' then redis.call('HSET', key, 'formationFrom', formationFrom) end
if image and source ~= '' then redis.call('HSET', key, 'source', source) end
if cron ~= '[]' then redis.call('HSET', key, 'cron', cron) end
if build ~= '' then redis.call('HSET', key, 'build', build) end
if rollbackTo ~= '' then redis.call('HSET', key, 'rollbackTo', rollbackTo) end
redis.call('ZADD', K.releases(app), version, version)
-- A release no build made (a rollback, a config change, a scale) starts its
-- deploy here; a push's started when the builder took its build.
if build == '' and status == 'pending' then
  local data = {at = createdAt, stage = 'release', version = version, status = status, description = description}
  if rollbackTo ~= '' then data.rollbackTo = tonumber(rollbackTo) end
  emit_event(app, 'deploy.started', cjson.encode(data))
end
return {'ok', redis.call('HGETALL', key)}
`,
);

const setStatus = new Script(
  'releases.setStatus',
  `
local app, version, status, err, at = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local key = K.release(app, version)
if redis.call('EXISTS', key) == 0 then
  return {'BERTH_E_RELEASE_NOT_FOUND', 'app', app, 'version', 'v' .. version}
end
redis.call('HSET', key, 'status', status)
if err ~= '' then redis.call('HSET', key, 'error', err)
else redis.call('HDEL', key, 'error') end
-- How the deploy ended, for the app's webhooks, in the same step as the status.
if status ~= 'pending' then
  local rollbackTo = redis.call('HGET', key, 'rollbackTo')
  local event = 'deploy.succeeded'
  if status == 'failed' then event = 'deploy.failed' elseif rollbackTo then event = 'deploy.rolled-back' end
  local data = {at = at, stage = 'release', version = tonumber(version), status = status,
    description = redis.call('HGET', key, 'description')}
  if err ~= '' then data.error = err end
  if rollbackTo then data.rollbackTo = tonumber(rollbackTo) end
  local build = redis.call('HGET', key, 'build')
  if build then data.build = build end
  emit_event(app, event, cjson.encode(data))
end
return {'ok'}
`,
);

// Newest first: up to ARGV[3] releases, only those with status ARGV[4] when it is set.
const find = new Script(
  'releases.find',
  `
local app, limit, status = ARGV[2], tonumber(ARGV[3]), ARGV[4]
if redis.call('EXISTS', K.app(app)) == 0 then return {'BERTH_E_APP_NOT_FOUND', 'app', app} end
local out = {'ok'}
for _, v in ipairs(redis.call('ZREVRANGE', K.releases(app), 0, -1)) do
  if #out > limit then break end
  local key = K.release(app, v)
  if status == '' or redis.call('HGET', key, 'status') == status then
    out[#out + 1] = {v, redis.call('HGETALL', key)}
  end
end
return out
`,
);

// Registries, names, tags and digests; no spaces or shell metacharacters.
const IMAGE = /^[a-z0-9][a-z0-9._/:@-]{0,254}$/;

function invalid(kind: string, value: string, reason: string): never {
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value).slice(1, -1);
  throw new BerthError('BERTH_E_INVALID_NAME', { kind, value: shown, reason });
}

function status(value: string): ReleaseStatus {
  if (!(RELEASE_STATUSES as readonly string[]).includes(value)) {
    invalid('release status', value, `use ${RELEASE_STATUSES.join(', ')}`);
  }
  return value as ReleaseStatus;
}

function buildId(value: string): string {
  if (!/^[a-z0-9]{8,40}$/.test(value)) invalid('build id', value, 'not a build id');
  return value;
}

function version(value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    invalid('release version', String(value), 'use 1, 2, ...');
  return value;
}

export class Releases {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * Allocates the next version and writes the release, with the app's current
   * config as its snapshot. Image and formation default to those of the base
   * release: the newest one that did not fail. BERTH_E_QUOTA when the
   * formation would take the owner's apps past their instances quota, or
   * the app past its process types quota.
   */
  async create(app: string, input: NewRelease): Promise<Release> {
    validate.appName(app);
    const { image } = input;
    if (typeof image === 'string' && !IMAGE.test(image))
      invalid('image', image, 'not an image reference');
    const imageMode = image === undefined ? 'inherit' : image === null ? 'none' : 'set';
    let formation = '';
    if (input.formation !== undefined) {
      const checked = FormationSchema.safeParse(input.formation);
      if (!checked.success) {
        invalid(
          'formation',
          JSON.stringify(input.formation),
          'use process types with counts 0-1000',
        );
      }
      formation = JSON.stringify(checked.data);
    }
    let processes = '';
    if (input.processes !== undefined) {
      const checked = ProcessesSchema.safeParse(input.processes);
      if (!checked.success) {
        invalid(
          'processes',
          JSON.stringify(input.processes).slice(0, 80),
          'use process types with commands',
        );
      }
      processes = JSON.stringify(checked.data);
    }
    let config = '';
    if (input.config !== undefined) {
      for (const [key, value] of Object.entries(input.config)) {
        validate.envKey(key);
        if (typeof value !== 'string' || value.includes('\0'))
          invalid('config value of', key, 'not a text without NUL');
      }
      config = JSON.stringify(input.config);
    }
    if (input.source != null && !RELEASE_SOURCE.test(input.source)) {
      invalid('release source', input.source, 'use commit:<sha> or image:<reference>');
    }
    // Descriptions are printed in release listings: one line, no control characters.
    if (/[\x00-\x1f\x7f]/.test(input.description) || input.description.length > 500) {
      invalid('release description', input.description, 'one line of at most 500 characters');
    }
    const args = [
      app,
      imageMode,
      image ?? '',
      formation,
      input.description,
      validate.userName(input.by),
      this.ctx.now().toISOString(),
      status(input.status ?? 'pending'),
      processes,
      config,
      input.healthchecks === undefined ? '' : JSON.stringify(input.healthchecks),
      capArg(this.ctx.quotas?.instances),
      capArg(this.ctx.quotas?.processTypes),
      input.formationFrom === undefined ? '' : (input.formationFrom ?? 'none'),
      input.source ?? '',
      input.cron === undefined ? '' : JSON.stringify(input.cron),
      input.build === undefined ? '' : buildId(input.build),
      input.rollbackTo === undefined ? '' : version(input.rollbackTo),
    ];
    const [hash] = await create.run(this.ctx, args);
    const record = pairsToObject(hash);
    return decode(ReleaseSchema, this.ctx.keys.release(app, Number(record.version)), record);
  }

  async setStatus(
    app: string,
    releaseVersion: number,
    releaseStatus: ReleaseStatus,
    /** Why it failed: one line, kept with the release (logs:failed, releases:info). */
    error?: string,
  ): Promise<void> {
    const reason = (error ?? '').replace(/[\r\n]+/g, ' ').slice(0, 1000);
    const args = [
      validate.appName(app),
      version(releaseVersion),
      status(releaseStatus),
      reason,
      this.ctx.now().toISOString(),
    ];
    await setStatus.run(this.ctx, args);
  }

  /** One release, undefined when the app has no such version; BERTH_E_APP_NOT_FOUND without the app. */
  async get(app: string, releaseVersion: number): Promise<Release | undefined> {
    validate.appName(app);
    version(releaseVersion);
    const { redis, keys } = this.ctx;
    const key = keys.release(app, releaseVersion);
    const [exists, hash] = await execAll(redis.multi().exists(keys.app(app)).hgetall(key));
    if (exists !== 1) throw new BerthError('BERTH_E_APP_NOT_FOUND', { app });
    const record = hash as Record<string, string>;
    return isEmpty(record) ? undefined : this.parse(app, releaseVersion, record);
  }

  /** The newest releases first, at most `limit`. */
  async list(app: string, { limit = 100 }: { limit?: number } = {}): Promise<Release[]> {
    return this.find(app, limit, '');
  }

  /** The newest release, whatever its status. */
  async latest(app: string): Promise<Release | undefined> {
    return (await this.find(app, 1, ''))[0];
  }

  /** The newest release that failed (logs:failed). */
  async lastFailed(app: string): Promise<Release | undefined> {
    return (await this.find(app, 1, 'failed'))[0];
  }

  /** The newest succeeded release: what should be running. */
  async current(app: string): Promise<Release | undefined> {
    return (await this.find(app, 1, 'succeeded'))[0];
  }

  private async find(app: string, limit: number, only: ReleaseStatus | ''): Promise<Release[]> {
    validate.appName(app);
    const rows = await find.run(this.ctx, [app, Math.max(1, Math.floor(limit)), only]);
    return rows.map((row) => {
      const [v, hash] = row as [string, unknown];
      return this.parse(app, Number(v), pairsToObject(hash));
    });
  }

  private parse(app: string, v: number, hash: Record<string, string>): Release {
    const key = this.ctx.keys.release(app, v);
    const release = decode(ReleaseSchema, key, hash);
    if (release.app !== app || release.version !== v) {
      throw new BerthError('BERTH_E_STORE_CORRUPT', {
        key,
        reason: 'app or version does not match the key',
      });
    }
    return release;
  }
}
