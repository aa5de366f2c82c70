// Is a new instance ready? The default check of a web process: it accepts
// TCP connections on its PORT. No fixed sleep: the check is tried every
// `intervalMs` from the moment the instance runs, and the instance is ready
// the moment one attempt succeeds. From Dokku's default wait (10 s) on, the
// rollout may look at what the process listens on (`inspect`, with
// listeningPorts below) and end the wait with a verdict: listening on
// another port, or on none at all while idle. app.json startup checks (../build/app-json.ts)
// ask a path over HTTP or run a command in the instance, with their attempts.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { splitBackendAddress } from '../../core/validate.ts';

export interface TcpCheck {
  /** host:port (validate.backendAddress) */
  address: string;
  /** Give up after this long; default 60 s. */
  timeoutMs?: number;
  /** Between attempts; default 50 ms. */
  intervalMs?: number;
  /** Each connection attempt's own limit; default 1 s. */
  attemptMs?: number;
  signal?: AbortSignal;
  /** Asked between attempts: false stops waiting (the process exited). */
  alive?: () => Promise<boolean>;
  /**
   * Asked from `afterMs` on, every `everyMs`: a verdict ends the wait as
   * failed (undefined: keep waiting).
   */
  inspect?: {
    afterMs: number;
    everyMs: number;
    run: () => Promise<{ reason: string; listens: number[]; loopback?: true } | undefined>;
  };
}

export type CheckResult =
  | { ok: true; ms: number; attempts: number }
  | {
      ok: false;
      ms: number;
      attempts: number;
      reason: string;
      /** The process exited (rather than answering wrong or not at all). */
      exited?: true;
      /** The TCP ports it listens on, when they were looked at (none: empty). */
      listens?: number[];
      /** It listens on its PORT on loopback only. */
      loopback?: true;
    };

function connectOnce(host: string, port: number, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done(`no answer within ${ms} ms`), ms);
    socket.once('connect', () => done(undefined));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

/** Tries until a TCP connection to `address` succeeds or the check gives up. */
export async function waitForTcp(c: TcpCheck): Promise<CheckResult> {
  const { host, port } = splitBackendAddress(c.address);
  const timeoutMs = c.timeoutMs ?? 60_000;
  const started = performance.now();
  let attempts = 0;
  let last = 'not tried';
  let nextInspect = c.inspect?.afterMs ?? Number.POSITIVE_INFINITY;
  for (;;) {
    c.signal?.throwIfAborted();
    attempts++;
    const why = await connectOnce(host, port, c.attemptMs ?? 1000);
    const ms = Math.round(performance.now() - started);
    if (why === undefined) return { ok: true, ms, attempts };
    last = why;
    if (c.alive && !(await c.alive())) {
      return {
        ok: false,
        ms,
        attempts,
        reason: `the process exited before accepting connections on port ${port}`,
        exited: true,
      };
    }
    if (c.inspect && ms >= nextInspect) {
      nextInspect = ms + c.inspect.everyMs;
      const verdict = await c.inspect.run();
      if (verdict) {
        return { ok: false, ms: Math.round(performance.now() - started), attempts, ...verdict };
      }
    }
    if (ms >= timeoutMs) {
      return {
        ok: false,
        ms,
        attempts,
        reason: `nothing accepted connections on port ${port} within ${Math.round(timeoutMs / 1000)} s (${last})`,
      };
    }
    await sleep(c.intervalMs ?? 50, undefined, c.signal ? { signal: c.signal } : {});
  }
}

/** When and how often an app.json startup check is tried (Dokku's fields, in seconds). */
export interface Attempts {
  attempts: number;
  /** Seconds each attempt may take. */
  timeout: number;
  /** Seconds between attempts. */
  wait: number;
  /** Seconds before the first attempt. */
  initialDelay: number;
  /** Seconds the process must still run after the check passed. */
  uptime: number;
  signal?: AbortSignal;
  alive?: () => Promise<boolean>;
}

/**
 * Tries `probe` (undefined: passed; else why not) within the attempts, then
 * holds the uptime; `what` names the check in the reasons.
 */
async function withAttempts(
  c: Attempts,
  what: string,
  probe: () => Promise<string | undefined>,
): Promise<CheckResult> {
  const started = performance.now();
  const opts = c.signal ? { signal: c.signal } : {};
  const ms = () => Math.round(performance.now() - started);
  if (c.initialDelay > 0) await sleep(c.initialDelay * 1000, undefined, opts);
  let last = 'not tried';
  for (let attempt = 1; attempt <= c.attempts; attempt++) {
    c.signal?.throwIfAborted();
    const failed = await probe();
    if (failed === undefined) {
      if (c.uptime > 0) {
        await sleep(c.uptime * 1000, undefined, opts);
        if (c.alive && !(await c.alive())) {
          return {
            ok: false,
            ms: ms(),
            attempts: attempt,
            reason: `the process exited within ${c.uptime} s of passing ${what}`,
            exited: true,
          };
        }
      }
      return { ok: true, ms: ms(), attempts: attempt };
    }
    last = failed;
    if (c.alive && !(await c.alive())) {
      return {
        ok: false,
        ms: ms(),
        attempts: attempt,
        reason: `the process exited (${last})`,
        exited: true,
      };
    }
    if (attempt < c.attempts && c.wait > 0) await sleep(c.wait * 1000, undefined, opts);
  }
  return {
    ok: false,
    ms: ms(),
    attempts: c.attempts,
    reason: `${last}, after ${c.attempts} attempts`,
  };
}

export interface HttpCheck extends Attempts {
  /** host:port (validate.backendAddress) */
  address: string;
  path: string;
  /** The body must contain it, when given. */
  content?: string;
}

/**
 * How much of a check's answer is read: the app's to send, so bounded. An
 * answer that goes on (an event stream, an endless body) is read this far,
 * then dropped; `content` must be within it.
 */
export const MAX_CHECK_BODY = 64 * 1024;

/** The first `max` characters of a response's body; the rest is not read (the connection is closed). */
async function bodyStart(res: Response, max: number): Promise<string> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < max) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text.slice(0, max);
}

/** app.json's startup check by path: a 2xx (with `content` in the body) within its attempts. */
export function checkHttp(c: HttpCheck): Promise<CheckResult> {
  return withAttempts(c, c.path, async () => {
    try {
      const res = await fetch(`http://${c.address}${c.path}`, {
        signal: AbortSignal.timeout(c.timeout * 1000),
        redirect: 'manual',
      });
      const body = await bodyStart(res, MAX_CHECK_BODY);
      if (res.status < 200 || res.status > 299) return `${c.path} answered ${res.status}`;
      if (c.content !== undefined && !body.includes(c.content)) {
        return `${c.path} answered ${res.status} without "${c.content.slice(0, 60)}" in its body`;
      }
      return undefined;
    } catch (e) {
      return `${c.path}: ${(e as Error).name === 'TimeoutError' ? `no answer within ${c.timeout} s` : ((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message)}`;
    }
  });
}

export interface CommandCheck extends Attempts {
  /** The command, run in the instance (argv, no shell). */
  command: readonly string[];
  /** Its output must contain it, when given. */
  content?: string;
  /** Runs the command in the instance within the time given. */
  exec: (
    argv: readonly string[],
    timeoutMs: number,
  ) => Promise<{ exitCode: number; output: string }>;
}

/** app.json's startup check by command: exit 0 (with `content` in its output) within its attempts. */
export function checkCommand(c: CommandCheck): Promise<CheckResult> {
  const shown = c.command.join(' ').slice(0, 80);
  return withAttempts(c, shown, async () => {
    try {
      const r = await c.exec(c.command, c.timeout * 1000);
      const lastLine = r.output.trim().split('\n').at(-1)?.slice(0, 120) ?? '';
      if (r.exitCode !== 0) {
        return `${shown} exited with ${r.exitCode}${lastLine ? ` (${lastLine})` : ''}`;
      }
      if (c.content !== undefined && !r.output.includes(c.content)) {
        return `${shown} printed no "${c.content.slice(0, 60)}"`;
      }
      return undefined;
    } catch (e) {
      return `${shown}: ${(e as Error).name === 'TimeoutError' ? `did not end within ${c.timeout} s` : (e as Error).message}`;
    }
  });
}

/** A TCP listening socket of an instance: its port, and whether only loopback reaches it. */
export interface Listener {
  port: number;
  loopback: boolean;
}

/** Docker's embedded DNS server listens in every container on 127.0.0.11 (hex, little-endian): not the app's. */
const DOCKER_DNS = '0B00007F';

/**
 * The TCP sockets in LISTEN state in /proc/net/tcp and /proc/net/tcp6 text
 * (`local_address` is hex `IP:PORT`, `st` 0A is LISTEN), by port, sorted;
 * a port is loopback-only when no socket on it takes other addresses.
 */
export function listeners(procNetTcp: string): Listener[] {
  const ports = new Map<number, boolean>();
  for (const line of procNetTcp.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || !/^[0-9]+:$/.test(f[0] ?? '') || f[3] !== '0A') continue;
    const [ip = '', hex = ''] = (f[1] ?? '').split(':');
    if (ip === DOCKER_DNS) continue;
    const port = Number.parseInt(hex, 16);
    if (!(port > 0 && port < 65536)) continue;
    // 127.0.0.0/8 (its first byte last) or ::1 (IPv6 words little-endian).
    const loopback = /^[0-9A-F]{6}7F$/.test(ip) || ip === '00000000000000000000000001000000';
    ports.set(port, (ports.get(port) ?? true) && loopback);
  }
  return [...ports].map(([port, loopback]) => ({ port, loopback })).sort((a, b) => a.port - b.port);
}

/** The ports of `listeners` that other machines can reach. */
export function listeningPorts(procNetTcp: string): number[] {
  return listeners(procNetTcp)
    .filter((l) => !l.loopback)
    .map((l) => l.port);
}
