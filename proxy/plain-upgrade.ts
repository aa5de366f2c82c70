// Requests that ask to upgrade to something other than a websocket. Node.js
// hands every request with an Upgrade header to the server's 'upgrade'
// listener, and http-proxy proxies only websockets (it destroys the
// connection for anything else, with no answer). The commonest is not rare
// at all: curl --http2 asks for h2c on every plain-HTTP request. A server may
// ignore an Upgrade (RFC 9110 7.8), as nginx does: these are answered as the
// plain HTTP/1.1 requests they also are, by the listener's own request path.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { refuseOnSocket } from './error-pages.ts';

/** Whether http-proxy would proxy this upgrade: a websocket handshake (a GET with Upgrade: websocket). */
export function isWebsocketUpgrade(req: IncomingMessage): boolean {
  return req.method === 'GET' && req.headers.upgrade?.toLowerCase() === 'websocket';
}

/**
 * Answers an upgrade request as a plain request through `serve` (the
 * server's request listener). Node.js gave the connection up when it
 * emitted 'upgrade', so the response is made here and the connection closes
 * after it. A request with a body is refused (501): its body is no longer
 * parsed by Node.js once the connection is handed over.
 */
export function answerWithoutUpgrade(
  req: IncomingMessage,
  socket: Socket,
  serve: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  socket.on('error', () => socket.destroy());
  const length = req.headers['content-length'];
  if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
    refuseOnSocket(socket, '501 Not Implemented');
    return;
  }
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.once('finish', () => socket.destroySoon());
  serve(req, res);
}
