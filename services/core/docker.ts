// The one way Berth talks to the Docker Engine: a dockerode client built from
// Config whose API version is negotiated with the engine (never pinned, since
// production hosts run engines that dropped old API versions), and the labels
// Berth puts on everything it creates.
//
// docker-modem falls back on DOCKER_HOST, DOCKER_CERT_PATH, ... from the
// process environment for every option it is not given; the options below are
// all given explicitly, so the engine Berth uses is the one in Config.
import type Docker from 'dockerode';
import type { Config } from './config.ts';
import { BerthError } from './errors.ts';

/** The labels Berth puts on the containers, networks, volumes and images it creates. */
export const LABELS = {
  /** "true" on everything Berth created. */
  managed: 'berth.managed',
  /** The app a container, network or volume belongs to. */
  app: 'berth.app',
  /** The Procfile process type of a container (web, worker, ...). */
  process: 'berth.process',
  /** The release version a container runs. */
  release: 'berth.release',
  /** The instance number of a container within its process type. */
  instance: 'berth.instance',
  /** The name within its app of a storage volume (storage:mount). */
  storage: 'berth.storage',
  /** On a swarm one-off's service (run, release phase, cron): `attached` or `detached` (swarm-jobs.ts). */
  oneOff: 'berth.one-off',
  /** The name of a shared network (network:create) on its Docker network. */
  network: 'berth.network',
  /** On a storage volume: the createdAt of the app it was made for (an earlier app of the name has another). */
  appCreated: 'berth.app-created',
  /** The stack an image is (bookworm) on the stack image itself. */
  stack: 'berth.stack',
  /** What the stack image was made from (STACK_REVISION); another value means rebuild it. */
  stackRevision: 'berth.stack.revision',
  /** The build an image or build container belongs to (buildpack builds). */
  build: 'berth.build',
  /** The commit a buildpack image was built from. */
  commit: 'berth.commit',
  /** JSON: an image's process types (type → command). */
  processes: 'berth.processes',
  /** The buildpacks that made an image, comma-separated. */
  buildpacks: 'berth.buildpacks',
  /** A runtime image (berth/runtime-node:*): the id of the stack image it was made on. */
  stackId: 'berth.stack-id',
  /** A runtime image: what it adds to the stack (node-22.11.0). */
  runtime: 'berth.runtime',
  /** Tests: the run that created the object, so that the run can remove it. */
  testRun: 'berth.test-run',
  /** A toolchain image (berth-toolchain/go:1.22): the language and version it carries (go-1.22). */
  toolchain: 'berth.toolchain',
  /** What a toolchain image was made from (its suite and packages); another value means make it again. */
  toolchainRevision: 'berth.toolchain.revision',
  /**
   * A datastore's kind (postgres) on its container and volume, and on its
   * kind's images. Never with berth.app: what selects an app's objects
   * (reconciling, retention, apps:destroy) never sees a datastore.
   */
  datastore: 'berth.datastore',
  /** A datastore's name on its container and volume. */
  datastoreName: 'berth.datastore.name',
  /** A datastore image's version (15). */
  datastoreVersion: 'berth.datastore.version',
  /** What a datastore image was made from (packages and entry point); another value means rebuild it. */
  datastoreRevision: 'berth.datastore.revision',
  /** A Python app's venv layer (berth/<app>:venv): the id of the image it was made on. */
  baseId: 'berth.base-id',
  /** A Python app's venv layer: the buildpack's key of requirements.txt and Python. */
  venvKey: 'berth.venv-key',
  /** Berth's own registry (registry/own-registry.ts): on its image, container and volume. */
  registry: 'berth.registry',
  /** What the registry image was made from (packages and entry point); another value means rebuild it. */
  registryRevision: 'berth.registry.revision',
} as const;

export type LabelName = (typeof LABELS)[keyof typeof LABELS];

/** The HTTP status of an Engine API error (404 no such object, 409 in use, 304 not modified). */
export const dockerStatus = (e: unknown): number | undefined =>
  (e as { statusCode?: number } | undefined)?.statusCode;

/** The label every object Berth creates carries. */
export const MANAGED_LABELS: Readonly<Record<string, string>> = Object.freeze({
  [LABELS.managed]: 'true',
});

/**
 * What every container Berth runs for a tenant (instances, one-offs,
 * buildpack builds, their helpers) goes without: raw sockets, which let a
 * container forge packets on the apps' network and which no app needs; and
 * gaining privileges through set-user-ID files or file capabilities (a build
 * runs as root and could leave a set-user-ID shell in the image for the app's
 * non-root user to run).
 */
export const CONFINED: Readonly<{ CapDrop: string[]; SecurityOpt: string[] }> = Object.freeze({
  CapDrop: ['NET_RAW'],
  SecurityOpt: ['no-new-privileges'],
});

/**
 * The CPU weight of batch work (one-off runs and builds): Docker's default,
 * which every app instance has, is 1024, so when the CPU is contended a
 * tenant's one-offs and builds get half of what a serving instance gets.
 */
export const BATCH_CPU_SHARES = 512;

/** The highest Engine API version this client is written against (dockerode 5's documentation). */
export const CLIENT_MAX_API_VERSION = '1.52';

/** The socket dockerd listens on when DOCKER_HOST is unset. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export type DockerTarget = Pick<Config, 'dockerHost'>;

/** How to name the engine in messages: DOCKER_HOST, or the local socket. */
export function dockerHostLabel(config: DockerTarget): string {
  return config.dockerHost ?? `unix://${DEFAULT_DOCKER_SOCKET}`;
}

/** The Unix socket of the engine, or undefined when DOCKER_HOST names a TCP/HTTP endpoint. */
export function dockerSocketPath(config: DockerTarget): string | undefined {
  const host = config.dockerHost;
  if (host === undefined) return DEFAULT_DOCKER_SOCKET;
  if (host.startsWith('unix://')) return host.slice('unix://'.length) || DEFAULT_DOCKER_SOCKET;
  return undefined;
}

/** Every docker-modem option, so that none falls back on the process environment. */
function dockerOptions(
  config: DockerTarget,
  extra: { version?: string; timeoutMs?: number },
): Docker.DockerOptions {
  const socketPath = dockerSocketPath(config);
  const base = {
    socketPath: undefined as string | undefined,
    host: undefined as string | undefined,
    port: undefined as string | undefined,
    protocol: undefined as 'http' | 'https' | undefined,
    ca: undefined,
    cert: undefined,
    key: undefined,
    version: extra.version,
    timeout: extra.timeoutMs,
    // Not in the typings; docker-modem would read DOCKER_PATH_PREFIX for it.
    pathPrefix: '/',
  };
  if (socketPath !== undefined) return { ...base, socketPath };
  // tcp://HOST:PORT and http://HOST:PORT are plain HTTP; https:// is TLS.
  const url = new URL((config.dockerHost ?? '').replace(/^tcp:/, 'http:'));
  const https = url.protocol === 'https:';
  return {
    ...base,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port || (https ? '2376' : '2375'),
    protocol: https ? 'https' : 'http',
  };
}

/**
 * A client that sends unversioned requests (the engine answers with its own
 * newest API). Use it only to ask the engine for its version: the rest of
 * Berth uses the negotiated client from connectDocker.
 */
async function unversionedDocker(config: DockerTarget, timeoutMs?: number): Promise<Docker> {
  const Client = await dockerode();
  return new Client(dockerOptions(config, timeoutMs === undefined ? {} : { timeoutMs }));
}

/**
 * dockerode, imported when a process first talks to the Engine: with its
 * HTTP and stream modules it costs about 15 MB in a process that loads it,
 * for good (issue 17), and the ssh process needs it only for the commands
 * that reach the Engine.
 */
async function dockerode(): Promise<typeof Docker> {
  return (await import('dockerode')).default;
}

/** Compares two API versions such as "1.41" and "1.52" (negative when a < b). */
export function compareApiVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The version both sides speak: the lower of the engine's newest and ours. */
export function negotiateApiVersion(
  engineApiVersion: string,
  clientMax = CLIENT_MAX_API_VERSION,
): string {
  return compareApiVersions(engineApiVersion, clientMax) < 0 ? engineApiVersion : clientMax;
}

export interface EngineVersion {
  /** The engine's release, such as 20.10.24. */
  version: string;
  /** The newest API version it speaks. */
  apiVersion: string;
  /** The oldest API version it still accepts. */
  minApiVersion: string | undefined;
  os: string;
  arch: string;
}

export interface DockerConnection {
  /** A client whose every request uses `apiVersion`. */
  docker: Docker;
  /** The negotiated API version, such as "1.41". */
  apiVersion: string;
  engine: EngineVersion;
  /** DOCKER_HOST, or unix:///var/run/docker.sock. */
  host: string;
}

function toEngineVersion(v: Docker.DockerVersion & { MinAPIVersion?: string }): EngineVersion {
  return {
    version: v.Version,
    apiVersion: v.ApiVersion,
    minApiVersion: v.MinAPIVersion,
    os: v.Os,
    arch: v.Arch,
  };
}

export interface ConnectOptions {
  /** How long the version request may take (default 5 s). */
  timeoutMs?: number;
  /**
   * How long any later request may go without a byte before it fails; none
   * by default (builds, log follows and event streams are long and quiet).
   */
  requestTimeoutMs?: number;
}

/**
 * A dockerode client for the engine in Config, with the API version
 * negotiated: the engine's /version is asked without a version prefix, and the
 * lower of its ApiVersion and CLIENT_MAX_API_VERSION is used for every request.
 * Rejects with the engine's own error when it does not answer.
 */
export async function connectDocker(
  config: DockerTarget,
  options: ConnectOptions = {},
): Promise<DockerConnection> {
  const probe = await unversionedDocker(config, options.timeoutMs ?? 5000);
  const engine = toEngineVersion(await probe.version());
  const apiVersion = negotiateApiVersion(engine.apiVersion);
  if (engine.minApiVersion && compareApiVersions(apiVersion, engine.minApiVersion) < 0) {
    throw new BerthError('BERTH_E_DOCKER_API_VERSION', {
      host: dockerHostLabel(config),
      version: engine.version,
      apiVersion,
      reason: `it needs API ${engine.minApiVersion} or newer; this Berth speaks at most ${CLIENT_MAX_API_VERSION}`,
    });
  }
  const Client = await dockerode();
  const docker = new Client(
    dockerOptions(config, {
      version: `v${apiVersion}`,
      ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
    }),
  );
  return { docker, apiVersion, engine, host: dockerHostLabel(config) };
}

/**
 * The negotiated client alone (see connectDocker). An engine that does not
 * answer is a BERTH_E_DOCKER_UNAVAILABLE error.
 */
export async function createDockerClient(
  config: DockerTarget,
  options: ConnectOptions = {},
): Promise<Docker> {
  try {
    return (await connectDocker(config, options)).docker;
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw new BerthError(
      'BERTH_E_DOCKER_NO_ANSWER',
      { host: dockerHostLabel(config), reason: describeDockerError(e) },
      { cause: e },
    );
  }
}

export type PingResult =
  | { ok: true; engine: EngineVersion; apiVersion: string }
  | {
      ok: false;
      reason: string;
      /** The system error code when there is one: ENOENT (no socket), EACCES, ECONNREFUSED... */
      code?: string;
    };

/** Whether the engine answers within timeoutMs; never throws. */
export async function pingDocker(config: DockerTarget, timeoutMs = 2000): Promise<PingResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const probe = await unversionedDocker(config, timeoutMs);
    const v = await Promise.race([
      probe.version(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    const engine = toEngineVersion(v);
    return { ok: true, engine, apiVersion: negotiateApiVersion(engine.apiVersion) };
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    return typeof code === 'string'
      ? { ok: false, reason: describeDockerError(e), code }
      : { ok: false, reason: describeDockerError(e) };
  } finally {
    clearTimeout(timer);
  }
}

/** One line for a failed request to the engine (ENOENT, ECONNREFUSED, HTTP status ...). */
export function describeDockerError(e: unknown): string {
  if (e && typeof e === 'object') {
    const err = e as {
      code?: string;
      address?: string;
      statusCode?: number;
      json?: unknown;
      message?: string;
    };
    if (err.code === 'ENOENT' && err.address)
      return `no socket at ${err.address} (dockerd is not running)`;
    if (err.code === 'ECONNREFUSED') {
      return err.address ? `connection refused at ${err.address}` : 'connection refused';
    }
    if (err.code === 'EACCES' && err.address) return `permission denied on ${err.address}`;
    if (err.statusCode !== undefined) {
      const json = err.json as { message?: unknown } | null | undefined;
      // docker-modem's message is "(HTTP code 500) server error - <the engine's message>".
      const text =
        typeof json?.message === 'string'
          ? json.message
          : (err.message ?? '').replace(/^\(HTTP code \d+\)[^-]*- /, '');
      return `HTTP ${err.statusCode}: ${text.replace(/[\r\n]+/g, ' ')}`.trim();
    }
    if (err.message) return err.message.replace(/[\r\n]+/g, ' ');
  }
  return String(e);
}
