// What the router changes in the headers that pass through it.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

// Heroku's rule: a client's id is kept when it is 20–200 of these characters,
// so a request can be followed across services; anything else gets a new one.
const REQUEST_ID = /^[A-Za-z0-9+/=-]{20,200}$/;

export function requestId(sent: string | string[] | undefined): string {
  return typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : randomUUID();
}

/** The host a request is for: lower case, without port or trailing dot; '' when absent. */
export function requestHost(req: IncomingMessage): string {
  const raw = req.headers.host;
  if (!raw) return '';
  // Bracketed IPv6 literals never name an app: they fall through to "no app here".
  const colon = raw.indexOf(':', raw.startsWith('[') ? raw.indexOf(']') : 0);
  let host = colon === -1 ? raw : raw.slice(0, colon);
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host.toLowerCase();
}

// RFC 9110 7.6.1: meant for one connection, never forwarded.
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
];

/**
 * Removes hop-by-hop headers, including those the Connection header names.
 * Transfer-Encoding is left to Node.js, which re-frames bodies itself.
 * Returns the client's Connection header, which decides the client side.
 */
export function stripHopByHop(
  headers: IncomingHttpHeaders,
  keepUpgrade = false,
): string | undefined {
  const connection = headers.connection;
  if (connection) {
    for (const name of connection.split(',')) {
      const n = name.trim().toLowerCase();
      if (n && n !== 'upgrade' && n !== 'close' && n !== 'keep-alive') delete headers[n];
    }
  }
  for (const name of HOP_BY_HOP) {
    if (keepUpgrade && (name === 'connection' || name === 'upgrade')) continue;
    if (headers[name] !== undefined) delete headers[name];
  }
  return connection;
}

/**
 * X-Forwarded-*: the client address is appended to what earlier proxies
 * said (as nginx's $proxy_add_x_forwarded_for); proto, host and port are
 * Berth's own view, since a client could claim anything there.
 */
export function setForwarded(
  req: IncomingMessage,
  proto: 'http' | 'https',
  port: number,
  id: string,
): void {
  const h = req.headers;
  // The listener is dual-stack: IPv4 clients appear as ::ffff:a.b.c.d.
  const raw = req.socket.remoteAddress ?? '';
  const client = raw.startsWith('::ffff:') ? raw.slice(7) : raw;
  h['x-forwarded-for'] = h['x-forwarded-for'] ? `${h['x-forwarded-for']}, ${client}` : client;
  h['x-forwarded-proto'] = proto;
  h['x-forwarded-host'] = h.host ?? '';
  h['x-forwarded-port'] = String(port);
  h['x-request-id'] = id;
}

/**
 * The request-target to send to a backend: as the client sent it (a path,
 * or "*" for OPTIONS), as nginx's proxy_pass without a URI sends it; an
 * absolute-form target ("http://host/path?q") becomes its path and query,
 * the form a proxy sends an origin server (RFC 9112 3.2.1).
 */
export function originForm(url: string | undefined): string {
  if (!url) return '/';
  if (url.startsWith('/') || !ABSOLUTE_FORM.test(url)) return url;
  const authority = url.indexOf('//') + 2;
  let end = authority;
  while (end < url.length && url[end] !== '/' && url[end] !== '?') end++;
  return url[end] === '/' ? url.slice(end) : `/${url.slice(end)}`;
}
const ABSOLUTE_FORM = /^https?:\/\//i;
