// Domains: one global hash domain -> app is the authority (a domain belongs to
// at most one app, and the router resolves a Host with one HGET), and a set
// per app mirrors it for listing and for destroy. Both change in one script.
import { BerthError } from '../errors.ts';
import * as validate from '../validate.ts';
import { execAll, type StoreContext } from './context.ts';
import { Script } from './lua.ts';

const add = new Script(
  'domains.add',
  `
local app, domain = ARGV[2], ARGV[3]
if redis.call('EXISTS', K.app(app)) == 0 then return {'BERTH_E_APP_NOT_FOUND', 'app', app} end
local holder = redis.call('HGET', K.domains, domain)
if holder == app then return {'ok', 0} end
if holder then return {'BERTH_E_DOMAIN_TAKEN', 'domain', domain, 'app', holder} end
redis.call('HSET', K.domains, domain, app)
redis.call('SADD', K.appDomains(app), domain)
redis.call('PUBLISH', K.routesChannel, app)
return {'ok', 1}
`,
);

const remove = new Script(
  'domains.remove',
  `
local app, domain = ARGV[2], ARGV[3]
if redis.call('EXISTS', K.app(app)) == 0 then return {'BERTH_E_APP_NOT_FOUND', 'app', app} end
if redis.call('HGET', K.domains, domain) ~= app then
  return {'BERTH_E_DOMAIN_NOT_FOUND', 'domain', domain, 'app', app}
end
redis.call('HDEL', K.domains, domain)
redis.call('SREM', K.appDomains(app), domain)
-- A certificate's metadata only means something while the domain is served.
redis.call('DEL', K.cert(domain))
redis.call('SREM', K.certs, domain)
redis.call('PUBLISH', K.certsChannel, domain)
redis.call('PUBLISH', K.routesChannel, app)
return {'ok'}
`,
);

export class Domains {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * Attaches a domain (canonical form returned) to the app. BERTH_E_DOMAIN_TAKEN,
   * with nothing changed, when another app has it; a no-op when this app has it.
   */
  async add(app: string, domain: string): Promise<string> {
    const name = validate.domain(domain);
    await add.run(this.ctx, [validate.appName(app), name]);
    return name;
  }

  /** Detaches the domain and forgets its certificate metadata; BERTH_E_DOMAIN_NOT_FOUND if not the app's. */
  async remove(app: string, domain: string): Promise<void> {
    await remove.run(this.ctx, [validate.appName(app), validate.domain(domain)]);
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
    const app = await this.ctx.redis.hget(this.ctx.keys.domains, validate.domain(domain));
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
