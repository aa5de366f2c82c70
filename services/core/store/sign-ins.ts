// One-time sign-in links and the browser sessions they start. Redis keeps
// only SHA-256s of the secrets (the key names) and expires both by itself; the
// session also records its expiry, checked against the store's clock, so a
// session never outlives it even if a TTL were lost or lengthened by hand.
import { BerthError } from '../errors.ts';
import * as validate from '../validate.ts';
import { isEmpty, pairsToObject, type StoreContext } from './context.ts';
import { Script } from './lua.ts';
import { decode, type Session, SessionSchema, type User, UserSchema } from './records.ts';

const createLink = new Script(
  'signIns.createLink',
  `
local hash, user, ttl = ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', K.user(user)) == 0 then return {'BERTH_E_USER_NOT_FOUND', 'user', user} end
redis.call('SET', K.loginLink(hash), user, 'PX', ttl)
return {'ok'}
`,
);

// Reading and deleting the link is one step, so of two requests racing with
// the same link exactly one starts a session.
const consumeLink = new Script(
  'signIns.consumeLink',
  `
local link, session, csrf, now, expiresAt, ttl = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local user = redis.call('GET', K.loginLink(link))
if not user then return {'BERTH_E_LOGIN_LINK_INVALID'} end
redis.call('DEL', K.loginLink(link))
local userCreatedAt = redis.call('HGET', K.user(user), 'createdAt')
if not userCreatedAt then return {'BERTH_E_LOGIN_LINK_INVALID'} end
redis.call('HSET', K.session(session), 'user', user, 'userCreatedAt', userCreatedAt,
  'csrf', csrf, 'createdAt', now, 'expiresAt', expiresAt)
redis.call('PEXPIRE', K.session(session), ttl)
return {'ok', user}
`,
);

// The session and its user in one round trip (every signed-in request does this).
const resolveSession = new Script(
  'signIns.resolveSession',
  `
return record_with_user(K.session(ARGV[2]))
`,
);

export class SignIns {
  constructor(private readonly ctx: StoreContext) {}

  /** Stores a link (by its secret's SHA-256) for `user`, valid `ttlMs`. BERTH_E_USER_NOT_FOUND. */
  async createLink(hash: string, user: string, ttlMs: number): Promise<void> {
    await createLink.run(this.ctx, [hash, validate.userName(user), Math.max(1, Math.round(ttlMs))]);
  }

  /**
   * The user a link would sign in, without using it up: the page a GET of
   * the link shows (a mail scanner's GET must leave the link working).
   * Undefined when the link was used, expired or never existed.
   */
  async peekLink(hash: string): Promise<string | undefined> {
    return (await this.ctx.redis.get(this.ctx.keys.loginLink(hash))) ?? undefined;
  }

  /**
   * Uses up the link and starts a session with the given cookie hash and CSRF
   * token; returns the user. BERTH_E_LOGIN_LINK_INVALID when the link was
   * used, expired or never existed.
   */
  async startSession(
    linkHash: string,
    session: { hash: string; csrf: string; ttlMs: number },
  ): Promise<string> {
    const now = this.ctx.now();
    const ttl = Math.max(1, Math.round(session.ttlMs));
    const [user] = await consumeLink.run(this.ctx, [
      linkHash,
      session.hash,
      session.csrf,
      now.toISOString(),
      new Date(now.getTime() + ttl).toISOString(),
      ttl,
    ]);
    return String(user);
  }

  /**
   * The session with that cookie hash and its user, or undefined when it is
   * gone, expired, or its user was removed (or removed and made again).
   */
  async resolve(hash: string): Promise<{ session: Session; user: User } | undefined> {
    const [rawSession, rawUser] = await resolveSession.run(this.ctx, [hash]);
    if (rawSession === undefined) return undefined;
    const key = this.ctx.keys.session(hash);
    const session = decode(SessionSchema, key, pairsToObject(rawSession));
    if (Date.parse(session.expiresAt) <= this.ctx.now().getTime()) return undefined;
    const userHash = pairsToObject(rawUser);
    if (isEmpty(userHash)) return undefined;
    const user = decode(UserSchema, this.ctx.keys.user(session.user), userHash);
    if (user.name !== session.user) {
      throw new BerthError('BERTH_E_STORE_CORRUPT', {
        key: this.ctx.keys.user(session.user),
        reason: `holds user "${user.name}"`,
      });
    }
    if (user.createdAt !== session.userCreatedAt) return undefined;
    // Started before the user's last SSH key was removed (users.removeKey).
    if (
      user.credentialsRevokedAt !== undefined &&
      Date.parse(session.createdAt) <= Date.parse(user.credentialsRevokedAt)
    ) {
      return undefined;
    }
    return { session, user };
  }

  /** Ends a session; false when there was none. */
  async end(hash: string): Promise<boolean> {
    return (await this.ctx.redis.del(this.ctx.keys.session(hash))) === 1;
  }
}
