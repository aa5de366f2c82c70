// The store: typed repositories over Redis, Berth's system of record. Build one
// from a connection and a key prefix (tests, services sharing a client) or
// with openStore(config), which connects, checks the schema version and owns
// the connection. docs/redis-keys.md describes every key.
//
// The repositories expect ioredis' default reply shapes (RESP2, or RESP3 with
// the "legacy" mapping).
import type { Redis } from 'ioredis';
import type { Config, QuotaDefaults } from '../config.ts';
import { BerthError } from '../errors.ts';
import { connectRedis } from '../redis.ts';
import { ApiTokens } from './api-tokens.ts';
import { AppStates } from './app-states.ts';
import { Apps } from './apps.ts';
import { Certs } from './certs.ts';
import { ConfigVarsRepo } from './config-vars.ts';
import type { StoreContext } from './context.ts';
import { Datastores } from './datastores.ts';
import { Domains } from './domains.ts';
import { checkPrefix, type KeyLayout, keyLayout, SCHEMA_VERSION } from './keys.ts';
import { Script } from './lua.ts';
import { Metrics } from './metrics.ts';
import { Networks } from './networks.ts';
import { Notifications } from './notifications.ts';
import { PlatformSettings } from './platform-settings.ts';
import { Quotas } from './quotas.ts';
import { Releases } from './releases.ts';
import { SignIns } from './sign-ins.ts';
import { Users } from './users.ts';

export { type TokenCheck, tokenId } from './api-tokens.ts';
export type { AppState, ReleaseHead } from './app-states.ts';
export type { NewApp } from './apps.ts';
export type { CertInput, CertPatch } from './certs.ts';
export type { DatastoreLink } from './datastores.ts';
export { checkDurability } from './durability.ts';
export { type KeyLayout, keyLayout, LUA_LAYOUT, SCHEMA_VERSION } from './keys.ts';
export * from './notifications.ts';
export type { StorageEntry } from './platform-settings.ts';
export type { PushCaps, QuotaLine, QuotaPatch, QuotaReport } from './quotas.ts';
export * from './records.ts';
export type { NewRelease } from './releases.ts';
export {
  ApiTokens,
  AppStates,
  Apps,
  Certs,
  ConfigVarsRepo,
  Datastores,
  Domains,
  Metrics,
  Networks,
  PlatformSettings,
  Quotas,
  Releases,
  SignIns,
  Users,
};

export interface StoreOptions {
  /** The clock for timestamps; default the system clock. */
  now?: () => Date;
  /** close() disconnects the client; default false (the caller owns it). */
  ownsConnection?: boolean;
  /**
   * The caps of users an admin set none for (config.quotas, BERTH_QUOTA_*),
   * enforced where apps and releases are made; default none (caps set per
   * user with quota:set still hold).
   */
  quotas?: QuotaDefaults;
}

// Claims an empty prefix for this schema, or reports the version already there.
const claimSchema = new Script(
  'schema.check',
  `
redis.call('SET', K.schema, ARGV[2], 'NX')
return {'ok', redis.call('GET', K.schema)}
`,
);

export class Store {
  readonly keys: KeyLayout;
  readonly apps: Apps;
  /** What lists of apps show of each, for many apps in one round trip. */
  readonly appStates: AppStates;
  readonly users: Users;
  readonly releases: Releases;
  readonly config: ConfigVarsRepo;
  readonly domains: Domains;
  readonly certs: Certs;
  /** Request counts the routers publish. */
  readonly metrics: Metrics;
  /** One-time sign-in links and browser sessions. */
  readonly signIns: SignIns;
  readonly apiTokens: ApiTokens;
  /** Shared networks admins made (network:create). */
  readonly networks: Networks;
  /** Per-user caps and what each user has against them. */
  readonly quotas: Quotas;
  /** Datastores (postgres:create) and their links to apps. */
  readonly datastores: Datastores;
  /** Each app's webhooks, the events waiting for them, their deliveries. */
  readonly notifications: Notifications;
  /** The platform-wide defaults (`--global`) and the global config vars. */
  readonly platform: PlatformSettings;
  private readonly ownsConnection: boolean;

  constructor(
    readonly redis: Redis,
    prefix: string,
    options: StoreOptions = {},
  ) {
    this.keys = keyLayout(checkPrefix(prefix));
    const ctx: StoreContext = {
      redis,
      keys: this.keys,
      now: options.now ?? (() => new Date()),
      ...(options.quotas ? { quotas: options.quotas } : {}),
    };
    this.apps = new Apps(ctx);
    this.appStates = new AppStates(ctx);
    this.users = new Users(ctx);
    this.releases = new Releases(ctx);
    this.config = new ConfigVarsRepo(ctx);
    this.domains = new Domains(ctx);
    this.certs = new Certs(ctx);
    this.metrics = new Metrics(ctx);
    this.signIns = new SignIns(ctx);
    this.apiTokens = new ApiTokens(ctx);
    this.networks = new Networks(ctx);
    this.quotas = new Quotas(ctx);
    this.datastores = new Datastores(ctx);
    this.notifications = new Notifications(ctx);
    this.platform = new PlatformSettings(ctx);
    this.ownsConnection = options.ownsConnection ?? false;
  }

  /**
   * Records this schema version under an empty prefix; BERTH_E_STORE_SCHEMA
   * when the data there was written by an incompatible Berth.
   */
  async checkSchema(): Promise<void> {
    const ctx = { redis: this.redis, keys: this.keys, now: () => new Date() };
    const [found] = await claimSchema.run(ctx, [SCHEMA_VERSION]);
    if (String(found) !== String(SCHEMA_VERSION)) {
      throw new BerthError('BERTH_E_STORE_SCHEMA', {
        prefix: this.keys.prefix,
        found: String(found),
        expected: SCHEMA_VERSION,
      });
    }
  }

  /** Disconnects when the store opened the connection itself; otherwise leaves it to its owner. */
  async close(): Promise<void> {
    if (!this.ownsConnection) return;
    // QUIT waits for a reply; with Redis down it would wait out every reconnect attempt.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }
}

/**
 * Connects to config.redisUrl, checks the schema under config.redisPrefix and
 * returns a store that owns the connection (close() it), enforcing
 * config.quotas when given.
 * BERTH_E_REDIS_UNAVAILABLE when Redis does not answer.
 */
export async function openStore(
  config: Pick<Config, 'redisUrl' | 'redisPrefix'> & Partial<Pick<Config, 'quotas'>>,
  options: Omit<StoreOptions, 'ownsConnection'> & {
    /** Connection errors after the start (ioredis reconnects by itself); default: ioredis logs them. */
    onError?: (error: Error) => void;
  } = {},
): Promise<Store> {
  const redis = await connectRedis(config.redisUrl);
  if (options.onError) redis.on('error', options.onError);
  const store = new Store(redis, config.redisPrefix, {
    ...options,
    ...(config.quotas ? { quotas: config.quotas } : {}),
    ownsConnection: true,
  });
  try {
    await store.checkSchema();
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}
