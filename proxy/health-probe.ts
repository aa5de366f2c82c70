// Passive health's way back: a backend the router took out of its route (it
// refused or dropped a connection, or did not accept one in time) is given
// back when a TCP connect to it succeeds, tried in the background every
// PROBE_EVERY_MS, instead of by sending a client's request to it. A request
// used as the probe waited up to the connect timeout (5 s) each time when
// the backend's host was gone (a Swarm node lost: its addresses drop
// packets). One probe at a time per backend, only while the backend is in
// the route (the route table marks the ones it drops `gone`), so a probe
// connects only to an address the scheduler published; none runs for a
// healthy backend, so the request path pays nothing for this.
import net from 'node:net';

/** What a probe reads and sets of a backend (route-table.ts Backend). */
export interface Probed {
  readonly target: { readonly host: string; readonly port: number };
  state: 'healthy' | 'refused';
  probing: boolean;
  readonly gone: boolean;
}

/** Between two probes of a backend out of the route. */
export const PROBE_EVERY_MS = 250;
/** A probe's connection not made in this time counts as refused (a LAN connect takes well under 1 ms). */
const PROBE_TIMEOUT_MS = 1000;

/** Starts probing `backend` unless a probe of it runs already; it ends once the backend is healthy or gone. */
export function probeUntilBack(backend: Probed): void {
  if (backend.probing) return;
  backend.probing = true;
  setTimeout(probe, PROBE_EVERY_MS, backend).unref();
}

function probe(backend: Probed): void {
  if (backend.gone || backend.state === 'healthy') {
    backend.probing = false;
    return;
  }
  const socket = net.connect({ host: backend.target.host, port: backend.target.port });
  socket.setTimeout(PROBE_TIMEOUT_MS);
  let settled = false;
  const settle = (accepted: boolean) => {
    if (settled) return;
    settled = true;
    socket.destroy();
    if (accepted && !backend.gone) {
      backend.state = 'healthy';
      backend.probing = false;
    } else setTimeout(probe, PROBE_EVERY_MS, backend).unref();
  };
  socket.once('connect', () => settle(true));
  socket.once('error', () => settle(false));
  socket.once('timeout', () => settle(false));
}
