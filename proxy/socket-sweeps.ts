// Two timeouts on the router's connections to backends, each a periodic
// sweep of the agent's sockets rather than a timer per request:
//   - a pooled connection idle for a while is closed, sooner than the
//     backends' own keep-alive timeouts, so the router, not the backend,
//     ends an idle connection and a request is rarely sent on a socket the
//     backend is closing;
//   - a connection serving a request that moves no byte either way for the
//     upstream timeout (BERTH_UPSTREAM_TIMEOUT) is destroyed with an
//     UPSTREAM_TIMEOUT error: forward.ts answers 504, or cuts a response
//     already under way.
//
// http.Agent's `timeout` option and ClientRequest.setTimeout would do the
// same, but they arm a timer on every request and refresh it on every read
// and write, and on this path that cost 14% (the agent's) and 3.5% (the
// request's) of a plain pipe's throughput (npm run bench proxy, one core).
// A sweep costs nothing per request, and keeps no reference to one: a
// per-request entry in a long-lived collection kept requests alive past the
// young generation's collections and tripled the router's garbage
// collection time. What a sweep gives up is precision, bounded below.
import type http from 'node:http';
import type { Socket } from 'node:net';

/** The code of the error a stalled backend socket is destroyed with. */
export const UPSTREAM_TIMEOUT = 'BERTH_UPSTREAM_TIMEOUT';

/**
 * Every `idleMs / 2` the agent's free sockets are looked at: one still free
 * with the same bytesWritten as at the look before has not been used since,
 * and is closed. So a socket is closed after between idleMs/2 and idleMs of
 * idleness, never later. Returns the function that stops the sweeps.
 */
export function closeIdleSockets(agent: http.Agent, idleMs: number): () => void {
  let seen = new Map<Socket, number>();
  return sweep(idleMs / 2, () => {
    const now = new Map<Socket, number>();
    for (const sockets of Object.values(agent.freeSockets)) {
      for (const socket of sockets ?? []) {
        const written = socket.bytesWritten;
        // The agent drops a socket from its free list when it closes.
        if (seen.get(socket) === written) socket.destroy();
        else now.set(socket, written);
      }
    }
    seen = now;
  });
}

/**
 * Every quarter of `timeoutMs` (at most every second) the agent's sockets
 * in use are looked at: one that has read and written nothing for
 * `timeoutMs` by the sweeps' reckoning is destroyed with an error whose code
 * is UPSTREAM_TIMEOUT, which its request gets. A stalled request is given up
 * between `timeoutMs` and `timeoutMs` plus two sweep intervals after its
 * last byte (60–62 s for the default 60 s; 1–1.5 s for 1 s). A socket still
 * connecting is left alone: the connect timeout is forward.ts's. Upgraded
 * sockets (websockets) leave the agent, so their idle time is their own.
 * Returns the function that stops the sweeps.
 */
export function timeOutStalledSockets(agent: http.Agent, timeoutMs: number): () => void {
  let seen = new Map<Socket, { bytes: number; since: number }>();
  return sweep(Math.min(1000, timeoutMs / 4), () => {
    const at = performance.now();
    const now = new Map<Socket, { bytes: number; since: number }>();
    for (const sockets of Object.values(agent.sockets)) {
      for (const socket of sockets ?? []) {
        if (socket.connecting) continue;
        const bytes = socket.bytesRead + socket.bytesWritten;
        const before = seen.get(socket);
        const since = before?.bytes === bytes ? before.since : at;
        if (at - since < timeoutMs) now.set(socket, { bytes, since });
        else {
          socket.destroy(Object.assign(new Error('upstream timeout'), { code: UPSTREAM_TIMEOUT }));
        }
      }
    }
    seen = now;
  });
}

function sweep(everyMs: number, look: () => void): () => void {
  const timer = setInterval(look, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
