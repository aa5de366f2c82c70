// API tokens. The secret is never stored: a token's id is the first 16 hex
// digits of its SHA-256 and its record holds the whole SHA-256, so a request
// finds its token with one HGETALL and nobody can rebuild a token from Redis.
import { BerthError } from '../errors.ts';
import * as validate from '../validate.ts';
import { isEmpty, pairsToObject, type StoreContext } from './context.ts';
import { Script } from './lua.ts';
import {
  type ApiToken,
  ApiTokenSchema,
  decode,
  TOKEN_SCOPES,
  type TokenScope,
  type User,
  UserSchema,
} from './records.ts';

const create = new Script(
  'apiTokens.create',
  `
local id, hash, name, user, createdAt, expiresAt, scope = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local userCreatedAt = redis.call('HGET', K.user(user), 'createdAt')
if not userCreatedAt then return {'BERTH_E_USER_NOT_FOUND', 'user', user} end
-- Two tokens whose SHA-256s share 64 bits: never in practice, but never silently.
if redis.call('EXISTS', K.apiToken(id)) == 1 then return {'BERTH_E_CONFLICT', 'what', 'token ' .. id} end
redis.call('HSET', K.apiToken(id), 'id', id, 'hash', hash, 'name', name, 'user', user,
  'userCreatedAt', userCreatedAt, 'createdAt', createdAt, 'expiresAt', expiresAt, 'scope', scope)
redis.call('SADD', K.userTokens(user), id)
redis.call('SADD', K.apiTokens, id)
return {'ok', userCreatedAt}
`,
);

// Checks a presented token and records its use in one step. The record is
// best effort (pcall): a Redis that takes no writes (its disk full) still
// lets a valid token in, to read, instead of failing every request. ISO timestamps
// of one width compare as strings, so the expiry check needs no date parsing.
// Comparing SHA-256s in non-constant time leaks nothing useful: an attacker
// cannot steer the hash of a guess toward a stored one.
const authenticate = new Script(
  'apiTokens.authenticate',
  `
local id, hash, now = ARGV[2], ARGV[3], ARGV[4]
local key = K.apiToken(id)
if redis.call('HGET', key, 'hash') ~= hash then return {'ok', 'unknown'} end
if redis.call('HGET', key, 'expiresAt') <= now then return {'ok', 'expired'} end
redis.pcall('HSET', key, 'lastUsedAt', now)
local user = redis.call('HGET', key, 'user')
return {'ok', 'valid', redis.call('HGETALL', key), redis.call('HGETALL', K.user(user))}
`,
);

const list = new Script(
  'apiTokens.list',
  `
local only = ARGV[2]
local ids = redis.call('SMEMBERS', only ~= '' and K.userTokens(only) or K.apiTokens)
local out = {'ok'}
for _, id in ipairs(ids) do
  local token = redis.call('HGETALL', K.apiToken(id))
  if #token > 0 then out[#out + 1] = {id, token} end
end
return out
`,
);

const revoke = new Script(
  'apiTokens.revoke',
  `
local id, onlyUser = ARGV[2], ARGV[3]
local holder = redis.call('HGET', K.apiToken(id), 'user')
-- Someone else's token is reported as absent, so ids cannot be probed.
if not holder or (onlyUser ~= '' and holder ~= onlyUser) then
  return {'BERTH_E_TOKEN_NOT_FOUND', 'id', id}
end
redis.call('DEL', K.apiToken(id))
redis.call('SREM', K.userTokens(holder), id)
redis.call('SREM', K.apiTokens, id)
return {'ok', holder}
`,
);

export type TokenCheck =
  | { status: 'valid'; token: ApiToken; user: User }
  | { status: 'unknown' | 'expired' };

const ID = /^[0-9a-f]{16}$/;

/** A token id as users type it (auth:revoke ID). */
export function tokenId(value: string): string {
  if (!ID.test(value)) throw new BerthError('BERTH_E_TOKEN_NOT_FOUND', { id: value.slice(0, 40) });
  return value;
}

export class ApiTokens {
  constructor(private readonly ctx: StoreContext) {}

  /** Stores a token's record; the caller made the secret and keeps it. */
  async create(t: {
    hash: string;
    name: string;
    user: string;
    expiresAt: Date;
    scope?: TokenScope;
  }): Promise<ApiToken> {
    const id = t.hash.slice(0, 16);
    const createdAt = this.ctx.now().toISOString();
    const expiresAt = t.expiresAt.toISOString();
    const name = validate.tokenName(t.name);
    const user = validate.userName(t.user);
    const scope = t.scope ?? 'write';
    if (!TOKEN_SCOPES.includes(scope)) {
      throw new BerthError('BERTH_E_USAGE', { reason: 'a token is read or write' });
    }
    const [userCreatedAt] = await create.run(this.ctx, [
      id,
      t.hash,
      name,
      user,
      createdAt,
      expiresAt,
      scope,
    ]);
    return {
      id,
      hash: t.hash,
      name,
      user,
      userCreatedAt: String(userCreatedAt),
      createdAt,
      expiresAt,
      lastUsedAt: null,
      scope,
    };
  }

  /** The token whose secret has this SHA-256, if it is valid now (its use is recorded). */
  async authenticate(hash: string): Promise<TokenCheck> {
    const id = hash.slice(0, 16);
    const now = this.ctx.now().toISOString();
    const [status, rawToken, rawUser] = await authenticate.run(this.ctx, [id, hash, now]);
    if (status !== 'valid') return { status: status === 'expired' ? 'expired' : 'unknown' };
    const token = decode(ApiTokenSchema, this.ctx.keys.apiToken(id), pairsToObject(rawToken));
    const userHash = pairsToObject(rawUser);
    if (isEmpty(userHash)) return { status: 'unknown' };
    const user = decode(UserSchema, this.ctx.keys.user(token.user), userHash);
    // A user removed and made again under the same name is someone else.
    if (user.createdAt !== token.userCreatedAt || user.name !== token.user) {
      return { status: 'unknown' };
    }
    return { status: 'valid', token, user };
  }

  /** One user's tokens, or everyone's, oldest first. */
  async list(user?: string): Promise<ApiToken[]> {
    const rows = await list.run(this.ctx, [user === undefined ? '' : validate.userName(user)]);
    return rows
      .map((row) => {
        const [id, hash] = row as [string, unknown];
        return decode(ApiTokenSchema, this.ctx.keys.apiToken(id), pairsToObject(hash));
      })
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Deletes a token and returns whose it was; with `onlyUser`, another's counts as not found. */
  async revoke(id: string, onlyUser?: string): Promise<string> {
    const args = [tokenId(id), onlyUser === undefined ? '' : validate.userName(onlyUser)];
    const [holder] = await revoke.run(this.ctx, args);
    return String(holder);
  }
}
