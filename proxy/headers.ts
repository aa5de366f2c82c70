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
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
]);

/**
 * Whether a request carries Host more than once. RFC 9112 3.2: a server
 * must answer such a request 400; Node.js keeps the first in req.headers
 * and drops the others, so a proxy before or behind the router could take
 * another one for the request's host than the router did. Its raw list
 * has them all; only four-letter names are compared, so this allocates
 * nothing on an ordinary request.
 */
export function repeatedHost(raw: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 4 || (name !== 'Host' && name.toLowerCase() !== 'host')) continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}

/**
 * The header names a Connection header lists (RFC 9110 7.6.1), lower case;
 * the keep-alive and close options are not names. Host is never one: it is
 * end-to-end, and the backend must get the host the router routed by (a
 * client's "Connection: host" would otherwise strip it, and Node.js would
 * send the backend's own address in its place).
 */
function connectionOptions(connection: string): string[] {
  const names: string[] = [];
  for (const token of connection.split(',')) {
    const n = token.trim().toLowerCase();
    if (n && n !== 'upgrade' && n !== 'close' && n !== 'keep-alive' && n !== 'host') names.push(n);
  }
  return names;
}

/**
 * Removes a request's hop-by-hop headers, including those its Connection
 * header names. Transfer-Encoding is left to Node.js, which re-frames
 * bodies itself. `keepUpgrade` keeps Connection and Upgrade (a websocket
 * handshake).
 */
export function stripHopByHop(headers: IncomingHttpHeaders, keepUpgrade = false): void {
  const connection = headers.connection;
  if (connection) for (const name of connectionOptions(connection)) delete headers[name];
  for (const name of HOP_BY_HOP) {
    if (keepUpgrade && (name === 'connection' || name === 'upgrade')) continue;
    if (headers[name] !== undefined) delete headers[name];
  }
}

/**
 * A backend's response headers as the client gets them, from the raw list
 * Node.js keeps (name, value, name, value, ...; names as the backend sent
 * them): hop-by-hop headers and Transfer-Encoding left out (Node.js frames
 * the body for the client), X-Request-Id and Strict-Transport-Security
 * added unless the backend sent its own. Working on the raw list spares
 * building the response's headers object, which costs more than this on
 * every request (npm run bench proxy).
 */
export function responseHeaders(
  raw: readonly string[],
  id: string,
  hsts: string | undefined,
): string[] {
  let listed: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    const value = (raw[i + 1] as string).toLowerCase();
    if (value !== 'keep-alive' && value !== 'close') {
      listed = (listed ?? []).concat(connectionOptions(value));
    }
  }
  const out: string[] = [];
  let ownId = false;
  let ownHsts = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    // Only names as long as one looked for are lower-cased and looked up.
    if (((NOTED_LENGTHS >>> name.length) & 1) === 1 || listed !== undefined) {
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower) || lower === 'transfer-encoding' || listed?.includes(lower)) {
        continue;
      }
      if (lower === 'x-request-id') ownId = true;
      else if (lower === 'strict-transport-security') ownHsts = true;
    }
    out.push(name, raw[i + 1] as string);
  }
  if (!ownId) out.push('X-Request-Id', id);
  if (hsts !== undefined && !ownHsts) out.push('Strict-Transport-Security', hsts);
  return out;
}

/**
 * Bit n is set when a name responseHeaders drops or looks for is n
 * characters long. A name of 32 or more wraps around (the shift is modulo
 * 32): a needless look-up at worst, never a miss.
 */
const NOTED_LENGTHS = [
  ...HOP_BY_HOP,
  'transfer-encoding',
  'x-request-id',
  'strict-transport-security',
].reduce((mask, name) => mask | (1 << name.length), 0);

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
