// The whole platform as a child process, exactly as `npm start` runs it:
// its own data directory, free ports, its own Redis (started by Berth itself
// on a free port, as on a fresh machine) and a fresh key prefix.
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SERVICES } from '../../infra/supervisor.ts';
import { freePort } from './ports.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const READY = /^=====> Berth is ready/;

export interface PlatformOptions {
  dataDir: string;
  /** Extra BERTH_* variables; free ports and a private REDIS_URL are chosen otherwise. */
  env?: Record<string, string>;
  timeoutMs?: number;
  /**
   * 'npm' (default): `npm start` in its own process group, stopped as Ctrl-C
   * stops it (SIGINT to the group). 'node': the start process alone, for
   * tests that signal the supervisor itself. Both run the compiled code,
   * as production does.
   */
  via?: 'npm' | 'node';
  /**
   * Instead of either: this command line, with exactly this environment and
   * in its own session, stopped by SIGTERM to it alone, as systemd runs and
   * stops a unit's ExecStart (KillMode=process). `env` above must hold the
   * same Berth settings, which the test reads its ports from.
   */
  exec?: { file: string; args: string[]; cwd: string; env: Record<string, string> };
}

export interface Platform {
  child: ChildProcess;
  env: Record<string, string>;
  /** From spawn to the ready banner. */
  readyMs: number;
  /** Everything the process wrote to stderr so far. */
  stderr: string[];
  /**
   * Ctrl-C, as a person would (SIGTERM, as systemd would, for `exec`);
   * resolves with how it ended and how long it took. `clean`: Berth said it stopped and exited 0 (npm itself then ends
   * by the SIGINT it received, as shells expect of Ctrl-C).
   */
  stop(): Promise<{ clean: boolean; ms: number }>;
  /** Stops the Redis that Berth started for this platform (it outlives Berth by design). */
  stopRedis(): Promise<void>;
  /**
   * For a test's `after`: stop(), then SIGKILL whatever of this data
   * directory still runs (the router outlives its supervisor by design; a
   * test may have killed the supervisor), then stopRedis().
   */
  stopAll(): Promise<void>;
}

export async function platformEnv(dataDir: string, extra: Record<string, string> = {}) {
  return {
    BERTH_DATA_DIR: dataDir,
    BERTH_SSH_PORT: String(await freePort()),
    BERTH_HTTP_PORT: String(await freePort()),
    BERTH_HTTPS_PORT: String(await freePort()),
    BERTH_WEB_PORT: String(await freePort()),
    BERTH_METRICS_PORT: String(await freePort()),
    REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    BERTH_REDIS_PREFIX: `berth-test-${path.basename(dataDir)}:`,
    // One router process: test files run four at a time on two cores, and
    // the router's own tests run two processes of it.
    BERTH_ROUTER_PROCESSES: '1',
    ...extra,
  };
}

export async function startPlatform(o: PlatformOptions): Promise<Platform> {
  const env = await platformEnv(o.dataDir, o.env);
  const started = performance.now();
  const viaNpm = o.exec === undefined && (o.via ?? 'npm') === 'npm';
  const [command, args] = o.exec
    ? [o.exec.file, o.exec.args]
    : viaNpm
      ? ['npm', ['start', '--silent']]
      : [process.execPath, [path.join(ROOT, 'infra/run.mjs'), 'start']];
  const child = spawn(command, args, {
    cwd: o.exec?.cwd ?? ROOT,
    env: o.exec?.env ?? { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: viaNpm || o.exec !== undefined,
  });
  const stopSignal: NodeJS.Signals = o.exec ? 'SIGTERM' : 'SIGINT';
  // What a terminal's Ctrl-C does: the signal goes to the whole foreground group.
  const signal = (sig: NodeJS.Signals) => {
    try {
      if (viaNpm && child.pid) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {}
  };
  const stderr: string[] = [];
  const lines = createInterface({ input: child.stderr as NodeJS.ReadableStream });
  const redisPidFile = path.join(o.dataDir, 'redis', 'redis.pid');
  const killRedis = async () => {
    const pid = Number((await readFile(redisPidFile, 'utf8').catch(() => '')).trim());
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  };
  const readyMs = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal('SIGKILL');
      reject(new Error(`not ready after ${o.timeoutMs ?? 120_000} ms:\n${stderr.join('\n')}`));
    }, o.timeoutMs ?? 120_000);
    lines.on('line', (line) => {
      stderr.push(line);
      if (READY.test(line)) {
        clearTimeout(timer);
        resolve(performance.now() - started);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`berth start exited with ${code} before ready:\n${stderr.join('\n')}`));
    });
  }).catch(async (e: unknown) => {
    // The Redis Berth started for this platform outlives Berth by design: not here.
    await killRedis();
    throw e;
  });
  // Read now: a test's temporary data directory may be gone when it cleans up.
  const redisPid = Number((await readFile(redisPidFile, 'utf8').catch(() => '')).trim());
  const platform: Platform = {
    child,
    env,
    readyMs,
    stderr,
    stop: () =>
      new Promise((resolve) => {
        const t0 = performance.now();
        const clean = (code: number | null, sig: NodeJS.Signals | null) =>
          stderr.some((l) => l.trim() === 'stopped') &&
          (code === 0 || (viaNpm && sig === 'SIGINT'));
        if (child.exitCode !== null || child.signalCode !== null) {
          return resolve({ clean: clean(child.exitCode, child.signalCode), ms: 0 });
        }
        child.once('exit', (code, sig) =>
          resolve({ clean: clean(code, sig), ms: performance.now() - t0 }),
        );
        signal(stopSignal);
      }),
    async stopRedis() {
      if (redisPid > 0) {
        try {
          process.kill(redisPid, 'SIGKILL');
        } catch {}
      }
    },
    async stopAll() {
      await platform.stop();
      for (const pid of await servicesOf(o.dataDir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      await platform.stopRedis();
    },
  };
  return platform;
}

/** Runs `berth ARGS` as a separate process, as root on the server would; stdin from a file when given. */
export function berthCommand(args: string[], env: Record<string, string>, stdinFile?: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'cli/main.ts'), ...args],
      {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: [stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      },
    );
    if (stdinFile && child.stdin) createReadStream(stdinFile).pipe(child.stdin);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Writes a known_hosts file holding the platform's SSH host key for
 * [127.0.0.1]:<its SSH port>, so the OpenSSH client checks the key strictly.
 */
export async function platformKnownHosts(p: Platform, file: string): Promise<string> {
  const dataDir = p.env.BERTH_DATA_DIR ?? '';
  const hostKey = (
    await readFile(path.join(dataDir, 'ssh', 'ssh_host_ed25519_key.pub'), 'utf8')
  ).trim();
  await writeFile(file, `[127.0.0.1]:${p.env.BERTH_SSH_PORT} ${hostKey}\n`);
  return file;
}

/**
 * The pids of Berth's service processes (all, or one service's, with the
 * processes a service starts from its own folder, such as router workers)
 * started for this data directory.
 */
export async function servicesOf(
  dataDir: string,
  service?: string,
  /** Only the processes running this file of the service's folder. */
  file: 'main' | 'worker' | 'any' = 'any',
): Promise<number[]> {
  const folders = SERVICES.filter((s) => service === undefined || s.name === service).map((s) =>
    path.dirname(s.entry),
  );
  const files = file === 'any' ? 'main|worker' : file;
  // The source under tsx, or its bundle (.build/<hash>/<folder>/<file>.js).
  const entryPattern = new RegExp(`(?:^|/)(?:${folders.join('|')})/(?:${files})\\.(?:ts|js)\\b`);
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const [cmdline, environ] = await Promise.all([
      readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => ''),
      readFile(`/proc/${entry}/environ`, 'utf8').catch(() => ''),
    ]);
    if (entryPattern.test(cmdline) && environ.split('\0').includes(`BERTH_DATA_DIR=${dataDir}`)) {
      found.push(Number(entry));
    }
  }
  return found;
}

/**
 * A Dockerfile CMD that serves the working directory over HTTP on $PORT
 * (python3 is in the stack image, which FROM debian:bookworm-slim is here),
 * so that an app pushed in a test passes the deploy's readiness check.
 */
export const SERVE_ON_PORT = 'CMD ["sh", "-c", "exec python3 -m http.server \\"$PORT\\""]';
