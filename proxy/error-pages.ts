// The router's own answers when it cannot pass a request on. Each says which
// case it is and carries the request id, so a user's report can be matched
// with the router's log line.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { escapeHtml } from '../services/core/html.ts';

export const STATUS_TEXT = {
  400: 'Bad Request',
  404: 'Not Found',
  413: 'Content Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
} as const;
export type ErrorStatus = keyof typeof STATUS_TEXT;

/** Sends the page (HTML for browsers, one line of text otherwise); does nothing once headers went out. */
export function sendError(
  res: ServerResponse,
  status: ErrorStatus,
  reason: string,
  requestId: string,
): void {
  if (res.headersSent || res.destroyed) return;
  const title = `${status} ${STATUS_TEXT[status]}`;
  const html = /\btext\/html\b/.test(res.req.headers.accept ?? '');
  const body = html
    ? `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>` +
      `<body style="font:15px/1.4 system-ui,sans-serif;margin:2rem"><h1>${title}</h1>` +
      `<p>${escapeHtml(reason)}</p><p><small>Berth router · request ${escapeHtml(requestId)}</small></p></body></html>\n`
    : `${title}: ${reason} (request ${requestId})\n`;
  res.writeHead(status, {
    'content-type': html ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-request-id': requestId,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * An answer on a connection Node.js has handed over (an upgrade request):
 * a bare status line, and the connection closes whatever the client does.
 */
export function refuseOnSocket(socket: Socket, status: string): void {
  if (socket.destroyed) return;
  socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroySoon();
}
