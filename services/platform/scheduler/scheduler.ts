// What Berth asks of whatever runs an app's containers: its instances, its
// storage, its networks, their usage, their logs, news of changes, and where
// the router reaches them. Everything outside this folder is written against this
// interface only, and gets an app's scheduler from schedulerFor
// (./schedulers.ts), so a second scheduler (Docker Swarm) plugs in with no
// change elsewhere: images are addressed by tag, instances by (app, process
// type, release, instance number), and the scheduler reports what actually
// runs, which is what reconciling after a crash compares with the desired state.

import type { DockerOptionFields } from '../../core/docker-options.ts';
import type { Logger } from '../../core/log.ts';
import type { ClientTerminal } from '../../core/terminal.ts';
import type { Healthcheck } from '../build/app-json.ts';

/** Where a one-off's input and output go (`run`). */
export interface AttachedIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** The client's terminal: the container gets a TTY of its size, its output to terminal.output. */
  terminal?: ClientTerminal;
}

/** One process of a release to start. */
export interface InstanceSpec {
  app: string;
  /** Procfile process type (web, worker, ...). */
  type: string;
  /** The release version the instance runs. */
  release: number;
  /** 1-based, unique per (app, type, release). */
  instance: number;
  /** An image reference the scheduler can run (berth/<app>:<build id>). */
  image: string;
  /** The command line (bash -c through the image's launcher); null: the image's own CMD. */
  command: string | null;
  /** The process environment: the release's config, PORT and Berth's own. */
  env: Readonly<Record<string, string>>;
  /** The port a web process listens on (PORT). */
  port: number;
  /** Seconds between SIGTERM and SIGKILL when the instance is stopped. */
  stopTimeoutSec: number;
  /** The app's storage volumes (storage:mount), by name within the app. */
  mounts?: readonly { name: string; path: string }[];
  /** resource:limit for this process type: memory in bytes, CPUs, processes. */
  limits?: { memory?: number; cpus?: number; pids?: number };
  /** Shared networks it joins besides its app's own (network:set APP attach-post-deploy). */
  networks?: readonly string[];
  /**
   * ps:set restart-policy (validate.restartPolicy) of a long-running
   * instance; absent: unless-stopped. One-offs never restart.
   */
  restartPolicy?: string;
  /** logs:set max-size (validate.logMaxSize); absent: 10m. `unlimited`: no rotation. */
  logMaxSize?: string;
  /** docker-options:add, parsed into Docker API fields (services/core/docker-options.ts). */
  dockerOptions?: DockerOptionFields;
  /**
   * scheduler-swarm:set placement-constraints|placement-preferences: the nodes
   * a swarm task may run on. Only the swarm scheduler places; docker-local
   * has one machine and ignores them.
   */
  placement?: { constraints: readonly string[]; preferences: readonly string[] };
  /**
   * app.json's command checks of its process type, unless checks:disable or
   * checks:skip cover it: the swarm scheduler makes them its service's health
   * check (swarm-checks.ts); docker-local runs them through exec().
   */
  commandChecks?: readonly CommandCheck[];
}

/** What of an app.json command check a scheduler may need (swarm: the health check). */
export type CommandCheck = Pick<
  Healthcheck,
  'command' | 'content' | 'attempts' | 'timeout' | 'wait' | 'initialDelay'
>;

export type InstanceState = 'starting' | 'running' | 'restarting' | 'exited' | 'gone';

/** An instance as it is now. */
export interface Instance {
  /** The scheduler's own id (a container id for docker-local). */
  id: string;
  app: string;
  type: string;
  release: number;
  instance: number;
  state: InstanceState;
  /**
   * Where the router and the startup checks reach it while it runs:
   * `host:port` with an IPv4 address, `[IPv6]:port` or a DNS name
   * (validate.backendAddress).
   */
  address: string | undefined;
  startedAt: string | undefined;
  /** Times it was restarted after exiting (its restart policy). */
  restarts: number;
  /** The last exit code, once it has exited. */
  exitCode: number | undefined;
  /** The machine it runs on (swarm: its node's hostname); absent on one machine. */
  node?: string;
}

/** What a running instance uses, as `docker stats` shows it. */
export interface InstanceUsage {
  /** Percent of one CPU over the sample (200% is two CPUs busy). */
  cpuPercent: number;
  /** Memory in use, page cache left out (as `docker stats`). */
  memoryBytes: number;
  /** Its memory limit (resource:limit), or the machine's when it has none. */
  memoryLimitBytes: number;
}

/** How a one-off process ended. */
export interface OneOffResult {
  exitCode: number;
  /** The last lines it wrote (stdout and stderr). */
  lines: string[];
}

/** One line an instance wrote, with the time the scheduler received it. */
export interface LogLine {
  /** ISO 8601, fixed width with nanoseconds, so strings compare as times. */
  time: string;
  /** web.1 */
  source: string;
  release: number;
  text: string;
}

/** One of an app's storage volumes (storage:mount). */
export interface StorageVolume {
  /** The name within the app. */
  name: string;
  /** The scheduler's own name for it (a Docker volume's). */
  volume: string;
  /** The createdAt of the app it was made for; null when made without one (by an older Berth, or Docker on mount). */
  madeFor: string | null;
  /** When it was made (ISO 8601; a Docker volume's is to the second). */
  createdAt: string;
  /** The machine it lives on, to which the app's instances are pinned (swarm: a node's hostname); absent on one machine. */
  node?: string;
}

/** A network as the scheduler has it (network:info, network:report). */
export interface NetworkInfo {
  /** The scheduler's own name for it (a Docker network's). */
  name: string;
  /** Its IPv4 range (CIDR). */
  subnet: string | undefined;
  /** The instances and one-off runs on it now, by the scheduler's names. */
  members: string[];
}

/** What a scheduler says when what runs changed behind Berth's back. */
export interface SchedulerEvents {
  /** An instance of `app` started, died or went away. */
  onApp(app: string): void;
  /** The scheduler was unreachable and answers again: anything may have changed. */
  onReconnect(): void;
  log: Logger;
}

export interface Scheduler {
  /** Its registered name (scheduler:set APP selected NAME). */
  readonly name: string;
  /**
   * The scheduler brings back an instance that exited or was lost in its
   * place itself (Swarm: a new task in the same slot): the reconciler then
   * neither removes its starting or exited instances nor starts others for
   * them, which would fight the scheduler's own replacement.
   */
  readonly keepsCount?: boolean;
  /**
   * Makes a release's image reachable where its instances will run, before
   * the release is made (swarm: pushed to the registry the nodes pull
   * from), saying how it goes on `onLine`; absent: the image is where it runs.
   */
  prepareImage?(app: string, image: string, onLine: (line: string) => void): Promise<void>;
  /** Starts one instance; resolves once it runs (not: once it is healthy). */
  start(spec: InstanceSpec): Promise<Instance>;
  /** Every instance of the app Berth started and has not removed, running or not. */
  list(app: string): Promise<Instance[]>;
  /** SIGTERM, then SIGKILL after the instance's stop timeout; then removes it. */
  stop(instance: Instance): Promise<void>;
  /** The last `lines` lines the instance wrote (stdout and stderr). */
  logs(instance: Instance, lines: number): Promise<string[]>;
  /** The last `tail` lines the instance wrote, with their times. */
  logLines(instance: Instance, tail: number): Promise<LogLine[]>;
  /**
   * Each line a running instance writes from `since` (Unix seconds) on, as it
   * comes, until the signal aborts or the instance stops.
   */
  followLogs(
    instance: Instance,
    o: { since: number; signal: AbortSignal },
    onLine: (line: LogLine) => void,
  ): Promise<void>;
  /**
   * Runs a process once to its end (the release phase): each line it writes
   * to `onLine` as it comes, then its exit code; removed afterwards. Aborting
   * kills it. With `commitAs` (app.json's predeploy, whose changes Dokku
   * keeps), a run that exits 0 is committed as that image first, with the
   * configuration of the image it ran (never its env, which holds config).
   */
  runOnce(
    spec: InstanceSpec,
    onLine: (line: string) => void,
    signal: AbortSignal,
    o?: { commitAs?: string },
  ): Promise<OneOffResult>;
  /**
   * Runs a process once with the client's stdin, stdout and stderr (and its
   * terminal, when it has one) attached; its exit code; removed afterwards.
   */
  runAttached(spec: InstanceSpec, io: AttachedIo, signal: AbortSignal): Promise<number>;
  /** Starts a process once and leaves it running on its own (removed when it ends); its name. */
  runDetached(spec: InstanceSpec): Promise<string>;
  /** Runs a command inside a running instance (app.json command checks); aborted after `timeoutMs`. */
  exec(
    instance: Instance,
    argv: readonly string[],
    timeoutMs: number,
  ): Promise<{ exitCode: number; output: string }>;
  /**
   * The app's storage volume `name`, made when missing and marked as made for
   * the app created at `appCreatedAt`; the scheduler's name for it.
   */
  ensureStorage(app: string, name: string, appCreatedAt: string): Promise<string>;
  /** The app's storage volumes (mounted or not), by name within the app. */
  storageVolumes(app: string): Promise<StorageVolume[]>;
  /** Removes one of the app's storage volumes and its data (no instance may use it). */
  removeStorage(app: string, name: string): Promise<void>;
  /** The app's own network, on which only its instances are; undefined until one started. */
  appNetwork(app: string): Promise<NetworkInfo | undefined>;
  /** Removes the app's own network (apps:destroy, and the old name's after apps:rename). */
  removeAppNetwork(app: string): Promise<void>;
  /** The app's own network, made when missing; the scheduler's name for it (a datastore's link joins it). */
  ensureAppNetwork(app: string): Promise<string>;
  /** A shared network (network:create) as it is; undefined until an instance joined it. */
  sharedNetwork(name: string): Promise<NetworkInfo | undefined>;
  /** Removes a shared network (network:destroy); BERTH_E_NETWORK_IN_USE while an instance is on it. */
  removeSharedNetwork(name: string): Promise<void>;
  /** CPU and memory of running instances, by id; instances gone meanwhile are left out. */
  usage(ids: readonly string[]): Promise<Map<string, InstanceUsage>>;
  /** Tells `events` of changes to Berth's instances until stopped. */
  watch(events: SchedulerEvents): { stop(): void };
}
