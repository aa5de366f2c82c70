// What a list of apps shows of each (the apps page, GET /api/v1/apps; issue
// 7), read for every app in one script, so one round trip however many apps
// there are: the newest release, the newest succeeded one, the version of the
// newest failed one, the types ps:stop stopped, the route table entry and the
// custom domains. Releases come back without their config snapshot: a list
// has no use for it, and the values stay in Redis.
import type { z } from 'zod';
import { BerthError } from '../errors.ts';
import * as validate from '../validate.ts';
import type { StoreContext } from './context.ts';
import { Script } from './lua.ts';
import { DeploySettingsSchema, decode, ReleaseSchema } from './records.ts';

/** The fields of a release a list of apps shows: no config, processes or healthchecks. */
const HEAD_FIELDS = [
  'app',
  'version',
  'image',
  'formation',
  'description',
  'by',
  'createdAt',
  'status',
  'error',
] as const;

const ReleaseHeadSchema = ReleaseSchema.pick({
  app: true,
  version: true,
  image: true,
  formation: true,
  description: true,
  by: true,
  createdAt: true,
  status: true,
  error: true,
});
export type ReleaseHead = z.output<typeof ReleaseHeadSchema>;

// ARGV[2]: the release fields, space-separated; ARGV[3..]: app names. The
// release scan stops once the three it looks for are found.
const read = new Script(
  'appStates.read',
  `
local fields = {}
for f in string.gmatch(ARGV[2], '%S+') do fields[#fields + 1] = f end
local out = {'ok'}
for i = 3, #ARGV do
  local app = ARGV[i]
  local latest, current, failed = '', '', ''
  for _, v in ipairs(redis.call('ZREVRANGE', K.releases(app), 0, -1)) do
    local status = redis.call('HGET', K.release(app, v), 'status')
    if latest == '' then latest = v end
    if current == '' and status == 'succeeded' then current = v end
    if failed == '' and status == 'failed' then failed = v end
    if current ~= '' and failed ~= '' then break end
  end
  local latestFields = latest ~= '' and redis.call('HMGET', K.release(app, latest), unpack(fields)) or {}
  local currentFields = (current ~= '' and current ~= latest) and redis.call('HMGET', K.release(app, current), unpack(fields)) or {}
  out[#out + 1] = {latest, latestFields, current, currentFields, failed,
    redis.call('HGET', K.app(app), 'stopped') or '',
    redis.call('GET', K.routes(app)) or '',
    redis.call('SMEMBERS', K.appDomains(app))}
end
return out
`,
);

export interface AppState {
  /** The newest release, whatever its status: the last deploy or change. */
  latest: ReleaseHead | undefined;
  /** The newest succeeded release: what should be running. */
  current: ReleaseHead | undefined;
  /** The version of the newest failed release, if any. */
  lastFailed: number | undefined;
  /** Process types ps:stop stopped (`_all_`: every type). */
  stopped: string[];
  /** The route table entry as stored (services/platform/routes/routes.ts parses it); undefined without one. */
  routes: string | undefined;
  /** Custom domains, sorted. */
  domains: string[];
}

export class AppStates {
  constructor(private readonly ctx: StoreContext) {}

  /** The state of each app named (apps without releases get undefined releases). */
  async read(apps: readonly string[]): Promise<Map<string, AppState>> {
    const result = new Map<string, AppState>();
    if (apps.length === 0) return result;
    for (const app of apps) validate.appName(app);
    const rows = await read.run(this.ctx, [HEAD_FIELDS.join(' '), ...apps]);
    rows.forEach((row, i) => {
      const app = apps[i] as string;
      const [latest, latestFields, current, currentFields, failed, stopped, routes, domains] =
        row as [string, unknown, string, unknown, string, string, string, unknown];
      const latestHead = this.head(app, latest, latestFields);
      result.set(app, {
        latest: latestHead,
        current: current === latest ? latestHead : this.head(app, current, currentFields),
        lastFailed: failed ? Number(failed) : undefined,
        stopped: decode(
          DeploySettingsSchema.shape.stopped,
          this.ctx.keys.app(app),
          stopped || undefined,
        ),
        routes: routes || undefined,
        domains: (Array.isArray(domains) ? domains.map(String) : []).sort(),
      });
    });
    return result;
  }

  private head(app: string, v: string, values: unknown): ReleaseHead | undefined {
    if (!v) return undefined;
    const list = Array.isArray(values) ? values : [];
    const record: Record<string, string> = {};
    HEAD_FIELDS.forEach((f, i) => {
      // HMGET answers nil (null here) for a field the hash lacks.
      const value = list[i];
      if (value !== null && value !== undefined) record[f] = String(value);
    });
    const key = this.ctx.keys.release(app, Number(v));
    const parsed = decode(ReleaseHeadSchema, key, record);
    if (parsed.app !== app || parsed.version !== Number(v)) {
      throw new BerthError('BERTH_E_STORE_CORRUPT', {
        key,
        reason: 'app or version does not match the key',
      });
    }
    return parsed;
  }
}
