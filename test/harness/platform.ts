// The whole platform as a child process, exactly as `npm start` runs it:
// its own data directory, free ports, its own Redis (started by Berth itself
// on a free port, as on a fresh machine) and a fresh key prefix.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const READY = /^=====> Berth is ready/;

export interface PlatformOptions {
  dataDir: string;
  /** Extra BERTH_* variables; free ports and a private REDIS_URL are chosen otherwise. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface Platform {
  child: ChildProcess;
  env: Record<string, string>;
  /** From spawn to the ready banner. */
  readyMs: number;
  /** Everything the process wrote to stderr so far. */
  stderr: string[];
  /** Ctrl-C, as a person would; resolves with the exit code and how long it took. */
  stop(): Promise<{ code: number | null; ms: number }>;
  /** Stops the Redis that Berth started for this platform (it outlives Berth by design). */
  stopRedis(): Promise<void>;
}

export async function platformEnv(dataDir: string, extra: Record<string, string> = {}) {
  return {
    BERTH_DATA_DIR: dataDir,
    BERTH_SSH_PORT: String(await freePort()),
    BERTH_HTTP_PORT: String(await freePort()),
    BERTH_HTTPS_PORT: String(await freePort()),
    BERTH_WEB_PORT: String(await freePort()),
    REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    BERTH_REDIS_PREFIX: `berth-test-${path.basename(dataDir)}:`,
    ...extra,
  };
}

export async function startPlatform(o: PlatformOptions): Promise<Platform> {
  const env = await platformEnv(o.dataDir, o.env);
  const started = performance.now();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'cli/main.ts'), 'start'],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const stderr: string[] = [];
  const lines = createInterface({ input: child.stderr as NodeJS.ReadableStream });
  const readyMs = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
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
  });
  // Read now: a test's temporary data directory may be gone when it cleans up.
  const redisPidFile = path.join(o.dataDir, 'redis', 'redis.pid');
  const redisPid = Number((await readFile(redisPidFile, 'utf8').catch(() => '')).trim());
  return {
    child,
    env,
    readyMs,
    stderr,
    stop: () =>
      new Promise((resolve) => {
        const t0 = performance.now();
        if (child.exitCode !== null) return resolve({ code: child.exitCode, ms: 0 });
        child.once('exit', (code) => resolve({ code, ms: performance.now() - t0 }));
        child.kill('SIGINT');
      }),
    async stopRedis() {
      if (redisPid > 0) {
        try {
          process.kill(redisPid, 'SIGKILL');
        } catch {}
      }
    },
  };
}
