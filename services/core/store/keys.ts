// The Redis key layout, in one place (docs/redis-keys.md is its table).
// Every key starts with the prefix, so several Berth instances (or test files)
// can share one Redis. Names never contain ':' (validate.ts forbids it), so
// `app:NAME:...` can never collide between two apps.
//
// The Lua scripts need the same layout for keys they only learn while running
// (one key per release, per domain's certificate, per SSH key), so LUA_LAYOUT
// below mirrors these functions; the integration test checks the two agree.
// Scripts therefore touch keys they did not declare in KEYS: fine on the one
// standalone Redis Berth uses, not portable to Redis Cluster.

/** Bumped when the layout or a record's shape changes incompatibly. */
export const SCHEMA_VERSION = 1;

export interface KeyLayout {
  readonly prefix: string;
  /** string: the schema version of everything under the prefix. */
  readonly schema: string;
  /** set: every app name. */
  readonly apps: string;
  /** hash: an app's record. */
  app(app: string): string;
  /** set: user names allowed to push and run commands on the app besides its owner. */
  collaborators(app: string): string;
  /** hash: env key -> value. */
  config(app: string): string;
  /** string (integer): the last release version allocated. */
  releaseSeq(app: string): string;
  /** sorted set: release versions (member and score are the version). */
  releases(app: string): string;
  /** hash: one release. */
  release(app: string, version: number): string;
  /** set: the app's domains (mirror of the global index). */
  appDomains(app: string): string;
  /** sorted set: the app's newest builds (member = build id, score = enqueue time in ms). */
  builds(app: string): string;
  /** hash: the app's request counts per minute, `<minute>.<field>` → count (store/metrics.ts). */
  metrics(app: string): string;
  /** sorted set: the minutes the metrics hash holds (score = member = minute number). */
  metricsMinutes(app: string): string;
  /** hash: the app's request counts since it was created, field → count. */
  metricsTotal(app: string): string;
  /** string (JSON): the app's route table entry, written by the deployer, read by the router. */
  routes(app: string): string;
  /**
   * pub/sub channel: an app's name, published whenever what the router serves
   * for it may have changed (its routes, its domains, the app itself); `*`
   * when every app's hosts may have (the global domains changed).
   */
  readonly routesChannel: string;
  /** hash: domain -> app, the global index that makes a domain belong to one app. */
  readonly domains: string;
  /** set: global domains: every app is also served at <app>.<global domain>. */
  readonly globalDomains: string;
  /** hash: certificate metadata of a domain. */
  cert(domain: string): string;
  /** set: domains that have certificate metadata (the renewer's work list). */
  readonly certs: string;
  /**
   * pub/sub channel: a domain, published whenever its certificate may have
   * changed (set, removed, or the domain removed): routers drop what they hold.
   */
  readonly certsChannel: string;
  /** string with a TTL: the key authorization of a pending ACME HTTP-01 challenge. */
  acmeChallenge(token: string): string;
  /** string with a TTL: held while an ACME order for the domain runs (one at a time). */
  acmeLock(domain: string): string;
  /** set: every user name. */
  readonly users: string;
  /** hash: a user's record. */
  user(user: string): string;
  /** set: fingerprints of a user's SSH keys. */
  userKeys(user: string): string;
  /** hash: one SSH key, found in O(1) by fingerprint. */
  sshKey(fingerprint: string): string;
  /** string with a TTL: the user a one-time sign-in link (by its secret's SHA-256) signs in. */
  loginLink(hash: string): string;
  /** hash with a TTL: a browser session, by the SHA-256 of its cookie. */
  session(hash: string): string;
  /** hash: one API token, by its id (the first 16 hex digits of its secret's SHA-256). */
  apiToken(id: string): string;
  /** set: ids of a user's API tokens. */
  userTokens(user: string): string;
  /** hash: the caps an admin set for a user (quota:set), quota → count or `unlimited`. */
  userQuotas(user: string): string;
  /** hash: the build time a user's apps used today: `day` (UTC, YYYY-MM-DD), `seconds`. */
  userBuildUsage(user: string): string;
  /** set: ids of every API token (auth:tokens --all). */
  readonly apiTokens: string;
  /** hash: shared network name -> its record (JSON), network:create. */
  readonly networks: string;
  /** hash: a kind's datastores (postgres:create), name -> its record (JSON). */
  datastores(kind: string): string;
  /** hash: the apps a datastore is linked to, app -> alias (postgres:link). */
  datastoreLinks(kind: string, name: string): string;
  /** hash: the app's webhooks (notifications:add), id → record (JSON). */
  hooks(app: string): string;
  /** hash: the app's newest webhook deliveries, delivery id → record (JSON). */
  deliveries(app: string): string;
  /** sorted set: the delivery ids the deliveries hash holds (score: when first tried, ms). */
  deliveryOrder(app: string): string;
  /** stream: events of apps that have webhooks, waiting to be delivered (the outbox). */
  readonly events: string;
  /** string with a TTL: an event already raised for `what` (a crash loop), so it is raised once. */
  eventOnce(app: string, what: string): string;
  /** hash: the platform-wide defaults admins set with `--global` (records.ts GlobalSettingsSchema). */
  readonly globalSettings: string;
  /** hash: global config vars (config:set --global), env key -> value, under every app's own. */
  readonly globalConfig: string;
  /** hash: named host directories admins registered (storage:create), name -> record (JSON). */
  readonly storageEntries: string;
}

export function keyLayout(prefix: string): KeyLayout {
  return {
    prefix,
    schema: `${prefix}schema`,
    apps: `${prefix}apps`,
    app: (a) => `${prefix}app:${a}`,
    collaborators: (a) => `${prefix}app:${a}:collaborators`,
    config: (a) => `${prefix}app:${a}:config`,
    releaseSeq: (a) => `${prefix}app:${a}:release-seq`,
    releases: (a) => `${prefix}app:${a}:releases`,
    release: (a, v) => `${prefix}app:${a}:release:${v}`,
    appDomains: (a) => `${prefix}app:${a}:domains`,
    builds: (a) => `${prefix}app:${a}:builds`,
    routes: (a) => `${prefix}app:${a}:routes`,
    metrics: (a) => `${prefix}app:${a}:metrics`,
    metricsMinutes: (a) => `${prefix}app:${a}:metrics-minutes`,
    metricsTotal: (a) => `${prefix}app:${a}:metrics-total`,
    routesChannel: `${prefix}routes`,
    domains: `${prefix}domains`,
    globalDomains: `${prefix}global-domains`,
    cert: (d) => `${prefix}cert:${d}`,
    certs: `${prefix}certs`,
    certsChannel: `${prefix}certs-changed`,
    acmeChallenge: (t) => `${prefix}acme-challenge:${t}`,
    acmeLock: (d) => `${prefix}acme-lock:${d}`,
    users: `${prefix}users`,
    user: (u) => `${prefix}user:${u}`,
    userKeys: (u) => `${prefix}user:${u}:keys`,
    sshKey: (fp) => `${prefix}key:${fp}`,
    loginLink: (h) => `${prefix}login:${h}`,
    session: (h) => `${prefix}session:${h}`,
    apiToken: (id) => `${prefix}token:${id}`,
    userTokens: (u) => `${prefix}user:${u}:tokens`,
    userQuotas: (u) => `${prefix}user:${u}:quotas`,
    userBuildUsage: (u) => `${prefix}user:${u}:build-usage`,
    apiTokens: `${prefix}tokens`,
    networks: `${prefix}networks`,
    datastores: (k) => `${prefix}datastores:${k}`,
    datastoreLinks: (k, n) => `${prefix}datastore:${k}:${n}:links`,
    hooks: (a) => `${prefix}app:${a}:hooks`,
    deliveries: (a) => `${prefix}app:${a}:deliveries`,
    deliveryOrder: (a) => `${prefix}app:${a}:delivery-order`,
    events: `${prefix}events`,
    eventOnce: (a, w) => `${prefix}app:${a}:event-once:${w}`,
    globalSettings: `${prefix}global-settings`,
    globalConfig: `${prefix}global-config`,
    storageEntries: `${prefix}storage-entries`,
  };
}

/**
 * The same layout in Lua, prepended to every script. Scripts receive the
 * prefix as ARGV[1]; their own arguments start at ARGV[2].
 */
export const LUA_LAYOUT = `
local P = ARGV[1]
local K = {}
K.schema = P .. 'schema'
K.apps = P .. 'apps'
function K.app(a) return P .. 'app:' .. a end
function K.collaborators(a) return P .. 'app:' .. a .. ':collaborators' end
function K.config(a) return P .. 'app:' .. a .. ':config' end
function K.releaseSeq(a) return P .. 'app:' .. a .. ':release-seq' end
function K.releases(a) return P .. 'app:' .. a .. ':releases' end
function K.release(a, v) return P .. 'app:' .. a .. ':release:' .. v end
function K.appDomains(a) return P .. 'app:' .. a .. ':domains' end
function K.builds(a) return P .. 'app:' .. a .. ':builds' end
function K.routes(a) return P .. 'app:' .. a .. ':routes' end
function K.metrics(a) return P .. 'app:' .. a .. ':metrics' end
function K.metricsMinutes(a) return P .. 'app:' .. a .. ':metrics-minutes' end
function K.metricsTotal(a) return P .. 'app:' .. a .. ':metrics-total' end
K.routesChannel = P .. 'routes'
K.domains = P .. 'domains'
K.globalDomains = P .. 'global-domains'
function K.cert(d) return P .. 'cert:' .. d end
K.certs = P .. 'certs'
K.certsChannel = P .. 'certs-changed'
function K.acmeChallenge(t) return P .. 'acme-challenge:' .. t end
function K.acmeLock(d) return P .. 'acme-lock:' .. d end
K.users = P .. 'users'
function K.user(u) return P .. 'user:' .. u end
function K.userKeys(u) return P .. 'user:' .. u .. ':keys' end
function K.sshKey(f) return P .. 'key:' .. f end
function K.loginLink(h) return P .. 'login:' .. h end
function K.session(h) return P .. 'session:' .. h end
function K.apiToken(id) return P .. 'token:' .. id end
function K.userTokens(u) return P .. 'user:' .. u .. ':tokens' end
function K.userQuotas(u) return P .. 'user:' .. u .. ':quotas' end
function K.userBuildUsage(u) return P .. 'user:' .. u .. ':build-usage' end
K.apiTokens = P .. 'tokens'
K.networks = P .. 'networks'
function K.datastores(k) return P .. 'datastores:' .. k end
function K.datastoreLinks(k, n) return P .. 'datastore:' .. k .. ':' .. n .. ':links' end
function K.hooks(a) return P .. 'app:' .. a .. ':hooks' end
function K.deliveries(a) return P .. 'app:' .. a .. ':deliveries' end
function K.deliveryOrder(a) return P .. 'app:' .. a .. ':delivery-order' end
K.events = P .. 'events'
function K.eventOnce(a, w) return P .. 'app:' .. a .. ':event-once:' .. w end
K.globalSettings = P .. 'global-settings'
K.globalConfig = P .. 'global-config'
K.storageEntries = P .. 'storage-entries'
`;

const PREFIX = /^[A-Za-z0-9_.:-]{1,128}$/;

/** A prefix is part of every key and of SCAN patterns, so it carries no glob characters. */
export function checkPrefix(prefix: string): string {
  if (!PREFIX.test(prefix)) {
    throw new Error(
      `invalid Redis key prefix ${JSON.stringify(prefix)}: use letters, digits, _ . : -`,
    );
  }
  return prefix;
}
