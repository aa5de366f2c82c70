// Who is asking, for every web request. A request carries either an
// API token ("Authorization: Bearer berth_...") or a session cookie from a
// sign-in link; either becomes the same Actor the SSH commands run as, so
// services/platform/apps/access.ts decides per app for the web exactly as for SSH.
//
// Routes say what they need in their config: `auth: 'public'` (health, the
// sign-in link), `'api'` (401 JSON without credentials) or `'page'` (a 401
// page saying how to sign in); a route that says nothing is 'api' under
// /api/ and 'page' elsewhere, so a new route is never public by accident.
// A request authenticated by its cookie that changes state must carry the
// session's CSRF token (form field _csrf or header X-CSRF-Token); one with a
// bearer token needs none, since browsers never send it on their own.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../core/actor.ts';
import { BerthError } from '../core/errors.ts';
import { sameSecret } from '../core/secret.ts';
import type { Session, Store } from '../core/store/index.ts';
import { authenticateToken } from '../platform/accounts/api-tokens.ts';
import { resolveSession, SESSION_COOKIE } from '../platform/accounts/sign-in.ts';

export type AuthMode = 'public' | 'api' | 'page';

export type RequestAuth =
  | { via: 'token'; actor: Actor }
  | { via: 'session'; actor: Actor; session: Session; cookie: string };

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthMode;
  }
  interface FastifyRequest {
    /** Set by the auth hook on every route that is not public. */
    auth: RequestAuth | undefined;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const isApiPath = (url: string): boolean => url === '/api' || url.startsWith('/api/');

/** Every value sent under the cookie name `name`, in the order the header has them. */
export function cookieValues(header: string | undefined, name: string): string[] {
  const values: string[] = [];
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
  }
  return values;
}

/**
 * Whether the browser reached Berth over HTTPS: fastify's req.protocol, which
 * believes X-Forwarded-Proto only from the loopback router (server.ts
 * fromLoopbackProxy; the router overwrites whatever the client sent there,
 * proxy/headers.ts), or the connection itself is TLS.
 */
export function overHttps(req: FastifyRequest): boolean {
  return req.protocol === 'https';
}

/**
 * The session cookie's name for this request. Over HTTPS it carries the
 * `__Host-` prefix (RFC 6265bis 4.1.3.2): a browser keeps such a cookie only
 * when it is Secure, Path=/ and has no Domain, so it belongs to the status
 * page's own host, and no app on `<app>.<domain>` (the same site) can plant
 * one for it through `Domain=<domain>`, nor overwrite or shadow it. Over
 * plain HTTP (the loopback port, a domain without a certificate) a browser
 * refuses to store a `__Host-` cookie at all, since it cannot be Secure
 * there, so the plain name is all that can work; on loopback no app shares
 * the host, and the router sends the status page to HTTPS once it has a
 * certificate (proxy/https-redirect.ts).
 */
export function sessionCookieName(req: FastifyRequest): string {
  return overHttps(req) ? `__Host-${SESSION_COOKIE}` : SESSION_COOKIE;
}

/** The Set-Cookie value for the session cookie (an empty value with Max-Age 0 clears it). */
export function sessionCookie(req: FastifyRequest, value: string, maxAgeMs: number): string {
  const attributes = [
    `${sessionCookieName(req)}=${value}`,
    // Path=/ and no Domain attribute: host-only, as a __Host- cookie must be.
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${Math.floor(maxAgeMs / 1000)}`,
  ];
  // Secure only under HTTPS: a Secure cookie set over plain HTTP (the loopback
  // port) would never be sent back, and signing in there could not work.
  if (overHttps(req)) attributes.push('Secure');
  return attributes.join('; ');
}

/**
 * The session cookie the request carries, if one. Two or more under the
 * name are refused rather than one picked: a browser sends every cookie
 * whose domain matches, so beside the status page's own cookie there can be
 * one an app on a sibling host set with `Domain=<domain>`, and taking the
 * first would sign the user in as whoever planted it (or out). Nothing tells
 * which of them is the status page's own, so the request has no session
 * until the user clears them (issue 16, item 13).
 */
export function sessionCookieOf(req: FastifyRequest): string | undefined {
  const values = cookieValues(req.headers.cookie, sessionCookieName(req));
  if (values.length > 1) {
    throw new BerthError('BERTH_E_UNAUTHENTICATED', {
      reason: `the request carries ${values.length} ${sessionCookieName(req)} cookies, so none is trusted (a site sharing this domain may have set one); clear the cookies of this site in the browser and sign in again`,
    });
  }
  return values[0];
}

/** Who sent the request, from its bearer token or its session cookie; undefined for nobody. */
async function identify(store: Store, req: FastifyRequest): Promise<RequestAuth | undefined> {
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    // A request that names credentials is judged by them, never by a cookie beside them.
    const m = /^Bearer +(\S+) *$/i.exec(authorization);
    if (!m?.[1]) {
      throw new BerthError('BERTH_E_UNAUTHENTICATED', {
        reason: 'the Authorization header must be "Bearer TOKEN"',
      });
    }
    return { via: 'token', actor: await authenticateToken(store, m[1]) };
  }
  const cookie = sessionCookieOf(req);
  if (cookie === undefined) return undefined;
  const found = await resolveSession(store, cookie);
  return found && { via: 'session', actor: found.actor, session: found.session, cookie };
}

/** Refuses a state-changing request made with a session cookie that lacks the session's CSRF token. */
export function checkCsrf(req: FastifyRequest): void {
  const auth = req.auth;
  if (auth?.via !== 'session' || SAFE_METHODS.has(req.method)) return;
  const header = req.headers['x-csrf-token'];
  const field = (req.body as Record<string, unknown> | undefined)?._csrf;
  const sent = typeof header === 'string' ? header : typeof field === 'string' ? field : '';
  if (!sameSecret(sent, auth.session.csrf)) throw new BerthError('BERTH_E_CSRF');
}

/** The request's actor; for routes behind the auth hook it is always there. */
export function actorOf(req: FastifyRequest): Actor {
  if (!req.auth) throw new BerthError('BERTH_E_UNAUTHENTICATED', { reason: 'no credentials' });
  return req.auth.actor;
}

/** Installs the auth hook and the form body parser on the root instance. */
export function installAuth(server: FastifyInstance, store: Store): void {
  server.decorateRequest('auth', undefined);
  // HTML forms post urlencoded bodies; fastify parses only JSON by itself.
  server.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 64 * 1024 },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
  );
  // preHandler: after the body is parsed, so a form's _csrf field is there.
  server.addHook('preHandler', async (req: FastifyRequest, _reply: FastifyReply) => {
    // No route matched: the not-found answer tells nobody anything.
    if (req.routeOptions.url === undefined) return;
    const mode = req.routeOptions.config.auth ?? (isApiPath(req.url) ? 'api' : 'page');
    if (mode === 'public') return;
    req.auth = await identify(store, req);
    if (!req.auth) {
      throw new BerthError('BERTH_E_UNAUTHENTICATED', {
        reason: mode === 'api' ? 'no API token and no session' : 'no session',
      });
    }
    checkCsrf(req);
  });
}
