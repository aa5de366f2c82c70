// A backend whose host stopped answering (its node lost, its process
// frozen) while every request on it waits on a pooled connection: no new
// connection is tried, so no connect timeout tells the router, and each
// request waits for the upstream timeout (a 504). Once a request there has
// waited STALL_CHECK_MS for the head of its answer, a TCP connect probes the
// host, at most once per STALL_CHECK_MS for each backend; one not accepted
// within PROBE_MS counts as the host gone, as a connect timeout does. A slow
// answer from a live host costs one accepted connection every 2 s.
import type http from 'node:http';
import net, { type Socket } from 'node:net';

/** When the router sent a backend request (set on the ClientRequest). */
export const SENT_AT = Symbol('berth.sentAt');
const STALL_CHECK_MS = 2000;
const PROBE_MS = 1000;
const EVERY_MS = 500;

interface Checked {
  readonly target: { readonly host: string; readonly port: number };
  state: 'healthy' | 'refused';
}

type Pooled = Socket & {
  _httpMessage?: (http.ClientRequest & { res?: unknown; [SENT_AT]?: number }) | null;
};

/**
 * Every EVERY_MS, the backends with a request waiting too long are probed;
 * `onGone` hears those whose host does not accept a connection. The agent's
 * connection names (`host:port:`) lead to backends through `backendOf`.
 */
export function checkStalledHosts<B extends Checked>(
  agent: http.Agent,
  backendOf: (name: string) => B | undefined,
  onGone: (backend: B) => void,
): () => void {
  const checkedAt = new WeakMap<B, number>();
  const timer = setInterval(() => {
    const now = performance.now();
    for (const [name, sockets] of Object.entries(agent.sockets)) {
      const backend = backendOf(name);
      if (backend?.state !== 'healthy') continue;
      if (now - (checkedAt.get(backend) ?? Number.NEGATIVE_INFINITY) < STALL_CHECK_MS) continue;
      const stalled = (sockets ?? []).some((s) => {
        // `_httpMessage`: the request a socket of an http.Agent serves (forward.ts dropUnanswered says why).
        const r = (s as Pooled)._httpMessage;
        return r != null && !r.res && now - (r[SENT_AT] ?? now) > STALL_CHECK_MS;
      });
      if (stalled) probe(backend, checkedAt, now, onGone);
    }
  }, EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}

function probe<B extends Checked>(
  backend: B,
  checkedAt: WeakMap<B, number>,
  now: number,
  onGone: (backend: B) => void,
): void {
  checkedAt.set(backend, now);
  const socket = net.connect({ host: backend.target.host, port: backend.target.port });
  socket.setTimeout(PROBE_MS);
  let settled = false;
  const settle = (accepted: boolean) => {
    if (settled) return;
    settled = true;
    socket.destroy();
    if (!accepted && backend.state === 'healthy') onGone(backend);
  };
  socket.once('connect', () => settle(true));
  socket.once('error', () => settle(false));
  socket.once('timeout', () => settle(false));
}
