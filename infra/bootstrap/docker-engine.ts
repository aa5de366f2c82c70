// Makes sure a Docker Engine answers: the one at DOCKER_HOST, or the local
// dockerd, which is started here (detached, logging to a file) when it is
// installed but not running. Starting is idempotent: a dockerd that is still
// starting is waited for, and what a killed dockerd leaves behind (its pid
// file, its managed containerd) is recognised rather than tripped over.
import { spawn } from 'node:child_process';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../services/core/config.ts';
import {
  DEFAULT_DOCKER_SOCKET,
  dockerHostLabel,
  dockerSocketPath,
  pingDocker,
} from '../../services/core/docker.ts';
import { BerthError } from '../../services/core/errors.ts';
import { findProgram, systemSearchPath } from '../../services/core/programs.ts';
import {
  isAlive,
  livePid,
  parentPid,
  processAgeMs,
  readFileSyncSafe,
  stopProcess,
} from './processes.ts';
import type { Progress, Step } from './progress.ts';

/** Where a local dockerd keeps its socket and state. */
export interface LocalEngineLayout {
  socketPath: string;
  pidFile: string;
  /** dockerd's --data-root; undefined: its default (/var/lib/docker). */
  dataRoot?: string;
  /** dockerd's --exec-root; undefined: its default (/var/run/docker). */
  execRoot?: string;
  /** More dockerd arguments (tests run a private engine with --bridge=none and so on). */
  extraArgs?: readonly string[];
}

/** dockerd's own defaults: nothing is passed on its command line. */
export const DEFAULT_ENGINE_LAYOUT: LocalEngineLayout = Object.freeze({
  socketPath: DEFAULT_DOCKER_SOCKET,
  pidFile: '/var/run/docker.pid',
});

const DEFAULT_EXEC_ROOT = '/var/run/docker';

export interface EnsureDockerEngineOptions {
  config: Pick<Config, 'dockerHost'>;
  progress: Progress;
  /** dockerd.log goes here when Berth starts dockerd. */
  logDir: string;
  /** Default: dockerd's defaults (/var/run/docker.sock, /var/run/docker.pid). */
  layout?: LocalEngineLayout;
  /** How long dockerd may take to answer (default 60 s). */
  startTimeoutMs?: number;
  /** Default: dockerd found in searchPath. */
  dockerdPath?: string;
  /** Where to find dockerd and the programs it runs (containerd, runc, iptables); default the system directories. */
  searchPath?: string;
}

export type DockerEngine =
  | { startedByUs: false }
  | {
      startedByUs: true;
      pid: number;
      logPath: string;
      /** SIGTERM, wait for dockerd to exit (bounded), then SIGKILL. */
      stop(): Promise<void>;
    };

/** Returns once the engine answers, starting the local dockerd when it has to. */
export async function ensureDockerEngine(
  options: EnsureDockerEngineOptions,
): Promise<DockerEngine> {
  const { config, progress, logDir } = options;
  const layout = options.layout ?? DEFAULT_ENGINE_LAYOUT;
  const host = dockerHostLabel(config);
  const first = await pingDocker(config, 1500);
  if (first.ok) return { startedByUs: false };

  if (first.code === 'EACCES') {
    // dockerd runs; this user may not use its socket.
    throw new BerthError('BERTH_E_NOT_ROOT', {
      action: `using the Docker Engine (${first.reason})`,
    });
  }
  const socket = dockerSocketPath(config);
  if (socket === undefined || path.resolve(socket) !== path.resolve(layout.socketPath)) {
    // Not ours to start: DOCKER_HOST names another machine or another socket.
    throw new BerthError('BERTH_E_DOCKER_NO_ANSWER', { host, reason: first.reason });
  }
  const searchPath = options.searchPath ?? systemSearchPath(undefined);
  const dockerd = options.dockerdPath ?? (await findProgram('dockerd', searchPath));
  if (dockerd === undefined) throw new BerthError('BERTH_E_DOCKERD_MISSING');
  if (process.getuid?.() !== 0) {
    throw new BerthError('BERTH_E_NOT_ROOT', { action: 'starting the Docker Engine (dockerd)' });
  }

  const logPath = path.join(logDir, 'dockerd.log');
  const timeoutMs = options.startTimeoutMs ?? 60_000;

  for (let attempt = 1; ; attempt++) {
    // A dockerd of someone else's (another `npm start`, a test run, systemd)
    // may be starting right now; or a killed one left its pid file behind.
    const running = await livePid(layout.pidFile, 'dockerd');
    if (running.state === 'alive') {
      // One that has run for longer than a start takes is not starting: it
      // is hung, or listens elsewhere; a few seconds tell.
      const age = processAgeMs(running.pid);
      const patience = age !== undefined && age > timeoutMs ? Math.min(timeoutMs, 3000) : timeoutMs;
      const step = progress.step(`Waiting for dockerd (pid ${running.pid}) to answer`);
      const answer = await waitForEngine(config, patience, () => isAlive(running.pid));
      if (answer.ok) {
        step.done(answer.summary);
        return { startedByUs: false };
      }
      if (isAlive(running.pid)) {
        step.fail(answer.reason);
        throw new BerthError('BERTH_E_DOCKERD_STUCK', {
          pid: running.pid,
          socket: layout.socketPath,
          log: logPath,
        });
      }
      step.fail(`dockerd (pid ${running.pid}) exited`);
    } else if (running.state === 'stale') {
      // dockerd refuses to start while its pid file names a live process, even
      // an unrelated one that got the pid after a reboot or a kill -9.
      progress.info(`removing ${layout.pidFile}: ${running.why}`);
      await removeIfUnchanged(layout.pidFile, running.text);
    }
    await clearStaleContainerd(layout.execRoot ?? DEFAULT_EXEC_ROOT, progress);

    const step = progress.step('Starting the Docker Engine (dockerd)');
    try {
      return await startDockerd({ dockerd, searchPath, layout, logPath, config, timeoutMs, step });
    } catch (e) {
      step.fail(e instanceof BerthError ? String(e.params.reason ?? e.message) : String(e));
      // Two starts at once: the other dockerd took the pid file and ours gave
      // up; wait for that one instead.
      const other = await livePid(layout.pidFile, 'dockerd');
      if (attempt === 1 && other.state === 'alive') continue;
      throw e;
    }
  }
}

/** Removes a leftover pid file unless another process rewrote it meanwhile. */
async function removeIfUnchanged(file: string, text: string | undefined): Promise<void> {
  const now = await readFile(file, 'utf8').catch(() => undefined);
  if (now === text) await rm(file, { force: true });
}

async function startDockerd(o: {
  dockerd: string;
  searchPath: string;
  layout: LocalEngineLayout;
  logPath: string;
  config: Pick<Config, 'dockerHost'>;
  timeoutMs: number;
  step: Step;
}): Promise<DockerEngine> {
  const { layout, logPath, step } = o;
  const args: string[] = [];
  if (layout !== DEFAULT_ENGINE_LAYOUT) {
    args.push('--host', `unix://${layout.socketPath}`, '--pidfile', layout.pidFile);
    if (layout.dataRoot) args.push('--data-root', layout.dataRoot);
    if (layout.execRoot) args.push('--exec-root', layout.execRoot);
    args.push(...(layout.extraArgs ?? []));
  }
  await mkdir(path.dirname(logPath), { recursive: true });
  const log = await open(logPath, 'a');
  const logStart = (await log.stat()).size;
  await log.write(`--- berth: ${new Date().toISOString()} ${o.dockerd} ${args.join(' ')}\n`);
  const child = spawn(o.dockerd, args, {
    detached: true,
    stdio: ['ignore', log.fd, log.fd],
    // Inherits the environment (proxy settings for pulls); finds containerd,
    // runc and iptables on PATH.
    env: { ...process.env, PATH: o.searchPath },
  });
  await log.close();
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exit = signal ? `killed by ${signal}` : `exit code ${code}`;
      resolve();
    });
    child.on('error', (e) => {
      exit = e.message;
      resolve();
    });
  });
  child.unref();
  const pid = child.pid;

  const answer = await waitForEngine(
    o.config,
    o.timeoutMs,
    // The exit event can come late on a busy machine (seen: not within 60 s
    // under a full test run); /proc knows at once that it is a zombie or gone.
    () => exit === undefined && (pid === undefined || isAlive(pid)),
    async () => {
      const line = await lastLogLine(logPath, logStart);
      if (line) step.update(line);
    },
  );
  if (answer.ok) {
    // Ours exited, yet an engine answers: another start won the race.
    if (pid === undefined || exit !== undefined) {
      step.done(`${answer.summary}, started by another process`);
      return { startedByUs: false };
    }
    step.done(`${answer.summary}, pid ${pid}`);
    // 30 s grace: dockerd gives containers 15 s (its --shutdown-timeout) before it stops them hard.
    return { startedByUs: true, pid, logPath, stop: () => stopProcess('dockerd', pid, exited) };
  }
  const last = await lastLogLine(logPath, logStart);
  if (exit === undefined && pid !== undefined) {
    if (isAlive(pid)) await stopProcess('dockerd', pid, exited, 10_000);
    else await Promise.race([exited, sleep(5000)]); // gone: its exit status is on the way
  }
  const how = exit !== undefined ? `dockerd exited (${exit})` : answer.reason;
  throw new BerthError('BERTH_E_DOCKER_UNAVAILABLE', {
    host: dockerHostLabel(o.config),
    reason: last ? `${how}: ${last}` : how,
    log: logPath,
  });
}

type WaitResult = { ok: true; summary: string } | { ok: false; reason: string };

/** Pings until the engine answers, `stillHope` turns false, or the time is up. */
async function waitForEngine(
  config: Pick<Config, 'dockerHost'>,
  timeoutMs: number,
  stillHope: () => boolean,
  onTick?: () => Promise<void>,
): Promise<WaitResult> {
  const deadline = Date.now() + timeoutMs;
  let reason = 'no answer';
  for (;;) {
    const ping = await pingDocker(config, 1000);
    if (ping.ok)
      return { ok: true, summary: `Docker ${ping.engine.version}, API ${ping.apiVersion}` };
    reason = ping.reason;
    await onTick?.();
    if (!stillHope()) return { ok: false, reason };
    if (Date.now() >= deadline)
      return { ok: false, reason: `no answer within ${timeoutMs / 1000} s (${reason})` };
    await sleep(150);
  }
}

/**
 * dockerd starts its own containerd (unless one answers at
 * /run/containerd/containerd.sock) and, on a restart, looks for the previous
 * one through its pid file: a live containerd is reused. dockerd's check is a
 * signal 0, which a zombie passes: after a kill -9 of dockerd its containerd
 * dies too but can stay a zombie for a while (when the init does not reap it
 * at once), and dockerd would then wait 15 s for that zombie and give up with
 * "timeout waiting for containerd to start". A pid file that names no live
 * containerd therefore goes. Nor is one that is still running always
 * reusable: right after the kill it is dying (dockerd starts it with a
 * parent-death signal), and under load that can take a moment that dockerd
 * then spends waiting for it. A containerd whose parent is no longer a
 * dockerd is given ORPHAN_EXIT_MS to go first.
 */
async function clearStaleContainerd(execRoot: string, progress: Progress): Promise<void> {
  const pidFile = path.join(execRoot, 'containerd', 'containerd.pid');
  let state = await livePid(pidFile, 'containerd');
  if (state.state === 'alive' && !hasDockerdParent(state.pid)) {
    const deadline = Date.now() + ORPHAN_EXIT_MS;
    while (state.state === 'alive' && Date.now() < deadline) {
      await sleep(100);
      state = await livePid(pidFile, 'containerd');
    }
  }
  if (state.state === 'alive') {
    progress.info(`containerd (pid ${state.pid}) from an earlier dockerd runs; dockerd reuses it`);
  } else if (state.state === 'stale') {
    progress.info(`removing ${pidFile}: ${state.why}`);
    await removeIfUnchanged(pidFile, state.text);
  }
}

/** How long a containerd left by a killed dockerd is given to exit before it is taken as reusable. */
const ORPHAN_EXIT_MS = 5000;

function hasDockerdParent(pid: number): boolean {
  const parent = parentPid(pid);
  return parent !== undefined && readFileSyncSafe(`/proc/${parent}/comm`)?.trim() === 'dockerd';
}

/** The last non-empty line dockerd wrote since `from`, its msg="..." when it has one. */
async function lastLogLine(logPath: string, from: number): Promise<string> {
  let text: string;
  try {
    const size = (await stat(logPath)).size;
    const start = Math.max(from, size - 8192);
    const fh = await open(logPath, 'r');
    try {
      const buffer = Buffer.alloc(size - start);
      await fh.read(buffer, 0, buffer.length, start);
      text = buffer.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
  const last =
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(
        (l) => l !== '' && !l.startsWith('--- berth:') && !l.startsWith("See 'dockerd --help'"),
      )
      .at(-1) ?? '';
  const line = last.replace(/^Status: /, '');
  const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(line);
  if (!msg?.[1]) return line;
  const err = /error="((?:[^"\\]|\\.)*)"/.exec(line);
  const text2 = err?.[1] ? `${msg[1]}: ${err[1]}` : msg[1];
  return text2.replace(/\\"/g, '"').replace(/\\\\/g, '\\');
}
