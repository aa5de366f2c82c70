// Signing in to the web app without passwords (issue 7): a user who is
// already signed in over SSH asks for a one-time link (auth:login), and
// opening it starts a browser session. The link, the session cookie and the
// CSRF token are 32 random bytes each; Redis keeps only SHA-256s of the first
// two (services/core/secret.ts).
import type { Actor } from '../core/actor.ts';
import type { Config } from '../core/config.ts';
import { BerthError } from '../core/errors.ts';
import { newSecret, sha256hex } from '../core/secret.ts';
import type { Session, Store } from '../core/store/index.ts';

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
 * Where a browser reaches the web app; sign-in links start here. The one place
 * that decides it: the router does not publish the web app at the bare
 * BERTH_DOMAIN yet (issue 7's next step), so this is the loopback port, which
 * the admin reaches on the server or through an SSH tunnel. When the router
 * serves it, this becomes `https://<BERTH_DOMAIN>` (http without a certificate).
 */
export function webBaseUrl(config: Pick<Config, 'webPort' | 'domain'>): {
  url: string;
  /** Said next to the link, so the user knows how to open it. */
  note: string;
} {
  return {
    url: `http://127.0.0.1:${config.webPort}`,
    note: `the web app answers on the server's loopback port for now; from another machine, tunnel it first: ssh -L ${config.webPort}:127.0.0.1:${config.webPort} root@SERVER`,
  };
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
  config: Pick<Config, 'webPort' | 'domain'>,
  actor: Actor,
  o: { user?: string | undefined; ttlMs?: number } = {},
): Promise<LoginLink> {
  const user = userFor(actor, o.user, 'auth:login');
  const ttlMs = o.ttlMs ?? LOGIN_LINK_TTL_MS;
  const secret = newSecret();
  await store.signIns.createLink(sha256hex(secret), user, ttlMs);
  const base = webBaseUrl(config);
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
