// API tokens: what scripts send as "Authorization: Bearer TOKEN".
// Issued over SSH (auth:token), shown once, stored as a SHA-256 only; listed
// and revoked by id. A token acts as its user, with the user's current role;
// a read-only one (auth:token --read-only) only sees, for dashboards and monitors.
import { type Actor, isAdmin } from '../../core/actor.ts';
import { BerthError } from '../../core/errors.ts';
import { newSecret, sha256hex } from '../../core/secret.ts';
import type { ApiToken, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { userFor } from './sign-in.ts';

/** Every token starts with this, so secret scanners and people recognise one. */
export const TOKEN_PREFIX = 'berth_';
export const DEFAULT_TOKEN_LIFETIME = '30d';
export const DEFAULT_TOKEN_NAME = 'api';

const TOKEN = /^berth_[A-Za-z0-9_-]{43}$/;

/** A token as listed: everything but its hash. */
export type TokenInfo = Omit<ApiToken, 'hash' | 'userCreatedAt'>;

export const tokenInfo = ({ hash: _h, userCreatedAt: _u, ...info }: ApiToken): TokenInfo => info;

export async function issueToken(
  store: Store,
  actor: Actor,
  o: {
    name?: string | undefined;
    expires?: string | undefined;
    user?: string | undefined;
    /** A token that may only read (no changes, no config values). */
    readOnly?: boolean | undefined;
  } = {},
): Promise<{ secret: string; token: TokenInfo }> {
  const user = userFor(actor, o.user, 'auth:token');
  const name = validate.tokenName(o.name ?? DEFAULT_TOKEN_NAME);
  const lifetime = validate.duration(o.expires ?? DEFAULT_TOKEN_LIFETIME);
  const secret = newSecret(TOKEN_PREFIX);
  const token = await store.apiTokens.create({
    hash: sha256hex(secret),
    name,
    user,
    expiresAt: new Date(Date.now() + lifetime),
    scope: o.readOnly ? 'read' : 'write',
  });
  return { secret, token: tokenInfo(token) };
}

/** The actor's tokens; with `all` (admins), everyone's. */
export async function listTokens(
  store: Store,
  actor: Actor,
  o: { all?: boolean } = {},
): Promise<TokenInfo[]> {
  if (o.all && !isAdmin(actor)) {
    throw new BerthError('BERTH_E_FORBIDDEN', { action: 'auth:tokens --all', who: 'admins' });
  }
  const everyone = o.all || actor.kind === 'root';
  const tokens = await store.apiTokens.list(everyone ? undefined : userFor(actor, undefined, ''));
  return tokens.map(tokenInfo);
}

/** Revokes one of the actor's tokens (admins: anyone's); returns whose it was. */
export async function revokeToken(store: Store, actor: Actor, id: string): Promise<string> {
  return store.apiTokens.revoke(id, isAdmin(actor) ? undefined : userFor(actor, undefined, ''));
}

/** The actor a bearer token stands for; BERTH_E_UNAUTHENTICATED for anything else. */
export async function authenticateToken(store: Store, secret: string): Promise<Actor> {
  if (!TOKEN.test(secret)) {
    throw new BerthError('BERTH_E_UNAUTHENTICATED', { reason: 'that is not a Berth API token' });
  }
  const check = await store.apiTokens.authenticate(sha256hex(secret));
  if (check.status !== 'valid') {
    throw new BerthError('BERTH_E_UNAUTHENTICATED', {
      reason:
        check.status === 'expired'
          ? 'the API token has expired'
          : 'the API token is unknown or was revoked',
    });
  }
  return {
    kind: 'user',
    user: check.user.name,
    role: check.user.role,
    credential: `token:${check.token.id}`,
    ...(check.token.scope === 'read' ? { readOnly: true } : {}),
  };
}
