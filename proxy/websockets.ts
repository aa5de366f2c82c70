// Websockets through the router: the handshake goes to one of the app's
// backends like a request does, and after the 101 the two sockets are tied
// together until either closes. (Other upgrades are answered as the plain
// requests they also are: plain-upgrade.ts.)
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type httpProxy from 'http-proxy';
import { refuseOnSocket } from './error-pages.ts';
import { NOT_CONNECTED } from './exchange.ts';
import {
  originForm,
  repeatedHost,
  requestHost,
  requestId,
  setForwarded,
  stripHopByHop,
} from './headers.ts';
import { markRefused, pickBackend, type RouteTable } from './route-table.ts';

export interface Websockets {
  /** A websocket handshake: to one of the host's backends, or refused on the socket. */
  onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
}

export function websockets(
  proxy: httpProxy,
  o: { table: RouteTable; statusHost: string; ports: { http: number; https: number } },
): Websockets {
  // http-proxy only end()s one side when the other closes, and
  // keeps the backend request when the client leaves before the 101: a peer
  // that never answers the FIN (or a client gone mid-handshake) would hold
  // both sockets, and their fds, for good.
  const upgraded = new WeakSet<Socket>();
  proxy.on('proxyReqWs', (proxyReq, req, client) => {
    // As for requests (requestBody); emitted before http-proxy's end() of it.
    // A backend that does not answer the upgrade gets the upstream timeout,
    // as a request does (socket-sweeps.ts: the socket is the agent's until the 101).
    proxyReq.path = originForm(req.url);
    // Until the 101 nothing reads the client's socket (Node.js hands it
    // over paused), so a client that leaves would go unnoticed until the
    // upstream timeout. It is read here, and what it sends (the start of the
    // app's protocol, if it does not wait) is put back for http-proxy's pipe.
    const early: Buffer[] = [];
    const keep = (chunk: Buffer) => early.push(chunk);
    const gone = () => proxyReq.destroy();
    const stopWatching = () => {
      client.off('data', keep);
      client.off('end', gone);
      client.off('close', gone);
    };
    client.on('data', keep);
    client.once('end', gone);
    client.once('close', gone);
    proxyReq.once('response', () => {
      // Not upgraded: http-proxy pipes the answer to the client and ends the
      // connection. What the client still sends is read and dropped, so its
      // FIN is seen and the connection closes.
      stopWatching();
      client.resume();
    });
    proxyReq.once('upgrade', (_res, backendSocket: Socket) => {
      stopWatching();
      client.pause();
      if (early.length > 0) client.unshift(Buffer.concat(early));
      upgraded.add(client);
      if (client.destroyed) backendSocket.destroy();
      client.once('close', () => backendSocket.destroy());
      // What the backend sent is flushed to the client first.
      backendSocket.once('close', () => client.destroySoon());
    });
  });

  function onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const host = requestHost(req);
    const route = host === o.statusHost ? undefined : o.table.lookup(host);
    const backend = route && pickBackend(route, performance.now());
    socket.on('error', () => socket.destroy());
    if (repeatedHost(req.rawHeaders)) {
      refuseOnSocket(socket, '400 Bad Request');
      return;
    }
    if (!backend) {
      refuseOnSocket(socket, route ? '503 Service Unavailable' : '404 Not Found');
      return;
    }
    const id = requestId(req.headers['x-request-id']);
    stripHopByHop(req.headers, true);
    const secure = (req.socket as TLSSocket).encrypted === true;
    setForwarded(req, secure ? 'https' : 'http', secure ? o.ports.https : o.ports.http, id);
    proxy.ws(req, socket, head, { target: backend.target }, (err: NodeJS.ErrnoException) => {
      // After the 101 the connection carries the app's protocol, not HTTP:
      // an error there (the backend reset) just ends it.
      if (upgraded.has(socket)) return void socket.destroy();
      if (NOT_CONNECTED.has(err.code ?? '')) markRefused(backend, performance.now());
      refuseOnSocket(socket, '502 Bad Gateway');
    });
  }

  return { onUpgrade };
}
