// Berth's configuration: the BERTH_* variables of the operator contract
// (docs/configuration.md), read and validated once at start, then passed down
// as a frozen object. Nothing else in Berth reads process.env; child processes
// get their configuration through `configToEnv`.
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { hostPath } from './docker-options.ts';
import { BerthError, type ErrorCode } from './errors.ts';
import { DATA_LAYOUT } from './paths.ts';
import * as validate from './validate.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  /** Git repositories, build logs, certificates, Redis' files when Berth runs Redis. */
  readonly dataDir: string;
  /** Apps are served at <app>.<domain>; the status page at the bare domain. */
  readonly domain: string;
  /**
   * Where the status page and JSON API are served through the router:
   * BERTH_STATUS_HOST, else the bare BERTH_DOMAIN. Only this host reaches them.
   */
  readonly statusHost: string;
  readonly sshPort: number;
  readonly httpPort: number;
  readonly httpsPort: number;
  /** The status page and JSON API on loopback, for the admin. */
  readonly webPort: number;
  /** Prometheus' /metrics on loopback, for the admin (never behind the router). */
  readonly metricsPort: number;
  readonly redisUrl: string;
  /** Every Redis key Berth writes starts with this, so instances can share a Redis. */
  readonly redisPrefix: string;
  readonly acmeDirectoryUrl: string;
  readonly acmeEmail: string | undefined;
  /** Fetch an HTTP-01 answer from this host before the CA is asked to (off where the host cannot resolve app domains). */
  readonly acmeSelfCheck: boolean;
  /** letsencrypt:enable APP orders a certificate for <app>.<domain> too. */
  readonly acmeDefaultHosts: boolean;
  /** undefined: the local socket. */
  readonly dockerHost: string | undefined;
  /** Path of a public key whose owner becomes the first admin at start. */
  readonly adminPubkeyPath: string | undefined;
  /** The Debian 12 image builds and buildpacks run on. */
  readonly stackImage: string;
  readonly logLevel: LogLevel;
  /** A build running longer is stopped and fails (ms). */
  readonly buildTimeoutMs: number;
  /** Builds at once, all apps together; undefined: the builder's default for the machine. */
  readonly buildConcurrency: number | undefined;
  /** Images kept per app: those of its newest N builds and N releases. */
  readonly imageRetention: number;
  /**
   * Patterns (`*`: any run of characters) of images an app may build FROM and
   * deploy with git:from-image besides the stack and its own.
   */
  readonly allowedBaseImages: readonly string[];
  /** Where third-party buildpacks may come from (BERTH_BUILDPACK_URLS): PUBLIC_HTTPS and URL prefixes. */
  readonly buildpackUrls: readonly string[];
  /** How long a replaced release's instances keep running after the switch (ms). */
  readonly drainTimeoutMs: number;
  /** Router processes; undefined: one per CPU thread. */
  readonly routerProcesses: number | undefined;
  /** A backend that sends no response headers, or no data, for this long gets its request a 504 (ms). */
  readonly upstreamTimeoutMs: number;
  /** A client that has not sent a request's whole head within this is disconnected (ms). */
  readonly routerHeadersTimeoutMs: number;
  /**
   * A client that has not sent a request's whole body within this of the
   * request's start gets 408 and is disconnected (ms; 0: no limit; at least
   * routerHeadersTimeoutMs).
   */
  readonly routerBodyTimeoutMs: number;
  /** Request bodies larger than this get a 413, for apps without their own limit (bytes; 0: none). */
  readonly maxBodySize: number;
  /** The address the router's HTTP and HTTPS ports listen on; undefined: every interface. */
  readonly routerBind: string | undefined;
  /** Live streams (logs, build logs) one user may hold open at once in the web app. */
  readonly liveStreamsPerUser: number;
  /** app.json cron schedules may have a leading seconds field (tests; Dokku has none). */
  readonly cronSeconds: boolean;
  /** Webhooks may reach loopback, private and link-local addresses (BERTH_WEBHOOK_PRIVATE_TARGETS=allow). */
  readonly webhookPrivateTargets: boolean;
  /** Limits of an app's instances and one-off runs without their own (resource:limit). */
  readonly defaultLimits: DefaultLimits;
  /**
   * Host paths admins may bind into apps (docker-options -v, storage:mount
   * APP /host:/container) besides $BERTH_DATA_DIR/storage; BERTH_STORAGE_ALLOWED_PATHS.
   */
  readonly storageAllowedPaths: readonly string[];
  /** Limits of builds (BERTH_BUILD_MEMORY, BERTH_BUILD_PIDS). */
  readonly buildLimits: BuildLimits;
  /** What builds need to reach registries on the operator's network: a CA bundle, proxies. */
  readonly buildNetwork: BuildNetwork;
  /** The private IPv4 range (CIDR) app networks take a /26 each from. */
  readonly appNetworks: string;
  /** What a user may have where an admin set nothing of their own (quota:set); admins have no caps. */
  readonly quotas: QuotaDefaults;
  /** Scheduled backups by the builder (BERTH_BACKUP_*); dir undefined: none. */
  readonly backup: BackupSchedule;
  /** How many backups each datastore keeps unless it has its own setting (backup-set-keep). */
  readonly datastoreBackupKeep: number;
  /** Where `postgres:backup NAME BUCKET` sends backups (BERTH_DATASTORE_S3_*); undefined: nowhere. */
  readonly datastoreS3: DatastoreS3 | undefined;
  /** The Docker Swarm the `swarm` scheduler runs apps on (BERTH_SWARM_*); manager undefined: none. */
  readonly swarm: SwarmSettings;
}

export interface SwarmSettings {
  /** A manager node's Engine API: unix:///path/to/docker.sock or tcp://HOST:PORT. */
  readonly manager: string | undefined;
  /** The attachable overlay network the apps' tasks join (made by the operator, with its subnet). */
  readonly network: string;
  /** BERTH_SWARM_REGISTRY: HOST:PORT of Berth's own registry, as Berth's Engine and the nodes reach it; undefined: none. */
  readonly registry?: string | undefined;
  /** Where the registry's CA, certificate and password are kept (<data>/registry). */
  readonly registryDir?: string;
}

/** An S3-compatible endpoint for datastore backups, its region and keys (read once at start). */
export interface DatastoreS3 {
  /** http(s)://HOST[:PORT], no path: buckets are addressed by path (HOST/BUCKET/KEY). */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  /** Read from BERTH_DATASTORE_S3_KEY_FILE; never logged. */
  readonly secretAccessKey: string;
  readonly secretFile: string;
}

/** Where and how often the builder writes a backup, and how many it keeps. */
export interface BackupSchedule {
  readonly dir: string | undefined;
  readonly intervalMs: number;
  readonly keep: number;
}

/** The most process types per app a quota may allow. */
export const PROCESS_TYPES_MAX = 1000;

/**
 * Per-user caps (issue 16: one user made 1,000 apps in 13 s and could run
 * 300 process types × 100 instances). null: no cap.
 */
export interface QuotaDefaults {
  /** Apps a user may own. */
  readonly apps: number | null;
  /** Instances across all the apps a user owns (the formations of their releases). */
  readonly instances: number | null;
  /** Process types one app of the user's may run at once. */
  readonly processTypes: number | null;
  /** Minutes a user's builds may hold a builder per day (UTC). */
  readonly buildMinutes: number | null;
  /** Bytes of git objects (the pack) one push to an app of the user's may send. */
  readonly pushSize: number | null;
  /** Bytes on disk the git repositories of all the apps a user owns may take. */
  readonly disk: number | null;
}

/** What an instance gets where its app set no limit: memory in bytes, processes; 0: none. */
export interface DefaultLimits {
  readonly memory: number;
  readonly pids: number;
}

/** What builds may use: memory in bytes per build; processes of all builds together; 0: none. */
export interface BuildLimits {
  readonly memory: number;
  readonly pids: number;
}

/**
 * How builds reach package registries on a network that is not the open
 * internet (issue 18): a company's TLS-intercepting proxy, or an HTTP(S)
 * proxy builds must go through.
 */
export interface BuildNetwork {
  /**
   * The operator's CA certificates (BERTH_BUILD_CA_BUNDLE), trusted in
   * buildpack builds besides the stack's own; undefined: none.
   */
  readonly caBundle: { readonly path: string; readonly pem: string } | undefined;
  /** BERTH_APP_CA_BUNDLE: apps built by buildpacks trust the bundle when they run, too. */
  readonly appCaBundle: boolean;
  readonly httpProxy: string | undefined;
  readonly httpsProxy: string | undefined;
  /** Hosts (comma-separated) reached without the proxies. */
  readonly noProxy: string | undefined;
}

/** A CA bundle larger than this is not one the operator meant (the whole Mozilla set is ~220 KB). */
export const CA_BUNDLE_MAX_BYTES = 1024 * 1024;

/** Each variable of the contract with its default; docs/configuration.md mirrors this. */
export const DEFAULTS = {
  BERTH_DATA_DIR: '/var/lib/berth',
  BERTH_DOMAIN: 'localhost',
  BERTH_STATUS_HOST: '',
  BERTH_SSH_PORT: '2222',
  BERTH_HTTP_PORT: '80',
  BERTH_HTTPS_PORT: '443',
  BERTH_WEB_PORT: '8080',
  BERTH_METRICS_PORT: '9180',
  REDIS_URL: 'redis://127.0.0.1:6379',
  BERTH_REDIS_PREFIX: 'berth:',
  BERTH_ACME_DIRECTORY_URL: 'https://acme-v02.api.letsencrypt.org/directory',
  BERTH_ACME_EMAIL: '',
  BERTH_ACME_SELF_CHECK: 'on',
  BERTH_ACME_DEFAULT_HOSTS: 'on',
  DOCKER_HOST: '',
  BERTH_ADMIN_PUBKEY: '',
  BERTH_STACK_IMAGE: 'berth/stack:bookworm',
  BERTH_LOG_LEVEL: 'info',
  BERTH_BUILD_TIMEOUT: '30m',
  BERTH_BUILD_CONCURRENCY: 'auto',
  BERTH_IMAGE_RETENTION: '5',
  BERTH_ALLOWED_BASE_IMAGES: 'docker.io/library/*',
  BERTH_BUILDPACK_URLS: 'public-https',
  BERTH_DRAIN_TIMEOUT: '30s',
  BERTH_ROUTER_PROCESSES: 'auto',
  BERTH_UPSTREAM_TIMEOUT: '60s',
  BERTH_ROUTER_HEADERS_TIMEOUT: '15s',
  BERTH_ROUTER_BODY_TIMEOUT: '5m',
  BERTH_MAX_BODY_SIZE: '100m',
  BERTH_ROUTER_BIND: 'all',
  BERTH_DEFAULT_MEMORY: '512m',
  BERTH_DEFAULT_PIDS: '512',
  BERTH_BUILD_MEMORY: '2g',
  BERTH_BUILD_PIDS: '1024',
  BERTH_BUILD_CA_BUNDLE: '',
  BERTH_APP_CA_BUNDLE: 'off',
  BERTH_BUILD_HTTP_PROXY: '',
  BERTH_BUILD_HTTPS_PROXY: '',
  BERTH_BUILD_NO_PROXY: '',
  BERTH_APP_NETWORKS: '10.210.0.0/16',
  BERTH_LIVE_STREAMS_PER_USER: '16',
  BERTH_QUOTA_APPS: '25',
  BERTH_QUOTA_INSTANCES: '25',
  BERTH_QUOTA_PROCESS_TYPES: '20',
  BERTH_QUOTA_BUILD_MINUTES: '120',
  BERTH_QUOTA_PUSH_SIZE: '512m',
  BERTH_QUOTA_DISK: '2g',
  BERTH_BACKUP_DIR: '',
  BERTH_BACKUP_SCHEDULE: 'daily',
  BERTH_BACKUP_KEEP: '7',
  BERTH_SWARM_MANAGER: '',
  BERTH_SWARM_NETWORK: 'berth-swarm',
  BERTH_SWARM_REGISTRY: '',
  BERTH_CRON_SECONDS: 'off',
  BERTH_WEBHOOK_PRIVATE_TARGETS: 'refuse',
  BERTH_DATASTORE_BACKUP_KEEP: '7',
  BERTH_STORAGE_ALLOWED_PATHS: '',
  BERTH_DATASTORE_S3_ENDPOINT: '',
  BERTH_DATASTORE_S3_REGION: 'us-east-1',
  BERTH_DATASTORE_S3_KEY_ID: '',
  BERTH_DATASTORE_S3_KEY_FILE: '',
} as const;

export type ConfigVar = keyof typeof DEFAULTS;
export type Env = Readonly<Record<string, string | undefined>>;

/** Thrown by loadConfig with one BerthError (one line) per bad value. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly BerthError[]) {
    super(problems.map((p) => p.toLine()).join('\n'));
    this.name = 'ConfigError';
  }
}

const IMAGE_REF = /^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/;
const PREFIX = /^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)*:?$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DURATION = /^([1-9][0-9]{0,5})(s|m|h)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;

/** "90s", "30m", "2h" in ms; throws the reason for anything else. */
function parseDuration(v: string): number {
  const m = DURATION.exec(v);
  if (!m) throw 'use a number with s, m or h, such as 45m';
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/**
 * Reads variables through their validating function and gathers every
 * problem, so that one start reports all of them, each on a line of its own.
 */
class EnvReader {
  readonly problems: BerthError[] = [];

  constructor(private readonly env: Env) {}

  private raw(name: ConfigVar): string {
    const v = this.env[name];
    return v === undefined || v === '' ? DEFAULTS[name] : v;
  }

  bad(name: ConfigVar, reason: string, code: ErrorCode = 'BERTH_E_CONFIG'): void {
    this.problems.push(
      new BerthError(code, { name, value: JSON.stringify(this.raw(name)), reason }),
    );
  }

  /** The variable through `parse`; a failure becomes a line about the variable, and `fallback` stands in. */
  read<T>(name: ConfigVar, parse: (v: string) => T, fallback: T): T {
    try {
      return parse(this.raw(name));
    } catch (e) {
      this.bad(name, e instanceof BerthError ? String(e.params.reason) : String(e));
      return fallback;
    }
  }
}

// Parsers several variables share. Each throws the reason, as a string.
const onOff = (v: string): boolean => {
  if (v !== 'on' && v !== 'off') throw 'use on or off';
  return v === 'on';
};
/** auto, or a count from 1 to 99 of `what`. */
const autoOrCount = (what: string) => (v: string) => {
  if (v === 'auto') return undefined;
  if (!/^[1-9][0-9]?$/.test(v)) throw `use auto or a number of ${what} from 1 to 99`;
  return Number(v);
};
const port = (v: string) => validate.port(v);

/** Where Berth keeps its files and where it is reached. */
function places(r: EnvReader) {
  const dataDir = r.read(
    'BERTH_DATA_DIR',
    (v) => {
      if (!path.isAbsolute(v)) throw 'must be an absolute path';
      if (v.includes('\0')) throw 'must not contain NUL';
      return path.normalize(v).replace(/(.)\/$/, '$1');
    },
    '',
  );
  const domain = r.read('BERTH_DOMAIN', validate.domain, '');
  const statusHost = r.read('BERTH_STATUS_HOST', (v) => statusHostOf(v, domain), domain);
  const sshPort = r.read('BERTH_SSH_PORT', port, 0);
  const httpPort = r.read('BERTH_HTTP_PORT', port, 0);
  const httpsPort = r.read('BERTH_HTTPS_PORT', port, 0);
  const webPort = r.read('BERTH_WEB_PORT', port, 0);
  const metricsPort = r.read('BERTH_METRICS_PORT', port, 0);
  const ports: [ConfigVar, number][] = [
    ['BERTH_SSH_PORT', sshPort],
    ['BERTH_HTTP_PORT', httpPort],
    ['BERTH_HTTPS_PORT', httpsPort],
    ['BERTH_WEB_PORT', webPort],
    ['BERTH_METRICS_PORT', metricsPort],
  ];
  for (const [i, [name, p]] of ports.entries()) {
    const clash = ports.slice(0, i).find(([, q]) => q === p && p !== 0);
    if (clash) r.bad(name, `the same port as ${clash[0]}; each service needs its own`);
  }
  return { dataDir, domain, statusHost, sshPort, httpPort, httpsPort, webPort, metricsPort };
}

/**
 * BERTH_STATUS_HOST: empty for the bare BERTH_DOMAIN. A host of its own is
 * for a status page that shares no site with the apps (issue 16): apps at
 * <app>.<domain> can set cookies for <domain> and every name under it, and
 * their pages count as the same site, so a name under BERTH_DOMAIN, or one
 * BERTH_DOMAIN is under, would gain nothing and is refused. (Whether two
 * names share a registrable domain takes the Public Suffix List, which
 * Berth does not carry; docs/configuration.md asks for another one.)
 */
function statusHostOf(v: string, domain: string): string {
  if (v === '') return domain;
  const host = validate.domain(v);
  if (host === domain || domain === '') return host;
  if (host.endsWith(`.${domain}`)) {
    throw `${host} is under BERTH_DOMAIN (${domain}), where apps can set its cookies; use a host on another registered domain, or leave it empty for ${domain} itself`;
  }
  if (domain.endsWith(`.${host}`)) {
    throw `BERTH_DOMAIN (${domain}) is under ${host}, so apps can set its cookies; use a host on another registered domain, or leave it empty for ${domain} itself`;
  }
  return host;
}

/** The Redis that keeps Berth's state, and the prefix of its keys. */
function redis(r: EnvReader) {
  const redisUrl = r.read(
    'REDIS_URL',
    (v) => {
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        throw 'not a URL; use redis://HOST:PORT[/DB]';
      }
      if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
        throw 'use a redis:// or rediss:// URL';
      }
      return v;
    },
    '',
  );
  const redisPrefix = r.read(
    'BERTH_REDIS_PREFIX',
    (v) => {
      if (v.length > 64 || !PREFIX.test(v)) throw 'use letters, digits, "_", ".", "-" and ":"';
      return v.endsWith(':') ? v : `${v}:`;
    },
    '',
  );
  return { redisUrl, redisPrefix };
}

/** Certificates from an ACME CA (Let's Encrypt by default). */
function acme(r: EnvReader) {
  const acmeDirectoryUrl = r.read(
    'BERTH_ACME_DIRECTORY_URL',
    (v) => {
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        throw 'not a URL';
      }
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw 'use an https:// URL';
      return v;
    },
    '',
  );
  const acmeEmail = r.read(
    'BERTH_ACME_EMAIL',
    (v) => {
      if (v === '') return undefined;
      if (!EMAIL.test(v)) throw 'not an e-mail address';
      return v;
    },
    undefined,
  );
  const acmeSelfCheck = r.read('BERTH_ACME_SELF_CHECK', onOff, true);
  const acmeDefaultHosts = r.read('BERTH_ACME_DEFAULT_HOSTS', onOff, true);
  return { acmeDirectoryUrl, acmeEmail, acmeSelfCheck, acmeDefaultHosts };
}

/** The machine Berth runs on: its Docker Engine, the first admin, the stack image, the log. */
function machine(r: EnvReader) {
  const dockerHost = r.read(
    'DOCKER_HOST',
    (v) => {
      if (v === '') return undefined;
      if (!/^(unix|tcp|http|https):\/\/\S+$/.test(v)) {
        throw 'use unix:///path/to/docker.sock or tcp://HOST:PORT';
      }
      return v;
    },
    undefined,
  );
  const adminPubkeyPath = r.read(
    'BERTH_ADMIN_PUBKEY',
    (v) => {
      if (v === '') return undefined;
      if (!path.isAbsolute(v)) throw 'must be an absolute path to a .pub file';
      return v;
    },
    undefined,
  );
  const stackImage = r.read(
    'BERTH_STACK_IMAGE',
    (v) => {
      if (!IMAGE_REF.test(v)) throw 'not an image reference such as berth/stack:bookworm';
      return v;
    },
    '',
  );
  const logLevel = r.read(
    'BERTH_LOG_LEVEL',
    (v) => {
      if (!(LOG_LEVELS as readonly string[]).includes(v))
        throw `use one of ${LOG_LEVELS.join(', ')}`;
      return v as LogLevel;
    },
    'info',
  );
  return { dockerHost, adminPubkeyPath, stackImage, logLevel };
}

/** How builds run and what they leave. */
function builds(r: EnvReader) {
  const buildTimeoutMs = r.read(
    'BERTH_BUILD_TIMEOUT',
    (v) => {
      const ms = parseDuration(v);
      if (ms < 10_000 || ms > 24 * 3_600_000) throw 'use between 10s and 24h';
      return ms;
    },
    0,
  );
  const buildConcurrency = r.read('BERTH_BUILD_CONCURRENCY', autoOrCount('builds'), undefined);
  const imageRetention = r.read(
    'BERTH_IMAGE_RETENTION',
    (v) => {
      if (!/^[1-9][0-9]?$/.test(v)) throw 'use a number of images from 1 to 99';
      return Number(v);
    },
    0,
  );
  const allowedBaseImages = r.read(
    'BERTH_ALLOWED_BASE_IMAGES',
    (v) => (v === 'none' ? [] : v.split(',').map((p) => validate.imagePattern(p.trim()))),
    [],
  );
  const buildpackUrls = r.read(
    'BERTH_BUILDPACK_URLS',
    (v) =>
      v === 'none'
        ? []
        : v
            .split(',')
            .map((p) => p.trim())
            .map((p) => (p === validate.PUBLIC_HTTPS ? p : validate.buildpackUrlPrefix(p))),
    [],
  );
  return { buildTimeoutMs, buildConcurrency, imageRetention, allowedBaseImages, buildpackUrls };
}

/** How traffic reaches the apps: the router, and the drain of a replaced release. */
function traffic(r: EnvReader) {
  const drainTimeoutMs = r.read(
    'BERTH_DRAIN_TIMEOUT',
    (v) => {
      if (v === '0') return 0;
      const ms = parseDuration(v);
      if (ms > 3_600_000) throw 'use 0 or up to 1h';
      return ms;
    },
    0,
  );
  const routerProcesses = r.read('BERTH_ROUTER_PROCESSES', autoOrCount('processes'), undefined);
  const upstreamTimeoutMs = r.read(
    'BERTH_UPSTREAM_TIMEOUT',
    (v) => {
      const ms = parseDuration(v);
      if (ms > 3_600_000) throw 'use up to 1h';
      return ms;
    },
    0,
  );
  const routerHeadersTimeoutMs = r.read(
    'BERTH_ROUTER_HEADERS_TIMEOUT',
    (v) => {
      const ms = parseDuration(v);
      if (ms > 300_000) throw 'use 1s to 5m';
      return ms;
    },
    0,
  );
  const routerBodyTimeoutMs = r.read(
    'BERTH_ROUTER_BODY_TIMEOUT',
    (v) => {
      if (v === '0') return 0;
      const ms = parseDuration(v);
      if (ms > 3_600_000) throw 'use 0 or up to 1h';
      // Node.js counts both from the request's start and refuses a body
      // deadline before the headers' one.
      if (ms < routerHeadersTimeoutMs) {
        throw `use at least BERTH_ROUTER_HEADERS_TIMEOUT (${formatDurationVar(routerHeadersTimeoutMs)}), or 0`;
      }
      return ms;
    },
    0,
  );
  const maxBodySize = r.read('BERTH_MAX_BODY_SIZE', validate.bodySize, 0);
  const routerBind = r.read(
    'BERTH_ROUTER_BIND',
    (v) => (v === 'all' ? undefined : validate.listenAddress(v)),
    undefined,
  );
  return {
    drainTimeoutMs,
    routerProcesses,
    upstreamTimeoutMs,
    routerHeadersTimeoutMs,
    routerBodyTimeoutMs,
    maxBodySize,
    routerBind,
  };
}

/**
 * What an app's instances may use when its owner set nothing (resource:limit):
 * Heroku's standard dyno has 512 MB, and a process limit keeps a fork bomb
 * in one container from taking the machine's pids.
 */
function limits(r: EnvReader) {
  const memory = r.read('BERTH_DEFAULT_MEMORY', (v) => (v === '0' ? 0 : validate.memorySize(v)), 0);
  const pids = r.read('BERTH_DEFAULT_PIDS', (v) => (v === '0' ? 0 : validate.pidsLimit(v)), 0);
  const buildMemory = r.read(
    'BERTH_BUILD_MEMORY',
    (v) => (v === '0' ? 0 : validate.memorySize(v)),
    0,
  );
  const buildPids = r.read('BERTH_BUILD_PIDS', (v) => (v === '0' ? 0 : validate.pidsLimit(v)), 0);
  return {
    defaultLimits: Object.freeze({ memory, pids }),
    buildLimits: Object.freeze({ memory: buildMemory, pids: buildPids }),
  };
}

/**
 * BERTH_BUILD_CA_BUNDLE: a PEM file of one or more CA certificates, read
 * once here, so that a missing or unreadable file stops the start instead
 * of failing every build later, and a change to it takes a restart.
 */
function caBundleOf(v: string): { path: string; pem: string } | undefined {
  if (v === '') return undefined;
  if (!path.isAbsolute(v)) throw 'must be an absolute path to a PEM file';
  let size: number;
  try {
    const st = statSync(v);
    if (!st.isFile()) throw 'not a file';
    size = st.size;
  } catch (e) {
    throw typeof e === 'string' ? e : `cannot read it (${(e as NodeJS.ErrnoException).code})`;
  }
  if (size > CA_BUNDLE_MAX_BYTES)
    throw `larger than ${CA_BUNDLE_MAX_BYTES / 1024} KB; not a CA bundle`;
  let text: string;
  try {
    text = readFileSync(v, 'utf8');
  } catch (e) {
    throw `cannot read it (${(e as NodeJS.ErrnoException).code})`;
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      throw `certificate ${i + 1} of ${blocks.length} is not a valid certificate`;
    }
  }
  // Only the certificates: what else a PEM file may hold (keys, comments) stays out of builds.
  return { path: v, pem: `${blocks.join('\n')}\n` };
}

/** A proxy for builds: an http:// or https:// URL with a host (credentials allowed). */
function proxyUrl(v: string): string | undefined {
  if (v === '') return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw 'not a URL; use http://HOST:PORT';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw 'use an http:// or https:// URL';
  if (u.hostname === '') throw 'names no host';
  if (/[\s"'\\]/.test(v)) throw 'must not contain spaces, quotes or backslashes';
  if (u.hostname === 'localhost' || u.hostname.startsWith('127.') || u.hostname === '[::1]') {
    throw "loopback is the build container's own, not the host's; use the build network's gateway address (docs/configuration.md)";
  }
  return v;
}

/** BERTH_BUILD_NO_PROXY: host names, domains (.example.com), addresses or CIDRs, comma-separated. */
function noProxyList(v: string): string | undefined {
  if (v === '') return undefined;
  const hosts = v.split(',').map((h) => h.trim());
  for (const h of hosts) {
    if (
      !/^(\*|\.?[A-Za-z0-9*]([A-Za-z0-9.*:-]*[A-Za-z0-9])?(\/[0-9]{1,3})?(:[0-9]{1,5})?)$/.test(h)
    ) {
      throw `${JSON.stringify(h)} is not a host, domain, address or CIDR`;
    }
  }
  return hosts.join(',');
}

/** How builds reach registries: the operator's CA bundle and proxies. */
function buildNetwork(r: EnvReader) {
  const before = r.problems.length;
  const caBundle = r.read('BERTH_BUILD_CA_BUNDLE', caBundleOf, undefined);
  const caBad = r.problems.length > before;
  const appCaBundle = r.read('BERTH_APP_CA_BUNDLE', onOff, false);
  if (appCaBundle && caBundle === undefined && !caBad) {
    r.bad('BERTH_APP_CA_BUNDLE', 'on needs BERTH_BUILD_CA_BUNDLE, the bundle apps would trust');
  }
  return {
    buildNetwork: Object.freeze({
      caBundle: caBundle && Object.freeze(caBundle),
      appCaBundle,
      httpProxy: r.read('BERTH_BUILD_HTTP_PROXY', proxyUrl, undefined),
      httpsProxy: r.read('BERTH_BUILD_HTTPS_PROXY', proxyUrl, undefined),
      noProxy: r.read('BERTH_BUILD_NO_PROXY', noProxyList, undefined),
    }),
  };
}

/**
 * Where apps' networks get their addresses: one network per app, a /26 each
 * from this range, since Docker's own default pools hold only about 31
 * bridge networks (docs/configuration.md).
 */
function networks(r: EnvReader) {
  return { appNetworks: r.read('BERTH_APP_NETWORKS', validate.addressPool, '') };
}

/**
 * The swarm scheduler's cluster (docs/configuration.md): the manager's Engine
 * API and the overlay its tasks join. Unset, apps can only be docker-local.
 */
function swarm(r: EnvReader, dataDir: string) {
  return {
    swarm: {
      manager: r.read(
        'BERTH_SWARM_MANAGER',
        (v) => {
          if (v === '') return undefined;
          if (!/^(unix:\/\/\/\S+|tcp:\/\/[^\s/]+:\d+)$/.test(v)) {
            throw 'use unix:///path/to/docker.sock or tcp://HOST:PORT';
          }
          return v;
        },
        undefined,
      ),
      network: r.read('BERTH_SWARM_NETWORK', validate.networkName, 'berth-swarm'),
      registry: r.read(
        'BERTH_SWARM_REGISTRY',
        (v) => {
          if (v === '') return undefined;
          const server = validate.registryServer(v);
          if (!server.includes(':')) throw 'give the port too: HOST:PORT, such as 10.0.0.5:5000';
          return server;
        },
        undefined,
      ),
      registryDir: path.join(dataDir, DATA_LAYOUT.registry),
    },
  };
}

/**
 * What the web app lets one user hold: each live stream (an app's log, a
 * build's log) keeps a Redis or Docker Engine connection open per followed
 * instance for as long as the browser stays, so without a cap one user's
 * tabs or script could open thousands (issue 16: 2,000 streams held 2,003
 * dockerd connections). 16 is several browser tabs' worth (a browser
 * allows 6 per host over HTTP/1.1).
 */
function web(r: EnvReader) {
  const liveStreamsPerUser = r.read(
    'BERTH_LIVE_STREAMS_PER_USER',
    (v) => {
      if (!/^[1-9][0-9]{0,3}$/.test(v)) throw 'use a number of streams from 1 to 9999';
      return Number(v);
    },
    0,
  );
  return { liveStreamsPerUser };
}

/**
 * What a user may have unless an admin set their own (quota:set); admins are
 * not limited. The defaults are a free tier's, for a server several people
 * share. Heroku's free tier let a verified account own 100 apps but gave it
 * 1,000 dyno hours a month, about one dyno running all the time: free dynos
 * slept after 30 minutes without traffic, so idle apps cost nothing. Nothing
 * sleeps on a Berth server, so what counts is instances that run: 25 apps
 * and 25 instances (each app one web instance, or fewer apps scaled up). 20
 * process types per app is more than a Procfile needs (web, worker, clock
 * and a few queues). Builds: Heroku stops a build after 15 minutes, and
 * GitHub gives a free account 2,000 Actions minutes a month (about 66 a
 * day); 120 minutes a day is four builds that each run into
 * BERTH_BUILD_TIMEOUT's 30 minutes, or dozens of the usual few-minute ones.
 *
 * Disk (issue 16: a 1 GB push was taken, and nothing capped what a user's
 * repositories hold): Heroku refuses a compressed slug over 500 MB and
 * GitHub a push over 2 GB, so a 512m push takes any source tree with its
 * assets, while a pushed video or database dump is refused as it streams.
 * 2g across a user's repositories is four such pushes, or the full history
 * of 25 apps of ordinary size (most repositories are a few MB).
 * `unlimited` lifts a cap.
 */
function quotas(r: EnvReader) {
  const cap = (max?: number) => (v: string) => validate.quotaCap(v, max);
  return {
    quotas: Object.freeze({
      apps: r.read('BERTH_QUOTA_APPS', cap(), null),
      instances: r.read('BERTH_QUOTA_INSTANCES', cap(), null),
      processTypes: r.read('BERTH_QUOTA_PROCESS_TYPES', cap(PROCESS_TYPES_MAX), null),
      buildMinutes: r.read('BERTH_QUOTA_BUILD_MINUTES', cap(), null),
      pushSize: r.read('BERTH_QUOTA_PUSH_SIZE', validate.quotaSize, null),
      disk: r.read('BERTH_QUOTA_DISK', validate.quotaSize, null),
    }),
  };
}

/**
 * Scheduled backups: off until BERTH_BACKUP_DIR names a folder. `daily`, or
 * every N hours (1h to 720h); the newest BERTH_BACKUP_KEEP archives stay.
 */
function backup(r: EnvReader) {
  const dir = r.read(
    'BERTH_BACKUP_DIR',
    (v) => {
      if (v === '') return undefined;
      if (!path.isAbsolute(v) || v.includes('\0'))
        throw 'must be an absolute path, or empty for none';
      return path.normalize(v).replace(/(.)\/$/, '$1');
    },
    undefined,
  );
  const intervalMs = r.read(
    'BERTH_BACKUP_SCHEDULE',
    (v) => {
      if (v === 'daily') return 24 * 3_600_000;
      const m = /^([1-9][0-9]{0,2})h$/.exec(v);
      if (!m || Number(m[1]) > 720) throw 'use daily, or a number of hours such as 6h (1h to 720h)';
      return Number(m[1]) * 3_600_000;
    },
    24 * 3_600_000,
  );
  const keep = r.read(
    'BERTH_BACKUP_KEEP',
    (v) => {
      if (!/^[1-9][0-9]{0,2}$/.test(v)) throw 'use a number of backups from 1 to 999';
      return Number(v);
    },
    7,
  );
  return { backup: Object.freeze({ dir, intervalMs, keep }) };
}

/**
 * Where apps' webhooks may point. `refuse` (the default): only public
 * addresses, so a tenant cannot make Berth reach its Redis, a cloud's
 * metadata service or the operator's internal services; `allow` for
 * operators whose receivers are on their own network (and for tests).
 */
function notifications(r: EnvReader) {
  const webhookPrivateTargets = r.read(
    'BERTH_WEBHOOK_PRIVATE_TARGETS',
    (v) => {
      if (v !== 'refuse' && v !== 'allow') throw 'use refuse or allow';
      return v === 'allow';
    },
    false,
  );
  return { webhookPrivateTargets };
}

/**
 * BERTH_STORAGE_ALLOWED_PATHS: comma-separated absolute host paths, none of
 * them a system directory or the Docker socket (core/docker-options.ts).
 */
function allowedHostPaths(v: string): string[] {
  if (v === '') return [];
  return v.split(',').map((p) => {
    try {
      return hostPath('BERTH_STORAGE_ALLOWED_PATHS', p.trim(), undefined);
    } catch (e) {
      throw e instanceof BerthError ? String(e.params.reason) : String(e);
    }
  });
}

/**
 * BERTH_DATASTORE_S3_*: the endpoint datastore backups may be sent
 * to (`postgres:backup NAME BUCKET`), with its keys. The secret is read
 * from a file here, once, so that it is in no process's environment and a
 * missing file stops the start instead of failing each backup later.
 */
function datastoreS3(r: EnvReader): { datastoreS3: DatastoreS3 | undefined } {
  const endpoint = r.read(
    'BERTH_DATASTORE_S3_ENDPOINT',
    (v) => {
      if (v === '') return '';
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        throw 'not a URL; use https://HOST[:PORT]';
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:')
        throw 'use an https:// (or http://) URL';
      if (
        u.username ||
        u.password ||
        u.search ||
        u.hash ||
        (u.pathname !== '/' && u.pathname !== '')
      )
        throw 'use the endpoint alone, https://HOST[:PORT]: no path, keys or query';
      return u.origin;
    },
    '',
  );
  const region = r.read(
    'BERTH_DATASTORE_S3_REGION',
    (v) => {
      if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(v)) throw 'use a region name such as us-east-1';
      return v;
    },
    'us-east-1',
  );
  const accessKeyId = r.read(
    'BERTH_DATASTORE_S3_KEY_ID',
    (v) => {
      if (v !== '' && !/^[A-Za-z0-9._+/=-]{1,128}$/.test(v)) throw 'not an access key id';
      return v;
    },
    '',
  );
  const secret = r.read(
    'BERTH_DATASTORE_S3_KEY_FILE',
    (v) => {
      if (v === '') return undefined;
      if (!path.isAbsolute(v)) throw 'must be an absolute path to a file holding the secret key';
      let text: string;
      try {
        if (statSync(v).size > 4096) throw 'larger than 4 KB; not a secret key';
        text = readFileSync(v, 'utf8').trim();
      } catch (e) {
        throw typeof e === 'string' ? e : `cannot read it (${(e as NodeJS.ErrnoException).code})`;
      }
      if (!/^[\x21-\x7e]{1,256}$/.test(text)) throw 'the file holds no secret key on one line';
      return { file: v, text };
    },
    undefined,
  );
  if (endpoint === '') return { datastoreS3: undefined };
  if (accessKeyId === '' || secret === undefined) {
    r.bad(
      'BERTH_DATASTORE_S3_ENDPOINT',
      'needs BERTH_DATASTORE_S3_KEY_ID and BERTH_DATASTORE_S3_KEY_FILE too',
    );
    return { datastoreS3: undefined };
  }
  return {
    datastoreS3: Object.freeze({
      endpoint,
      region,
      accessKeyId,
      secretAccessKey: secret.text,
      secretFile: secret.file,
    }),
  };
}

/** The configuration from `env`, section by section; ConfigError with every problem found. */
export function loadConfig(env: Env): Config {
  const r = new EnvReader(env);
  const where = places(r);
  const config: Config = {
    ...where,
    ...redis(r),
    ...acme(r),
    ...machine(r),
    ...builds(r),
    ...traffic(r),
    ...limits(r),
    ...buildNetwork(r),
    ...networks(r),
    ...web(r),
    ...quotas(r),
    ...backup(r),
    ...swarm(r, where.dataDir),
    // Off on a server, as on Dokku: a job every few seconds is a worker process, not cron.
    cronSeconds: r.read('BERTH_CRON_SECONDS', onOff, false),
    ...notifications(r),
    datastoreBackupKeep: r.read(
      'BERTH_DATASTORE_BACKUP_KEEP',
      (v) => {
        if (!/^[1-9][0-9]{0,2}$/.test(v)) throw 'use a number of backups from 1 to 999';
        return Number(v);
      },
      7,
    ),
    storageAllowedPaths: r.read('BERTH_STORAGE_ALLOWED_PATHS', allowedHostPaths, []),
    ...datastoreS3(r),
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return Object.freeze(config);
}

/** The environment that gives a child process this same configuration. */
export function configToEnv(config: Config): Record<ConfigVar, string> {
  return {
    BERTH_DATA_DIR: config.dataDir,
    BERTH_DOMAIN: config.domain,
    BERTH_STATUS_HOST: config.statusHost === config.domain ? '' : config.statusHost,
    BERTH_SSH_PORT: String(config.sshPort),
    BERTH_HTTP_PORT: String(config.httpPort),
    BERTH_HTTPS_PORT: String(config.httpsPort),
    BERTH_WEB_PORT: String(config.webPort),
    BERTH_METRICS_PORT: String(config.metricsPort),
    REDIS_URL: config.redisUrl,
    BERTH_REDIS_PREFIX: config.redisPrefix,
    BERTH_ACME_DIRECTORY_URL: config.acmeDirectoryUrl,
    BERTH_ACME_EMAIL: config.acmeEmail ?? '',
    BERTH_ACME_SELF_CHECK: config.acmeSelfCheck ? 'on' : 'off',
    BERTH_ACME_DEFAULT_HOSTS: config.acmeDefaultHosts ? 'on' : 'off',
    DOCKER_HOST: config.dockerHost ?? '',
    BERTH_ADMIN_PUBKEY: config.adminPubkeyPath ?? '',
    BERTH_STACK_IMAGE: config.stackImage,
    BERTH_LOG_LEVEL: config.logLevel,
    BERTH_BUILD_TIMEOUT: formatDurationVar(config.buildTimeoutMs),
    BERTH_BUILD_CONCURRENCY:
      config.buildConcurrency === undefined ? 'auto' : String(config.buildConcurrency),
    BERTH_IMAGE_RETENTION: String(config.imageRetention),
    BERTH_ALLOWED_BASE_IMAGES:
      config.allowedBaseImages.length === 0 ? 'none' : config.allowedBaseImages.join(','),
    BERTH_BUILDPACK_URLS:
      config.buildpackUrls.length === 0 ? 'none' : config.buildpackUrls.join(','),
    BERTH_DRAIN_TIMEOUT:
      config.drainTimeoutMs === 0 ? '0' : formatDurationVar(config.drainTimeoutMs),
    BERTH_ROUTER_PROCESSES:
      config.routerProcesses === undefined ? 'auto' : String(config.routerProcesses),
    BERTH_UPSTREAM_TIMEOUT: formatDurationVar(config.upstreamTimeoutMs),
    BERTH_ROUTER_HEADERS_TIMEOUT: formatDurationVar(config.routerHeadersTimeoutMs),
    BERTH_ROUTER_BODY_TIMEOUT:
      config.routerBodyTimeoutMs === 0 ? '0' : formatDurationVar(config.routerBodyTimeoutMs),
    BERTH_MAX_BODY_SIZE: validate.formatSize(config.maxBodySize),
    BERTH_ROUTER_BIND: config.routerBind ?? 'all',
    BERTH_DEFAULT_MEMORY: validate.formatSize(config.defaultLimits.memory),
    BERTH_DEFAULT_PIDS: String(config.defaultLimits.pids),
    BERTH_BUILD_MEMORY: validate.formatSize(config.buildLimits.memory),
    BERTH_BUILD_PIDS: String(config.buildLimits.pids),
    BERTH_BUILD_CA_BUNDLE: config.buildNetwork.caBundle?.path ?? '',
    BERTH_APP_CA_BUNDLE: config.buildNetwork.appCaBundle ? 'on' : 'off',
    BERTH_BUILD_HTTP_PROXY: config.buildNetwork.httpProxy ?? '',
    BERTH_BUILD_HTTPS_PROXY: config.buildNetwork.httpsProxy ?? '',
    BERTH_BUILD_NO_PROXY: config.buildNetwork.noProxy ?? '',
    BERTH_APP_NETWORKS: config.appNetworks,
    BERTH_SWARM_MANAGER: config.swarm.manager ?? '',
    BERTH_SWARM_NETWORK: config.swarm.network,
    BERTH_SWARM_REGISTRY: config.swarm.registry ?? '',
    BERTH_LIVE_STREAMS_PER_USER: String(config.liveStreamsPerUser),
    BERTH_QUOTA_APPS: capVar(config.quotas.apps),
    BERTH_QUOTA_INSTANCES: capVar(config.quotas.instances),
    BERTH_QUOTA_PROCESS_TYPES: capVar(config.quotas.processTypes),
    BERTH_QUOTA_BUILD_MINUTES: capVar(config.quotas.buildMinutes),
    BERTH_QUOTA_PUSH_SIZE: sizeCapVar(config.quotas.pushSize),
    BERTH_QUOTA_DISK: sizeCapVar(config.quotas.disk),
    BERTH_BACKUP_DIR: config.backup.dir ?? '',
    BERTH_BACKUP_SCHEDULE:
      config.backup.intervalMs === 24 * 3_600_000
        ? 'daily'
        : `${config.backup.intervalMs / 3_600_000}h`,
    BERTH_BACKUP_KEEP: String(config.backup.keep),
    BERTH_CRON_SECONDS: config.cronSeconds ? 'on' : 'off',
    BERTH_WEBHOOK_PRIVATE_TARGETS: config.webhookPrivateTargets ? 'allow' : 'refuse',
    BERTH_DATASTORE_BACKUP_KEEP: String(config.datastoreBackupKeep),
    BERTH_STORAGE_ALLOWED_PATHS: config.storageAllowedPaths.join(','),
    BERTH_DATASTORE_S3_ENDPOINT: config.datastoreS3?.endpoint ?? '',
    BERTH_DATASTORE_S3_REGION: config.datastoreS3?.region ?? 'us-east-1',
    BERTH_DATASTORE_S3_KEY_ID: config.datastoreS3?.accessKeyId ?? '',
    BERTH_DATASTORE_S3_KEY_FILE: config.datastoreS3?.secretFile ?? '',
  };
}

const capVar = (cap: number | null): string => (cap === null ? 'unlimited' : String(cap));
const sizeCapVar = (cap: number | null): string =>
  cap === null ? 'unlimited' : validate.formatSize(cap);

/** The shortest BERTH_BUILD_TIMEOUT spelling of a duration parseDuration accepts. */
function formatDurationVar(ms: number): string {
  if (ms % UNIT_MS.h === 0) return `${ms / UNIT_MS.h}h`;
  if (ms % UNIT_MS.m === 0) return `${ms / UNIT_MS.m}m`;
  return `${Math.round(ms / 1000)}s`;
}
