// Runs every Berth service as a child process: starts them, waits until each
// says it is ready, restarts one that dies (with backoff), and on stop sends
// SIGTERM and waits for each to finish its in-flight work before SIGKILL.
// The router is the exception that makes the data plane stand alone (issue
// 16, item 12): it runs in its own session, logs to a file, and outlives a
// supervisor that dies; the next supervisor finds it by the state file in
// the data directory and adopts it instead of starting a second one. Only a
// deliberate stop (Ctrl-C, SIGTERM) stops it. The state file is also what
// `berth services` shows.
import { type ChildProcess, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { type Config, configToEnv } from '../services/core/config.ts';
import { BerthError } from '../services/core/errors.ts';
import type { HandoverMessage } from '../services/core/handover.ts';
import type { Logger } from '../services/core/log.ts';
import { dataPaths } from '../services/core/paths.ts';
import { isAlive, processFacts, signal } from '../services/core/pids.ts';
import {
  BUILD_DIR,
  entryCommand,
  IDLE_HEAP_OPTIONS,
  ROOT,
  runsEntry,
} from '../services/core/runtime.ts';
import { type Endpoint, REPLACES_ENV, type ServiceMessage } from '../services/core/service.ts';
import { VERSION } from '../services/core/version.ts';
import { type Tail, tailFile } from './log-tail.ts';

export interface ServiceSpec {
  name: string;
  /**
   * Entry module, relative to the repository root: `services/<name>/main.ts`,
   * which calls runService with the `start` that `service.ts` beside it exports
   * (test/harness/in-process.ts calls that `start` directly).
   */
  entry: string;
  /**
   * Serves on when the supervisor dies (its own session, its log in
   * `<data>/logs/<name>.log`); the next supervisor adopts it.
   */
  outlivesSupervisor?: boolean;
  /**
   * How `berth reload` replaces it (infra/reload.ts): 'overlap' starts the
   * new process, which takes the old one's listening sockets, before the old
   * one stops; 'stop-first' stops the old one first (no clients wait on it,
   * and two would do the same work at once); 'router': the primary is
   * replaced and it replaces its router processes over the same sockets.
   * Default: 'overlap'.
   */
  reload?: 'overlap' | 'stop-first' | 'router';
}

/**
 * Every service `npm start` runs; later issues add theirs here. The control
 * process runs web, ssh and the builder as parts of one process
 * (services/control/service.ts); on a reload its builder part allows for the
 * old one's (its first reconcile takes each app's lock).
 */
export const SERVICES: readonly ServiceSpec[] = [
  { name: 'control', entry: 'services/control/main.ts', reload: 'overlap' },
  { name: 'ssh', entry: 'services/ssh/main.ts', reload: 'overlap' },
  { name: 'router', entry: 'proxy/main.ts', outlivesSupervisor: true, reload: 'router' },
];

/** A service that ran this long before it died starts again after the shortest delay. */
const STABLE_MS = 60_000;
/** How often a service this supervisor did not start (adopted) is checked for life. */
const ADOPTED_POLL_MS = 250;
/**
 * How long a service may drain after SIGTERM before SIGKILL, unless the
 * options say otherwise: the router's own stop is bounded at 15 s
 * (proxy/service.ts), every other service's at 30 s (services/core/service.ts).
 * The systemd unit's TimeoutStopSec is set from it (infra/systemd/unit.ts).
 */
export const STOP_GRACE_MS = 35_000;

export interface SupervisorOptions {
  config: Config;
  log: Logger;
  /** The environment children inherit besides Berth's configuration (PATH, HOME...). */
  baseEnv: NodeJS.ProcessEnv;
  services?: readonly ServiceSpec[];
  /** Where the children's log lines go (one JSON object per line). */
  onLogLine?: (service: string, line: string) => void;
  readyTimeoutMs?: number;
  /** How long a service may take to drain after SIGTERM before SIGKILL. */
  stopGraceMs?: number;
}

export type ServiceState = 'starting' | 'running' | 'restarting' | 'stopped';

/** One line of the state file, `<data>/run/services.json`. */
export interface ServiceStatus {
  name: string;
  pid: number | undefined;
  state: ServiceState;
  /** Restarts since the supervisor started (adoption is not one). */
  restarts: number;
  /** When the current process started, or was adopted (ISO 8601). */
  since: string;
  lastExit?: string;
  adopted: boolean;
  /** Configuration and version it runs: adopted only when they are this supervisor's. */
  fingerprint: string;
  endpoints: Endpoint[];
}

export interface StateFile {
  supervisor: { pid: number; since: string };
  services: ServiceStatus[];
}

export function stateFilePath(dataDir: string): string {
  return path.join(dataDir, 'run', 'services.json');
}

/** The state file, or undefined when there is none (or it is unreadable). */
export function readStateFile(dataDir: string): StateFile | undefined {
  try {
    return JSON.parse(readFileSync(stateFilePath(dataDir), 'utf8')) as StateFile;
  } catch {
    return undefined;
  }
}

export interface Child {
  spec: ServiceSpec;
  pid: number | undefined;
  /** Undefined for an adopted service: it is not this process's child. */
  process: ChildProcess | undefined;
  restarts: number;
  endpoints: Endpoint[];
  state: ServiceState;
  startedAt: number;
  adopted: boolean;
  lastExit?: string;
  /** Resolves when the process has ended. */
  exited: Promise<void>;
  tail?: Tail;
  /** The bundle it runs (undefined: the sources, through tsx). */
  codeDir: string | undefined;
  /** Replaced by a reload: its end is no crash. */
  retired?: boolean;
  /** Its last log lines, for a reload that fails to say why. */
  lastLines: string[];
}

/** How many of a service's last log lines a failed reload shows. */
const LAST_LINES = 10;

/** The code a bundle directory holds, as fingerprints name it. */
export const codeIdOf = (codeDir: string | undefined): string =>
  codeDir === undefined ? 'source' : path.basename(codeDir);

export class Supervisor {
  private readonly children = new Map<string, Child>();
  private stopping = false;
  private readonly since = new Date().toISOString();
  /** The state file a previous supervisor left. */
  private previous: StateFile | undefined;
  /** The bundle services start from: this process's own, until a reload compiles a newer one. */
  codeDir: string | undefined = BUILD_DIR;

  constructor(private readonly o: SupervisorOptions) {}

  /** Starts every service (or adopts it); resolves with their endpoints once all are ready. */
  async start(): Promise<Endpoint[]> {
    const specs = this.o.services ?? SERVICES;
    // Read before this supervisor writes its own.
    this.previous = readStateFile(this.o.config.dataDir);
    // Wait for every service to be ready or failed before stopping any, so
    // none is signalled half-way through its own start.
    const results = await Promise.allSettled(specs.map((spec) => this.startOrAdopt(spec)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
    return specs.flatMap((s) => this.children.get(s.name)?.endpoints ?? []);
  }

  /** What each service is doing now, as `berth services` shows it. */
  status(): ServiceStatus[] {
    return [...this.children.values()].map((c) => ({
      name: c.spec.name,
      pid: c.pid,
      state: c.state,
      restarts: c.restarts,
      since: new Date(c.startedAt).toISOString(),
      ...(c.lastExit === undefined ? {} : { lastExit: c.lastExit }),
      adopted: c.adopted,
      fingerprint: this.fingerprint(c.spec, c.codeDir),
      endpoints: c.endpoints,
    }));
  }

  /** The service named `name` as it runs now (for reload). */
  child(name: string): Child | undefined {
    return this.children.get(name);
  }

  /** The services this supervisor runs, in the order they were given. */
  get specs(): readonly ServiceSpec[] {
    return this.o.services ?? SERVICES;
  }

  /** Puts `next`, ready, in `old`'s place (a reload); `old`'s end is then no crash. */
  install(old: Child, next: Child): void {
    old.retired = true;
    this.children.set(next.spec.name, next);
    this.writeState();
  }

  private fingerprint(spec: ServiceSpec, codeDir = this.codeDir): string {
    return createHash('sha256')
      .update(JSON.stringify([VERSION, codeIdOf(codeDir), spec.entry, configToEnv(this.o.config)]))
      .digest('hex')
      .slice(0, 16);
  }

  writeState(): void {
    const file = stateFilePath(this.o.config.dataDir);
    const state: StateFile = {
      supervisor: { pid: process.pid, since: this.since },
      services: this.status(),
    };
    try {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
      renameSync(`${file}.tmp`, file);
    } catch (e) {
      this.o.log.warn({ err: e, file }, 'cannot write the services state file');
    }
  }

  private async startOrAdopt(spec: ServiceSpec): Promise<void> {
    if (spec.outlivesSupervisor) {
      const running = this.running(spec);
      if (running?.fingerprint === this.fingerprint(spec)) return this.adopt(spec, running);
      if (running?.pid !== undefined) {
        // Left by a supervisor with another configuration or version: its
        // replacement must run this one's.
        this.o.log.info(
          { service: spec.name, pid: running.pid },
          'running with another configuration or version; replacing it',
        );
        await this.terminate(spec, running.pid, undefined);
      }
    }
    await this.spawn(spec, 0);
  }

  /** The outliving service a previous supervisor left running, checked to be it. */
  private running(spec: ServiceSpec): ServiceStatus | undefined {
    const entry = this.previous?.services.find((s) => s.name === spec.name);
    const pid = entry?.pid;
    if (entry === undefined || pid === undefined || !isAlive(pid)) return undefined;
    // The pid may have been reused since: it must run this entry for this data directory.
    const facts = processFacts(pid);
    const isIt =
      facts !== undefined &&
      runsEntry(facts.argv, spec.entry) &&
      facts.env.includes(`BERTH_DATA_DIR=${this.o.config.dataDir}`);
    return isIt ? entry : undefined;
  }

  private adopt(spec: ServiceSpec, running: ServiceStatus): void {
    const pid = running.pid as number;
    const child: Child = {
      spec,
      pid,
      process: undefined,
      restarts: 0,
      endpoints: running.endpoints,
      state: 'running',
      startedAt: Date.now(),
      adopted: true,
      // Not our child: no exit event comes, so look.
      exited: waitGone(pid),
      tail: this.tailLog(spec),
      // Adopted only when its fingerprint, which names its code, is ours.
      codeDir: this.codeDir,
      lastLines: [],
    };
    this.children.set(spec.name, child);
    this.o.log.info({ service: spec.name, pid }, 'already running; adopted');
    this.writeState();
    void child.exited.then(() => this.onExit(child, 'exited'));
  }

  /** Is it stopping (Ctrl-C, SIGTERM)? A reload then gives up. */
  get isStopping(): boolean {
    return this.stopping;
  }

  private logFile(spec: ServiceSpec): string {
    const dir = dataPaths(this.o.config.dataDir).logs;
    mkdirSync(dir, { recursive: true });
    return path.join(dir, `${spec.name}.log`);
  }

  private tailLog(
    spec: ServiceSpec,
    onLine: (line: string) => void = (line) => this.o.onLogLine?.(spec.name, line),
  ): Tail {
    return tailFile(this.logFile(spec), onLine);
  }

  /**
   * Starts `spec` from `codeDir`'s bundle; resolves with it once ready. With
   * a `predecessor` (a reload) it takes that process's listening sockets
   * (services/core/handover.ts), and the caller puts it in the
   * predecessor's place once ready.
   */
  spawn(
    spec: ServiceSpec,
    restarts: number,
    o: { codeDir?: string | undefined; predecessor?: Child; onChild?: (c: Child) => void } = {},
  ): Promise<Child> {
    const outlives = spec.outlivesSupervisor === true;
    const codeDir = 'codeDir' in o ? o.codeDir : this.codeDir;
    const lastLines: string[] = [];
    const emit = (line: string) => {
      lastLines.push(line);
      if (lastLines.length > LAST_LINES) lastLines.shift();
      this.o.onLogLine?.(spec.name, line);
    };
    let tail: Tail | undefined;
    let stdio: ('ignore' | 'pipe' | 'ipc' | number)[] = ['ignore', 'pipe', 'pipe', 'ipc'];
    let logFd: number | undefined;
    if (outlives) {
      // A file, not a pipe: the pipe's reader (this process) may die first.
      tail = this.tailLog(spec, emit);
      logFd = openSync(this.logFile(spec), 'a');
      stdio = ['ignore', logFd, logFd, 'ipc'];
    }
    // The bundle under `npm start`; the source through tsx when this
    // supervisor runs from sources (development, some tests).
    const { file, execArgv } = entryCommand(spec.entry, codeDir);
    const child = fork(file, [], {
      cwd: ROOT,
      execArgv: [...execArgv, ...IDLE_HEAP_OPTIONS],
      env: {
        ...this.o.baseEnv,
        ...configToEnv(this.o.config),
        ...(o.predecessor?.pid === undefined ? {} : { [REPLACES_ENV]: String(o.predecessor.pid) }),
      },
      stdio,
      // Its own session: neither the terminal's Ctrl-C or hang-up nor this
      // process's death reaches it; a deliberate stop signals it.
      detached: outlives,
    });
    if (logFd !== undefined) closeSync(logFd);
    const entry: Child = {
      spec,
      pid: child.pid,
      process: child,
      restarts,
      endpoints: [],
      state: 'starting',
      startedAt: Date.now(),
      adopted: false,
      exited: new Promise<void>((resolve) => child.once('exit', () => resolve())),
      ...(tail ? { tail } : {}),
      codeDir,
      lastLines,
    };
    o.onChild?.(entry);
    if (o.predecessor === undefined) {
      this.children.set(spec.name, entry);
      this.writeState();
    }
    if (child.stdout) createInterface({ input: child.stdout }).on('line', emit);
    if (child.stderr) createInterface({ input: child.stderr }).on('line', emit);

    return new Promise((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        fail(`not ready after ${(this.o.readyTimeoutMs ?? 30_000) / 1000} s`);
        child.kill('SIGKILL');
      }, this.o.readyTimeoutMs ?? 30_000);
      const fail = (reason: string) => {
        clearTimeout(timer);
        reject(new BerthError('BERTH_E_SERVICE_FAILED', { service: spec.name, reason }));
      };
      child.on('message', (m: ServiceMessage | HandoverMessage) => {
        if (m.type === 'want-socket') {
          void this.relaySocket(o.predecessor, child, m.key);
        } else if (m.type === 'ready' && !ready) {
          ready = true;
          clearTimeout(timer);
          entry.endpoints = m.endpoints;
          entry.state = 'running';
          if (o.predecessor === undefined) this.writeState();
          // Nothing ties it to this process any more (runService lets it serve on).
          if (outlives) child.disconnect();
          resolve(entry);
        } else if (m.type === 'failed' && !ready) {
          fail(m.error);
        }
      });
      child.on('exit', (code, signal) => {
        const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
        if (!ready) {
          entry.tail?.stop();
          fail(how);
          return;
        }
        this.onExit(entry, how);
      });
    });
  }

  /**
   * A starting service asked for the listening socket `key`: the one its
   * predecessor holds (asked for over that one's IPC channel), else none.
   * The handle only passes through: it is closed here once sent on.
   */
  private async relaySocket(from: Child | undefined, to: ChildProcess, key: string) {
    const none = () => to.send({ type: 'no-socket', key } satisfies HandoverMessage);
    const old = from?.process;
    if (old === undefined || !old.connected) return none();
    const got = await new Promise<{ handle: unknown } | undefined>((resolve) => {
      const timer = setTimeout(() => done(undefined), 10_000);
      const done = (r: { handle: unknown } | undefined) => {
        clearTimeout(timer);
        old.off('message', onMessage);
        resolve(r);
      };
      const onMessage = (m: HandoverMessage, handle: unknown) => {
        if (m?.key !== key) return;
        if (m.type === 'socket') done({ handle });
        else if (m.type === 'no-socket') done(undefined);
      };
      old.on('message', onMessage);
      old.send({ type: 'give-socket', key } satisfies HandoverMessage);
    });
    if (got?.handle === undefined || !to.connected) return none();
    const handle = got.handle as { close?: () => void };
    to.send({ type: 'socket', key } satisfies HandoverMessage, handle as never, () =>
      handle.close?.(),
    );
  }

  /** A crash after start: bring it back, slower each time, so a service that cannot run does not spin the machine. */
  onExit(entry: Child, how: string): void {
    entry.tail?.stop();
    entry.lastExit = `${how} at ${new Date().toISOString()}`;
    // A process a reload replaced, or one whose successor already runs.
    if (entry.retired || this.children.get(entry.spec.name) !== entry) return;
    if (this.stopping) return;
    // A service that ran a good while starts over at the shortest delay.
    const restarts = Date.now() - entry.startedAt >= STABLE_MS ? 0 : entry.restarts;
    const delay = Math.min(30_000, 1000 * 2 ** Math.min(restarts, 5));
    entry.state = 'restarting';
    entry.pid = undefined;
    this.writeState();
    this.o.log.error(
      { service: entry.spec.name, exit: how, restartInMs: delay },
      'service exited; restarting',
    );
    setTimeout(() => {
      if (!this.stopping && this.children.get(entry.spec.name) === entry) {
        // The code it ran (after a reload, newer than this supervisor's).
        this.spawn(entry.spec, restarts + 1, { codeDir: entry.codeDir }).catch((e: Error) => {
          this.o.log.error({ service: entry.spec.name, err: e }, 'restart failed');
          const failed = this.children.get(entry.spec.name);
          if (failed) this.onExit(failed, 'failed to start');
        });
      }
    }, delay).unref();
  }

  /**
   * SIGTERM, then SIGKILL after the grace period; for a service in its own
   * session, to its whole process group (what it started lives there).
   */
  async terminate(spec: ServiceSpec, pid: number, exited: Promise<void> | undefined) {
    const gone = exited ?? waitGone(pid);
    const grace = this.o.stopGraceMs ?? STOP_GRACE_MS;
    const killer = setTimeout(() => {
      this.o.log.warn({ service: spec.name }, `still running after ${grace / 1000} s; killing it`);
      signal(pid, 'SIGKILL');
      if (spec.outlivesSupervisor) signal(-pid, 'SIGKILL');
    }, grace);
    signal(pid, 'SIGTERM');
    await gone;
    clearTimeout(killer);
  }

  /** SIGTERM to every service, then SIGKILL to those still running after the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.children.values()].map(async (c) => {
        const running =
          c.pid !== undefined &&
          (c.process
            ? c.process.exitCode === null && c.process.signalCode === null
            : isAlive(c.pid));
        if (running) await this.terminate(c.spec, c.pid as number, c.exited);
        c.tail?.stop();
        c.state = 'stopped';
        c.pid = undefined;
      }),
    );
    this.writeState();
  }
}

/** Resolves once `pid` has ended (for a process that is not this one's child). */
export function waitGone(pid: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (isAlive(pid)) return;
      clearInterval(timer);
      resolve();
    }, ADOPTED_POLL_MS);
  });
}
