// Is a new instance ready? The default check, as Dokku's: the process accepts
// TCP connections on its PORT. No fixed sleep: the check is tried every
// `intervalMs` from the moment the instance runs, and the instance is ready
// the moment one attempt succeeds. (app.json healthchecks: issue 5, later.)
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TcpCheck {
  /** host:port */
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
}

export type CheckResult =
  | { ok: true; ms: number; attempts: number }
  | { ok: false; ms: number; attempts: number; reason: string };

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
  const colon = c.address.lastIndexOf(':');
  const host = c.address.slice(0, colon);
  const port = Number(c.address.slice(colon + 1));
  const timeoutMs = c.timeoutMs ?? 60_000;
  const started = performance.now();
  let attempts = 0;
  let last = 'not tried';
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
      };
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
