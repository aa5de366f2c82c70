// Signing in to the web app without passwords: a user who is
// already signed in over SSH asks for a one-time link (auth:login), and
// opening it starts a browser session. The link, the session cookie and the
// CSRF token are 32 random bytes each; Redis keeps only SHA-256s of the first
// two (services/core/secret.ts).
import type { Actor } from '../../core/actor.ts';
import type { Config } from '../../core/config.ts';
import { BerthError } from '../../core/errors.ts';
import { newSecret, sha256hex } from '../../core/secret.ts';
import type { Session, Store } from '../../core/store/index.ts';
import { localOnlyDomain } from '../../core/validate.ts';

/** How long a sign-in link works: long enough to paste it, short enough to be useless later. */
export const LOGIN_LINK_TTL_MS = 5 * 60_000;

/**
 * How long a browser session lasts, counted from sign-in (fixed, not
 * sliding). A new link is one SSH command away, so a fixed lifetime costs
 * little and bounds what a stolen cookie is worth; a sliding one would never
 * end for a tab left open on a page that updates itself live.
 */
export const SESSION_TTL_MS = 12 * 3_600_000;

/** The session cookie's name. */
export const SESSION_COOKIE = 'berth_session';

const SECRET = /^[A-Za-z0-9_-]{43}$/;

/**
 * What decides where sign-in links point: the status page's host
 * (BERTH_STATUS_HOST, else BERTH_DOMAIN; absent statusHost: the domain) and
 * the ports (absent ports: 80 and 443, the defaults).
 */
export type WebBaseConfig = Pick<Config, 'webPort' | 'domain'> &
  Partial<Pick<Config, 'httpPort' | 'httpsPort' | 'statusHost'>>;

/**
 * Where a browser reaches the web app; sign-in links start here. The one place
 * that decides it (docs/configuration.md says the same):
 *   - the router at the status page's host (BERTH_STATUS_HOST, else the bare
 *     BERTH_DOMAIN), over HTTPS once that host has a certificate of its own
 *     (certs:add --platform, letsencrypt:enable --platform), else over plain
 *     HTTP;
 *   - the loopback port when that host is localhost (or *.localhost): that
 *     name reaches no server from anyone's laptop, so a router URL at it
 *     would work only where the loopback port works too, and the loopback
 *     port is the one an SSH tunnel can carry.
 */
export function webBaseUrl(
  config: WebBaseConfig,
  platformCert: boolean,
): {
  url: string;
  /** Said next to the link, so the user knows how to open it. */
  note: string;
} {
  const loopback = `http://127.0.0.1:${config.webPort}`;
  const host = statusHostOf(config);
  if (localOnlyDomain(host)) {
    return {
      url: loopback,
      note: `${host === config.domain ? 'BERTH_DOMAIN' : 'BERTH_STATUS_HOST'} is ${host}, so the link is the web app's loopback port; from another machine, tunnel it first: ssh -L ${config.webPort}:127.0.0.1:${config.webPort} root@SERVER`,
    };
  }
  if (platformCert) {
    const port = config.httpsPort ?? 443;
    return {
      url: `https://${host}${port === 443 ? '' : `:${port}`}`,
      note: `on the server itself, the same path on ${loopback} works too`,
    };
  }
  const port = config.httpPort ?? 80;
  return {
    url: `http://${host}${port === 80 ? '' : `:${port}`}`,
    note: `${host} has no certificate, so the link goes over plain HTTP; an admin adds one with "berth letsencrypt:enable --platform" (or certs:add --platform)`,
  };
}

/** The status page's host: BERTH_STATUS_HOST, else the bare BERTH_DOMAIN. */
const statusHostOf = (config: WebBaseConfig): string => config.statusHost ?? config.domain;

/** Whether the status page's host has a certificate installed (a failed first ACME order leaves metadata without one). */
async function hasPlatformCert(store: Store, domain: string): Promise<boolean> {
  return ((await store.certs.get(domain))?.notAfter ?? null) !== null;
}

export interface LoginLink {
  url: string;
  user: string;
  expiresAt: Date;
  note: string;
}

/**
 * A one-time sign-in link for the actor (root names the user it signs in).
 * `ttlMs` is for tests; users get LOGIN_LINK_TTL_MS.
 */
export async function createLoginLink(
  store: Store,
  config: WebBaseConfig,
  actor: Actor,
  o: { user?: string | undefined; ttlMs?: number } = {},
): Promise<LoginLink> {
  const user = userFor(actor, o.user, 'auth:login');
  const ttlMs = o.ttlMs ?? LOGIN_LINK_TTL_MS;
  const secret = newSecret();
  await store.signIns.createLink(sha256hex(secret), user, ttlMs);
  const host = statusHostOf(config);
  const base = webBaseUrl(config, !localOnlyDomain(host) && (await hasPlatformCert(store, host)));
  return {
    url: `${base.url}/auth/login/${secret}`,
    user,
    expiresAt: new Date(Date.now() + ttlMs),
    note: base.note,
  };
}

/**
 * Who a command acts for: the signed-in user, or for root on the server the
 * user named with --user. Nobody else may act as another user.
 */
export function userFor(actor: Actor, named: string | undefined, command: string): string {
  if (actor.kind === 'root') {
    if (named === undefined) {
      throw new BerthError('BERTH_E_USAGE', {
        reason: `root is no user of the web app; name one: berth ${command} --user NAME`,
      });
    }
    return named;
  }
  if (named !== undefined && named !== actor.user) {
    throw new BerthError('BERTH_E_FORBIDDEN', {
      action: `${command} for another user`,
      who: 'root on the server',
    });
  }
  return actor.user;
}

export interface StartedSession {
  /** The cookie's value; shown to the browser once, never stored. */
  cookie: string;
  user: string;
  maxAgeMs: number;
}

/**
 * The user a sign-in link is for, leaving the link as it is;
 * BERTH_E_LOGIN_LINK_INVALID when it was used, has expired or never existed.
 */
export async function linkUser(store: Store, linkSecret: string): Promise<string> {
  const user = SECRET.test(linkSecret)
    ? await store.signIns.peekLink(sha256hex(linkSecret))
    : undefined;
  if (user === undefined) throw new BerthError('BERTH_E_LOGIN_LINK_INVALID');
  return user;
}

/** Uses up a sign-in link and starts a session; BERTH_E_LOGIN_LINK_INVALID otherwise. */
export async function startSession(
  store: Store,
  linkSecret: string,
  o: { ttlMs?: number } = {},
): Promise<StartedSession> {
  if (!SECRET.test(linkSecret)) throw new BerthError('BERTH_E_LOGIN_LINK_INVALID');
  const cookie = newSecret();
  const maxAgeMs = o.ttlMs ?? SESSION_TTL_MS;
  const user = await store.signIns.startSession(sha256hex(linkSecret), {
    hash: sha256hex(cookie),
    csrf: newSecret(),
    ttlMs: maxAgeMs,
  });
  return { cookie, user, maxAgeMs };
}

/** The actor and session behind a session cookie, or undefined when it is not (or no longer) valid. */
export async function resolveSession(
  store: Store,
  cookie: string,
): Promise<{ actor: Actor; session: Session } | undefined> {
  if (!SECRET.test(cookie)) return undefined;
  const hash = sha256hex(cookie);
  const found = await store.signIns.resolve(hash);
  if (!found) return undefined;
  const { session, user } = found;
  return {
    actor: {
      kind: 'user',
      user: user.name,
      role: user.role,
      credential: `session:${hash.slice(0, 16)}`,
    },
    session,
  };
}

/** Signs out: the session is deleted server-side, whatever the browser keeps. */
export async function endSession(store: Store, cookie: string): Promise<void> {
  if (SECRET.test(cookie)) await store.signIns.end(sha256hex(cookie));
}
