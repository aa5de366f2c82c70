// Domains: one global hash domain -> app is the authority (a domain belongs to
// at most one app, and the router resolves a Host with one HGET), and a set
// per app mirrors it for listing and for destroy. Both change in one script.
import { BerthError } from '../errors.ts';
import * as validate from '../validate.ts';
import { execAll, type StoreContext } from './context.ts';
import { Script } from './lua.ts';

// validate.appName's rule, in Lua (keep the two in step): is a label a name
// some app has or could be given, so that <label>.<global domain> is or may
// become its default host?
const APP_LIKE = `
local function app_like(label)
  return label ~= nil and #label <= 63 and label:match('^[a-z0-9][a-z0-9-]*$') ~= nil
    and label:sub(-1) ~= '-' and label:sub(1, 4) ~= 'xn--'
    and label:match('^[0-9]+$') == nil and label:match('^0x[0-9a-f]*$') == nil
end
`;

// A wildcard *.REST serves every host one label under REST that no app has
// exactly (an exact domain wins). So a wildcard and the names one label
// under it must belong to one owner's apps: no tenant may take a wildcard
// over another tenant's domain (their exact one wins, but every other name
// under it would be served by the wildcard's app), nor a name under another
// tenant's wildcard (it would take that name from their app). Two wildcards
// never overlap: *.b.x does not cover *.x's hosts, nor *.x *.b.x's.
// Returns the refusal, or nil.
const WILDCARD_OVERLAP = `
local function wildcard_overlap(app, domain, label, rest)
  if not rest then return nil end
  local owner = redis.call('HGET', K.app(app), 'owner')
  local function other(holder)
    return holder ~= app and redis.call('HGET', K.app(holder), 'owner') ~= owner
  end
  if label == '*' then
    local index = redis.call('HGETALL', K.domains)
    for i = 1, #index, 2 do
      local d, holder = index[i], index[i + 1]
      local l, r = d:match('^([^.]+)%.(.+)$')
      if r == rest and l ~= '*' and other(holder) then
        return {'BERTH_E_DOMAIN_WILDCARD_OVERLAP', 'domain', domain, 'other', d, 'app', holder}
      end
    end
  else
    local wildcard = '*.' .. rest
    local holder = redis.call('HGET', K.domains, wildcard)
    if holder and other(holder) then
      return {'BERTH_E_DOMAIN_WILDCARD_OVERLAP', 'domain', domain, 'other', wildcard, 'app', holder}
    end
  end
  return nil
end
`;

// One script for every change of an app's domains, so that adding, setting
// and removing several names is all-or-nothing: every name is checked before
// the first write (Redis does not roll back a script that fails half-way).
// ARGV: app, mode (add | set | remove), then the canonical names.
// Returns {'ok', added, removed}.
const change = new Script(
  'domains.change',
  `${APP_LIKE}
${WILDCARD_OVERLAP}
local app, mode = ARGV[2], ARGV[3]
local names = argv_from(4)
if redis.call('EXISTS', K.app(app)) == 0 then return {'BERTH_E_APP_NOT_FOUND', 'app', app} end
for _, domain in ipairs(names) do
  local holder = redis.call('HGET', K.domains, domain)
  if mode == 'remove' then
    if holder ~= app then return {'BERTH_E_DOMAIN_NOT_FOUND', 'domain', domain, 'app', app} end
  elseif holder and holder ~= app then
    return {'BERTH_E_DOMAIN_TAKEN', 'domain', domain, 'app', holder}
  elseif mode ~= 'remove' then
    -- Checked here, not by the caller, so a global domain added meanwhile counts.
    local label, rest = domain:match('^([^.]+)%.(.+)$')
    local overlap = wildcard_overlap(app, domain, label, rest)
    if overlap then return overlap end
    if label == '*' and redis.call('SISMEMBER', K.globalDomains, rest) == 1 then
      return {'BERTH_E_DOMAIN_RESERVED', 'domain', domain, 'base', rest,
        'reason', 'every APP.' .. rest .. ' is the default host of the app named APP'}
    end
    if redis.call('SISMEMBER', K.globalDomains, domain) == 1 then
      return {'BERTH_E_DOMAIN_RESERVED', 'domain', domain, 'base', domain, 'reason', 'it is a global domain'}
    end
    if rest and app_like(label) and redis.call('SISMEMBER', K.globalDomains, rest) == 1 then
      return {'BERTH_E_DOMAIN_RESERVED', 'domain', domain, 'base', rest,
        'reason', 'every APP.' .. rest .. ' is the default host of the app named APP'}
    end
  end
end
local added, removed = {}, {}
if mode == 'remove' then
  removed = names
else
  local wanted = {}
  for _, domain in ipairs(names) do
    wanted[domain] = true
    if redis.call('HGET', K.domains, domain) ~= app then
      redis.call('HSET', K.domains, domain, app)
      redis.call('SADD', K.appDomains(app), domain)
      added[#added + 1] = domain
    end
  end
  if mode == 'set' then
    for _, domain in ipairs(redis.call('SMEMBERS', K.appDomains(app))) do
      if not wanted[domain] then removed[#removed + 1] = domain end
    end
  end
end
for _, domain in ipairs(removed) do
  redis.call('SREM', K.appDomains(app), domain)
  -- The index is the authority: a stray set member must not take another app's domain.
  if redis.call('HGET', K.domains, domain) == app then
    redis.call('HDEL', K.domains, domain)
    -- A certificate's metadata only means something while the domain is served.
    redis.call('DEL', K.cert(domain))
    redis.call('SREM', K.certs, domain)
    redis.call('PUBLISH', K.certsChannel, domain)
  end
end
if #added + #removed > 0 then redis.call('PUBLISH', K.routesChannel, app) end
return {'ok', added, removed}
`,
);

// Global domains: every app is also served at <app>.<global>. Refused when
// an app's custom domain is the global domain itself or such a default host,
// which it would shadow. PUBLISH '*': every router reloads every app's hosts.
const addGlobal = new Script(
  'domains.addGlobal',
  `${APP_LIKE}
local names = argv_from(2)
local custom = redis.call('HGETALL', K.domains)
for _, global in ipairs(names) do
  for i = 1, #custom, 2 do
    local domain, app = custom[i], custom[i + 1]
    local label, rest = domain:match('^([^.]+)%.(.+)$')
    if domain == global or (rest == global and (app_like(label) or label == '*')) then
      return {'BERTH_E_DOMAIN_TAKEN', 'domain', domain, 'app', app}
    end
  end
end
local added = {}
for _, global in ipairs(names) do
  if redis.call('SADD', K.globalDomains, global) == 1 then added[#added + 1] = global end
end
if #added > 0 then redis.call('PUBLISH', K.routesChannel, '*') end
return {'ok', added}
`,
);

const removeGlobal = new Script(
  'domains.removeGlobal',
  `
local removed = {}
for _, global in ipairs(argv_from(2)) do
  if redis.call('SREM', K.globalDomains, global) == 1 then removed[#removed + 1] = global end
end
if #removed > 0 then redis.call('PUBLISH', K.routesChannel, '*') end
return {'ok', removed}
`,
);

/** What a change did: names newly the app's, and names it no longer has (sorted). */
export interface DomainChange {
  added: string[];
  removed: string[];
}

export class Domains {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * Attaches a domain (canonical form returned) to the app. BERTH_E_DOMAIN_TAKEN,
   * with nothing changed, when another app has it; a no-op when this app has it.
   */
  async add(app: string, domain: string): Promise<string> {
    const name = validate.domainOrWildcard(domain);
    await this.change(app, 'add', [name]);
    return name;
  }

  /** Detaches the domain and forgets its certificate metadata; BERTH_E_DOMAIN_NOT_FOUND if not the app's. */
  async remove(app: string, domain: string): Promise<void> {
    await this.change(app, 'remove', [domain]);
  }

  /**
   * Attaches every name, or none: BERTH_E_DOMAIN_TAKEN (naming the first
   * taken one and its app) with nothing changed when another app has any.
   */
  addMany(app: string, domains: readonly string[]): Promise<DomainChange> {
    return this.change(app, 'add', domains);
  }

  /**
   * Makes exactly these the app's domains (none: clears them), all or nothing
   * as addMany; the ones dropped lose their certificate metadata.
   */
  set(app: string, domains: readonly string[]): Promise<DomainChange> {
    return this.change(app, 'set', domains);
  }

  /** Detaches every name, or none: BERTH_E_DOMAIN_NOT_FOUND when any is not the app's. */
  removeMany(app: string, domains: readonly string[]): Promise<DomainChange> {
    return this.change(app, 'remove', domains);
  }

  /** The global domains, sorted. */
  async globals(): Promise<string[]> {
    return (await this.ctx.redis.smembers(this.ctx.keys.globalDomains)).sort();
  }

  /**
   * Adds global domains, all or none: BERTH_E_DOMAIN_TAKEN (naming the app)
   * when an app's custom domain is one of them or <label>.<one of them>. The names added.
   */
  async addGlobals(domains: readonly string[]): Promise<string[]> {
    const names = [...new Set(domains.map(validate.domain))];
    const [added] = await this.withHolder(addGlobal.run(this.ctx, names));
    return (added as string[]).sort();
  }

  /** Removes global domains; the names that were global. */
  async removeGlobals(domains: readonly string[]): Promise<string[]> {
    const names = [...new Set(domains.map(validate.domain))];
    const [removed] = await removeGlobal.run(this.ctx, names);
    return (removed as string[]).sort();
  }

  private async change(
    app: string,
    mode: 'add' | 'set' | 'remove',
    domains: readonly string[],
  ): Promise<DomainChange> {
    const names = [...new Set(domains.map(validate.domainOrWildcard))];
    const [added, removed] = await this.withHolder(
      change.run(this.ctx, [validate.appName(app), mode, ...names]),
    );
    return { added: (added as string[]).sort(), removed: (removed as string[]).sort() };
  }

  private async withHolder<T>(running: Promise<T>): Promise<T> {
    try {
      return await running;
    } catch (e) {
      // The message names the holder; callers that may not show it replace the error.
      if (e instanceof BerthError && e.code === 'BERTH_E_DOMAIN_TAKEN') {
        const { domain, app: holder } = e.params;
        throw new BerthError('BERTH_E_DOMAIN_TAKEN', {
          domain: String(domain),
          app: String(holder),
          holder: `app "${holder}"`,
        });
      }
      if (e instanceof BerthError && e.code === 'BERTH_E_DOMAIN_WILDCARD_OVERLAP') {
        const { domain, other, app: holder } = e.params;
        throw new BerthError('BERTH_E_DOMAIN_WILDCARD_OVERLAP', {
          domain: String(domain),
          other: String(other),
          app: String(holder),
          holder: `app "${holder}"`,
        });
      }
      throw e;
    }
  }

  /** The app's domains, sorted; BERTH_E_APP_NOT_FOUND without the app. */
  async list(app: string): Promise<string[]> {
    validate.appName(app);
    const { redis, keys } = this.ctx;
    const [exists, members] = await execAll(
      redis.multi().exists(keys.app(app)).smembers(keys.appDomains(app)),
    );
    if (exists !== 1) throw new BerthError('BERTH_E_APP_NOT_FOUND', { app });
    return (members as string[]).sort();
  }

  /** The app a domain belongs to (one HGET, for the router), or undefined. */
  async owner(domain: string): Promise<string | undefined> {
    const app = await this.ctx.redis.hget(this.ctx.keys.domains, validate.domainOrWildcard(domain));
    return app === null ? undefined : this.checkApp(domain, app);
  }

  /** The whole index, domain -> app: the router's table at start. */
  async all(): Promise<Map<string, string>> {
    const index = await this.ctx.redis.hgetall(this.ctx.keys.domains);
    return new Map(
      Object.entries(index)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([domain, app]) => [domain, this.checkApp(domain, app)]),
    );
  }

  private checkApp(domain: string, app: string): string {
    try {
      return validate.appName(app);
    } catch {
      throw new BerthError('BERTH_E_STORE_CORRUPT', {
        key: this.ctx.keys.domains,
        reason: `${domain} maps to an invalid app name`,
      });
    }
  }
}
