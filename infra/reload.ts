// `berth reload` and SIGHUP to the supervisor (systemd's ExecReload): every
// service is replaced by the code now on disk, with no failed request. The
// sources are compiled first (infra/build.mjs, in a process of its own); a
// compile error replaces nothing. Then one service at a time, by its
// ServiceSpec.reload: web and ssh start beside the old process and take its
// listening sockets (services/core/handover.ts), and the old one drains
// (SSH sessions running there finish there, for at most its stop grace);
// the builder stops first, then starts (no client waits on it; two
// builders would reconcile the same apps without a lock); the router's
// primary is killed as in a crash, its router processes serving on, and the
// new primary adopts them and replaces them by router processes of the new
// code over the same kernel sockets (proxy/service.ts settle). A new process
// that does not become ready is stopped and the old code runs on (started
// again, for those that stopped first), and the reload ends there, saying
// why with the service's last log lines.
//
// What a reload does not change: the supervisor's own code (it runs until
// the next restart; the services it starts are the new code's) and the
// configuration (read once at start; under systemd the EnvironmentFile is
// read again only by a restart). Progress goes to the supervisor's stderr
// and to `<data>/run/reload.json`, which `berth reload` follows.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BerthError, errorLine } from '../services/core/errors.ts';
import type { Logger } from '../services/core/log.ts';
import { signal } from '../services/core/pids.ts';
import { BUILD_DIR, ROOT } from '../services/core/runtime.ts';
import { formatLogLine } from './log-format.ts';
import { type Child, codeIdOf, type ServiceSpec, type Supervisor } from './supervisor.ts';

/**
 * What `berth reload` sends the supervisor. SIGHUP does the same when the
 * supervisor has no terminal (systemd's ExecReload); on a terminal it is
 * the terminal's hang-up, and stops Berth as before.
 */
export const RELOAD_SIGNAL = 'SIGUSR2';

export type ReloadState = 'running' | 'done' | 'unchanged' | 'failed';

/** `<data>/run/reload.json`: the last reload, as it goes. */
export interface ReloadStatus {
  /** One more than the previous reload's: `berth reload` waits for a new one. */
  id: number;
  state: ReloadState;
  started: string;
  /** How long it took, once over. */
  ms?: number;
  /** Every line it said, in order. */
  lines: string[];
  /** Why it failed: the compiler's first error, or the service that did not start. */
  error?: string;
}

export function reloadStatusPath(dataDir: string): string {
  return path.join(dataDir, 'run', 'reload.json');
}

export function readReloadStatus(dataDir: string): ReloadStatus | undefined {
  try {
    return JSON.parse(readFileSync(reloadStatusPath(dataDir), 'utf8')) as ReloadStatus;
  } catch {
    return undefined;
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export class Reloader {
  private running: Promise<void> | undefined;
  private again = false;
  private cancelled = false;

  constructor(
    private readonly supervisor: Supervisor,
    private readonly o: { dataDir: string; log: Logger; out: (line: string) => void },
  ) {}

  /** Asks for a reload; one asked for during another runs after it. */
  request(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.request();
      }
    });
  }

  /** Ends a running reload after its current step (Berth stops); resolves when none runs. */
  async cancel(): Promise<void> {
    this.cancelled = true;
    this.again = false;
    while (this.running) await this.running;
  }

  private async run(): Promise<void> {
    const started = Date.now();
    const status: ReloadStatus = {
      id: (readReloadStatus(this.o.dataDir)?.id ?? 0) + 1,
      state: 'running',
      started: new Date(started).toISOString(),
      lines: [],
    };
    const write = () => {
      const file = reloadStatusPath(this.o.dataDir);
      try {
        mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        writeFileSync(`${file}.tmp`, `${JSON.stringify(status, null, 2)}\n`);
        renameSync(`${file}.tmp`, file);
      } catch (e) {
        this.o.log.warn({ err: e, file }, 'cannot write the reload status file');
      }
    };
    const say = (line: string) => {
      status.lines.push(line);
      this.o.out(line);
      write();
    };
    const end = (state: ReloadState, error?: string) => {
      status.state = state;
      status.ms = Date.now() - started;
      if (error !== undefined) status.error = error;
      write();
    };
    try {
      const outcome = await this.reload(say);
      end(outcome);
    } catch (e) {
      const reason = e instanceof BerthError ? (e.params.reason as string) : errorLine(e);
      say(`reload failed: ${reason}`);
      end('failed', reason);
    }
  }

  private async reload(say: (line: string) => void): Promise<ReloadState> {
    const started = Date.now();
    if (BUILD_DIR === undefined) {
      throw new BerthError('BERTH_E_RELOAD_FAILED', {
        reason:
          'this Berth runs its TypeScript sources through tsx, not a compiled bundle; reload replaces bundles (npm start)',
      });
    }
    say('compiling the sources on disk');
    // Loaded from disk at run time (not bundled): it finds the repository from its own path.
    const build = (await import(
      pathToFileURL(path.join(ROOT, 'infra', 'build.mjs')).href
    )) as typeof import('./build.mjs');
    let codeDir: string;
    try {
      codeDir = await build.ensureBuild({ root: ROOT, claim: true });
    } catch (e) {
      throw new BerthError('BERTH_E_RELOAD_FAILED', {
        reason: `${(e as Error).message}; nothing was replaced`,
      });
    }
    const to = codeIdOf(codeDir);
    const stale = this.supervisor.specs.filter(
      (s) => this.supervisor.child(s.name)?.codeDir !== codeDir,
    );
    if (stale.length === 0) {
      say(`nothing to replace: every service runs ${to} already, the code on disk`);
      return 'unchanged';
    }
    say(`compiled ${to}; replacing ${stale.map((s) => s.name).join(', ')}`);
    this.supervisor.codeDir = codeDir;
    const draining: Promise<void>[] = [];
    for (const spec of stale) {
      if (this.cancelled || this.supervisor.isStopping) throw new Error('Berth is stopping');
      const old = this.supervisor.child(spec.name);
      const t = Date.now();
      try {
        draining.push((await this.replace(spec, old, codeDir)).drained);
      } catch (e) {
        const reason = e instanceof ReplaceFailed ? e.reason : errorLine(e);
        const from = codeIdOf(old?.codeDir);
        say(
          `${spec.name}: the new one did not start (${reason}); the old one (${from}) serves on. Its last lines:`,
        );
        for (const line of e instanceof ReplaceFailed ? e.lastLines : []) {
          say(`  | ${formatLogLine(line)}`);
        }
        // What runs now: the services already replaced keep the new code.
        this.supervisor.codeDir = old?.codeDir;
        throw new BerthError('BERTH_E_RELOAD_FAILED', {
          reason: `${spec.name} of ${to} did not start: ${reason}`,
        });
      }
      say(`${spec.name}: replaced in ${seconds(Date.now() - t)}`);
    }
    await Promise.all(draining);
    say(
      `done in ${seconds(Date.now() - started)}: ${stale.map((s) => s.name).join(', ')} run ${to}; ` +
        `the supervisor itself runs ${codeIdOf(BUILD_DIR)} until Berth restarts; the configuration is the one read at start`,
    );
    return 'done';
  }

  /** Replaces one service; resolves, once the new one serves, with the old one's drain. */
  private async replace(
    spec: ServiceSpec,
    old: Child | undefined,
    codeDir: string,
  ): Promise<{ drained: Promise<void> }> {
    const sup = this.supervisor;
    const how = spec.reload ?? 'overlap';
    const alive = old?.pid !== undefined && old.state !== 'stopped';
    if (how === 'overlap' && old !== undefined) {
      const next = await this.start(spec, codeDir, old);
      sup.install(old, next);
      const drained = alive ? sup.terminate(spec, old.pid as number, old.exited) : undefined;
      return { drained: drained ?? Promise.resolve() };
    }
    // Stopped first: the router's primary as in a crash (its router
    // processes serve on, for the next primary to adopt), others drained.
    if (old !== undefined) {
      old.retired = true;
      if (alive && how === 'router') {
        signal(old.pid as number, 'SIGKILL');
        await old.exited;
      } else if (alive) await sup.terminate(spec, old.pid as number, old.exited);
      old.tail?.stop();
    }
    try {
      await this.start(spec, codeDir, undefined);
    } catch (e) {
      // The old code again (its bundle is kept while this supervisor runs).
      const back = old?.codeDir;
      await sup.spawn(spec, 0, { codeDir: back }).catch((err: unknown) => {
        this.o.log.error({ service: spec.name, err }, 'the previous version did not start again');
        const current = sup.child(spec.name);
        if (current) sup.onExit(current, 'failed to start');
      });
      throw e;
    }
    return { drained: Promise.resolve() };
  }

  private async start(spec: ServiceSpec, codeDir: string, predecessor: Child | undefined) {
    let lastLines: string[] = [];
    try {
      return await this.supervisor.spawn(spec, 0, {
        codeDir,
        ...(predecessor ? { predecessor } : {}),
        onChild: (c) => {
          lastLines = c.lastLines;
        },
      });
    } catch (e) {
      throw new ReplaceFailed(e, lastLines);
    }
  }
}

/** A new service that did not become ready, with what it said last. */
class ReplaceFailed extends Error {
  readonly reason: string;
  constructor(
    cause: unknown,
    readonly lastLines: string[],
  ) {
    super(errorLine(cause));
    this.reason =
      cause instanceof BerthError && typeof cause.params.reason === 'string'
        ? cause.params.reason
        : errorLine(cause);
  }
}
