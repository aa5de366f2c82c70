// Users and their SSH keys. A key is how a connection becomes a user (the git
// receiver and the command channel look it up by fingerprint on every
// connection, one HGETALL), so a key belongs to exactly one user: adding a
// registered key is refused, and removing a user removes its keys with it.
import { BerthError } from '../errors.ts';
import { fingerprint as fingerprintOf, keyFingerprint, parsePublicKey } from '../ssh-key.ts';
import * as validate from '../validate.ts';
import { isEmpty, pairsToObject, type StoreContext } from './context.ts';
import { Script } from './lua.ts';
import {
  decode,
  ROLES,
  type Role,
  type SshKey,
  SshKeySchema,
  type User,
  UserSchema,
} from './records.ts';

const createUser = new Script(
  'users.create',
  `
local name, role, createdAt = ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', K.user(name)) == 1 then return {'BERTH_E_USER_EXISTS', 'user', name} end
-- A new user of an old name inherits neither its keys nor its quotas and build time.
redis.call('DEL', K.userKeys(name), K.userQuotas(name), K.userBuildUsage(name))
redis.call('HSET', K.user(name), 'name', name, 'role', role, 'createdAt', createdAt)
redis.call('SADD', K.users, name)
return {'ok'}
`,
);

const setRole = new Script(
  'users.setRole',
  `
local name, role = ARGV[2], ARGV[3]
if redis.call('EXISTS', K.user(name)) == 0 then return {'BERTH_E_USER_NOT_FOUND', 'user', name} end
redis.call('HSET', K.user(name), 'role', role)
return {'ok'}
`,
);

const removeUser = new Script(
  'users.remove',
  `
local name = ARGV[2]
if redis.call('EXISTS', K.user(name)) == 0 then return {'BERTH_E_USER_NOT_FOUND', 'user', name} end
-- An app without an owner would be one nobody may deploy or destroy: refuse instead.
local apps = redis.call('SMEMBERS', K.apps)
local owned = {}
for _, app in ipairs(apps) do
  if redis.call('HGET', K.app(app), 'owner') == name then owned[#owned + 1] = app end
end
if #owned > 0 then
  table.sort(owned)
  return {'BERTH_E_USER_HAS_APPS', 'user', name, 'apps', table.concat(owned, ', ')}
end
for _, fp in ipairs(redis.call('SMEMBERS', K.userKeys(name))) do
  if redis.call('HGET', K.sshKey(fp), 'user') == name then redis.call('DEL', K.sshKey(fp)) end
end
for _, app in ipairs(apps) do redis.call('SREM', K.collaborators(app), name) end
-- API tokens go with the user; sessions fail on their own (their user is gone).
for _, id in ipairs(redis.call('SMEMBERS', K.userTokens(name))) do
  redis.call('DEL', K.apiToken(id))
  redis.call('SREM', K.apiTokens, id)
end
redis.call('DEL', K.user(name), K.userKeys(name), K.userTokens(name), K.userQuotas(name), K.userBuildUsage(name))
redis.call('SREM', K.users, name)
return {'ok'}
`,
);

const addKey = new Script(
  'users.addKey',
  `
local user, fp, keyType, key, comment, addedAt = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
if redis.call('EXISTS', K.user(user)) == 0 then return {'BERTH_E_USER_NOT_FOUND', 'user', user} end
local holder = redis.call('HGET', K.sshKey(fp), 'user')
if holder then return {'BERTH_E_KEY_EXISTS', 'user', holder, 'fingerprint', fp} end
redis.call('HSET', K.sshKey(fp), 'fingerprint', fp, 'type', keyType, 'key', key,
  'comment', comment, 'user', user, 'addedAt', addedAt)
redis.call('SADD', K.userKeys(user), fp)
return {'ok'}
`,
);

const removeKey = new Script(
  'users.removeKey',
  `
local fp, onlyUser, now = ARGV[2], ARGV[3], ARGV[4]
local holder = redis.call('HGET', K.sshKey(fp), 'user')
-- Someone else's key is reported as absent, so users cannot probe for keys.
if not holder or (onlyUser ~= '' and holder ~= onlyUser) then
  return {'BERTH_E_KEY_NOT_FOUND', 'fingerprint', fp}
end
redis.call('DEL', K.sshKey(fp))
redis.call('SREM', K.userKeys(holder), fp)
if redis.call('SCARD', K.userKeys(holder)) > 0 then return {'ok', holder, 0, 0} end
-- The last key: whoever took it away meant the user out, so what the user
-- signed in with over SSH goes too, in this same step. API tokens are
-- deleted; sessions started until now stop working (signIns.resolve
-- compares their createdAt), without an index of them to walk.
local tokens = redis.call('SMEMBERS', K.userTokens(holder))
for _, id in ipairs(tokens) do
  redis.call('DEL', K.apiToken(id))
  redis.call('SREM', K.apiTokens, id)
end
redis.call('DEL', K.userTokens(holder))
if redis.call('EXISTS', K.user(holder)) == 1 then
  redis.call('HSET', K.user(holder), 'credentialsRevokedAt', now)
end
return {'ok', holder, 1, #tokens}
`,
);

// Reads a user's keys (or everyone's) in one consistent step.
const listKeys = new Script(
  'users.listKeys',
  `
local only = ARGV[2]
local users = only ~= '' and {only} or redis.call('SMEMBERS', K.users)
if only ~= '' and redis.call('EXISTS', K.user(only)) == 0 then
  return {'BERTH_E_USER_NOT_FOUND', 'user', only}
end
local out = {'ok'}
for _, user in ipairs(users) do
  for _, fp in ipairs(redis.call('SMEMBERS', K.userKeys(user))) do
    out[#out + 1] = {fp, redis.call('HGETALL', K.sshKey(fp))}
  end
end
return out
`,
);

const listUsers = new Script(
  'users.list',
  `
local out = {'ok'}
for _, name in ipairs(redis.call('SMEMBERS', K.users)) do
  out[#out + 1] = {name, redis.call('HGETALL', K.user(name))}
end
return out
`,
);

// The SSH server's lookup: key and user in one round trip.
const identify = new Script(
  'users.identify',
  `
return record_with_user(K.sshKey(ARGV[2]))
`,
);

function role(value: string): Role {
  if (!(ROLES as readonly string[]).includes(value)) {
    throw new BerthError('BERTH_E_INVALID_NAME', {
      kind: 'role',
      value: JSON.stringify(value.slice(0, 40)).slice(1, -1),
      reason: `use ${ROLES.join(' or ')}`,
    });
  }
  return value as Role;
}

/** What removing a key did. */
export interface RemovedKey {
  /** Whose key it was. */
  user: string;
  /** It was the user's last: their API tokens and web sessions were revoked with it. */
  lastKey: boolean;
  /** How many API tokens went with it. */
  tokensRevoked: number;
}

export class Users {
  constructor(private readonly ctx: StoreContext) {}

  /** BERTH_E_USER_EXISTS if the name is taken. */
  async create(name: string, userRole: Role = 'user'): Promise<User> {
    const args = [validate.userName(name), role(userRole), this.ctx.now().toISOString()];
    await createUser.run(this.ctx, args);
    return { name, role: userRole, createdAt: args[2] as string };
  }

  async get(name: string): Promise<User | undefined> {
    validate.userName(name);
    const key = this.ctx.keys.user(name);
    const hash = await this.ctx.redis.hgetall(key);
    return isEmpty(hash) ? undefined : this.parseUser(name, key, hash);
  }

  /** Every user, sorted by name. */
  async list(): Promise<User[]> {
    const rows = await listUsers.run(this.ctx, []);
    const users = rows.map((row) => {
      const [name, hash] = row as [string, unknown];
      return this.parseUser(name, this.ctx.keys.user(name), pairsToObject(hash));
    });
    return users.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async setRole(name: string, userRole: Role): Promise<void> {
    await setRole.run(this.ctx, [validate.userName(name), role(userRole)]);
  }

  /**
   * Removes the user, its keys and its collaborations; BERTH_E_USER_HAS_APPS
   * while it still owns apps.
   */
  async remove(name: string): Promise<void> {
    await removeUser.run(this.ctx, [validate.userName(name)]);
  }

  /**
   * Registers one public key line (as in a .pub file) for the user.
   * BERTH_E_KEY_INVALID for garbage, BERTH_E_KEY_EXISTS when any user has it.
   */
  async addKey(user: string, publicKeyLine: string): Promise<SshKey> {
    validate.userName(user);
    const parsed = parsePublicKey(publicKeyLine);
    const addedAt = this.ctx.now().toISOString();
    const { fingerprint, type, key, comment } = parsed;
    await addKey.run(this.ctx, [user, fingerprint, type, key, comment, addedAt]);
    return { fingerprint, type, key, comment, user, addedAt };
  }

  /**
   * Removes a key by fingerprint; says whose it was. With `onlyUser`, a key
   * of another user counts as not found. When it was the user's last key,
   * the user's API tokens are deleted and their web sessions end, as if the
   * user were removed (the user stays, with their apps).
   */
  async removeKey(fingerprint: string, onlyUser?: string): Promise<RemovedKey> {
    const args = [
      keyFingerprint(fingerprint),
      onlyUser === undefined ? '' : validate.userName(onlyUser),
      this.ctx.now().toISOString(),
    ];
    const [holder, last, tokens] = await removeKey.run(this.ctx, args);
    return { user: String(holder), lastKey: Number(last) === 1, tokensRevoked: Number(tokens) };
  }

  /** The key with that fingerprint, in O(1); undefined when nobody registered it. */
  async findKey(fingerprint: string): Promise<SshKey | undefined> {
    const key = this.ctx.keys.sshKey(keyFingerprint(fingerprint));
    const hash = await this.ctx.redis.hgetall(key);
    return isEmpty(hash) ? undefined : this.parseKey(fingerprint, hash);
  }

  /**
   * Who a client is, from the key blob it authenticated with: the key and its
   * user, or undefined for an unknown key. The stored blob must equal the
   * offered one, so a lookup is exact, not just a fingerprint match.
   */
  async identify(blob: Buffer): Promise<{ key: SshKey; user: User } | undefined> {
    const fp = fingerprintOf(blob);
    const [rawKey, rawUser] = await identify.run(this.ctx, [fp]);
    if (rawKey === undefined) return undefined;
    const key = this.parseKey(fp, pairsToObject(rawKey));
    if (key.key !== blob.toString('base64')) return undefined;
    const userHash = pairsToObject(rawUser);
    if (isEmpty(userHash)) {
      // A key whose user is gone must not authenticate as nobody.
      throw new BerthError('BERTH_E_STORE_CORRUPT', {
        key: this.ctx.keys.sshKey(fp),
        reason: `belongs to user "${key.user}", who does not exist`,
      });
    }
    return { key, user: this.parseUser(key.user, this.ctx.keys.user(key.user), userHash) };
  }

  /** The keys of one user (BERTH_E_USER_NOT_FOUND if absent) or of everyone, oldest first. */
  async listKeys(user?: string): Promise<SshKey[]> {
    const rows = await listKeys.run(this.ctx, [user === undefined ? '' : validate.userName(user)]);
    const keys = rows.map((row) => {
      const [fp, hash] = row as [string, unknown];
      return this.parseKey(fp, pairsToObject(hash));
    });
    return keys.sort(
      (a, b) => a.addedAt.localeCompare(b.addedAt) || a.fingerprint.localeCompare(b.fingerprint),
    );
  }

  private parseUser(name: string, key: string, hash: Record<string, string>): User {
    const user = decode(UserSchema, key, hash);
    if (user.name !== name) {
      throw new BerthError('BERTH_E_STORE_CORRUPT', { key, reason: `holds user "${user.name}"` });
    }
    return user;
  }

  private parseKey(fp: string, hash: Record<string, string>): SshKey {
    const key = this.ctx.keys.sshKey(fp);
    const record = decode(SshKeySchema, key, hash);
    // The fingerprint is the key's identity; it must match the blob it names.
    if (record.fingerprint !== fp || fingerprintOf(Buffer.from(record.key, 'base64')) !== fp) {
      throw new BerthError('BERTH_E_STORE_CORRUPT', {
        key,
        reason: 'fingerprint does not match the key',
      });
    }
    return record;
  }
}
