// Berth's Redis state at one instant, and back. One Lua script scans the
// prefix and DUMPs every key Berth keeps, with its time to live: Redis runs
// a script without interleaving another client, so the set is consistent
// (a release and its app, a domain and its index entry) however many keys
// there are. Keys are kept relative to the prefix, so a backup restores
// under another BERTH_REDIS_PREFIX too.
//
// What is kept and what is not (docs/redis-keys.md):
//   kept      schema, apps, app:* (records, config, releases, domains, build
//             history, metrics), domains, global-domains, cert:*, certs,
//             users, user:*, key:*, tokens, token:*, networks, session:*,
//             login:* (these two with their expiry), datastores:*,
//             datastore:* and datastore-backup:* (backing services' records,
//             links and backup settings; their data is in the archive's
//             services section), global-settings, global-config and
//             storage-entries (the --global defaults, global config vars,
//             admins' host directories; the directories' files are not kept);
//   left out  bull:* (the build queue: a build queued or running when the
//             backup is taken is not in it, and finished jobs are history),
//             build:* (build log streams, which expire after 7 days, cancel
//             and waiter flags), build-lock:*, build-leftovers (image ids
//             of failed builds; images are not in a backup), acme-challenge:*,
//             acme-lock:* (an ACME order under way), events (the webhook
//             outbox: a restored Berth tells nobody of old deploys), app:*:routes (the
//             restore's rollout writes them for the new instances), and any
//             key of a kind Berth does not know (another instance whose
//             prefix starts with this one's).
import type { Redis } from 'ioredis';
import { badArchive } from './tar.ts';

/** The key kinds (first part after the prefix) a backup keeps. */
export const KEPT_KINDS = [
  'schema',
  'apps',
  'app',
  'domains',
  'global-domains',
  'cert',
  'certs',
  'users',
  'user',
  'key',
  'tokens',
  'token',
  'networks',
  'session',
  'login',
  // Backing services: their records (with passwords) and links, and their
  // backup settings (schedule, count); their data is the manifest's
  // services section.
  'datastores',
  'datastore',
  'datastore-backup',
  // The platform-wide defaults (--global), global config vars and storage entries.
  'global-settings',
  'global-config',
  'storage-entries',
] as const;

export const LEFT_OUT = [
  'bull:* (the build queue: builds queued or running are not kept)',
  'build:* (build log streams, cancel and waiter flags)',
  'build-lock:* (build locks)',
  'build-leftovers (failed builds’ image ids)',
  'acme-challenge:*, acme-lock:* (ACME orders under way)',
  'app:*:routes (written again by the rollout after restore)',
  'events (webhook events not yet delivered)',
];

const SNAPSHOT = `
local prefix = ARGV[1]
local keep = {}
for i = 2, #ARGV do keep[ARGV[i]] = true end
local seen, out = {}, {}
local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', prefix .. '*', 'COUNT', 1000)
  cursor = r[1]
  for _, key in ipairs(r[2]) do
    local rest = string.sub(key, #prefix + 1)
    local kind = string.match(rest, '^[^:]+')
    if not seen[key] and kind and keep[kind] and not string.match(rest, '^app:[^:]+:routes$') then
      seen[key] = true
      out[#out + 1] = key
      out[#out + 1] = tostring(redis.call('PTTL', key))
      out[#out + 1] = redis.call('DUMP', key)
    end
  end
until cursor == '0'
local t = redis.call('TIME')
return {t[1], t[2], redis.call('SMEMBERS', prefix .. 'apps'), out}
`;

// Deletes every key of the kept kinds under the prefix: the state a restore replaces.
const CLEAR = `
local prefix = ARGV[1]
local keep = {}
for i = 2, #ARGV do keep[ARGV[i]] = true end
local cursor, n = '0', 0
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', prefix .. '*', 'COUNT', 1000)
  cursor = r[1]
  for _, key in ipairs(r[2]) do
    local kind = string.match(string.sub(key, #prefix + 1), '^[^:]+')
    if kind and keep[kind] then n = n + redis.call('DEL', key) end
  end
until cursor == '0'
return n
`;

export interface SnapshotKey {
  /** Relative to the prefix. */
  key: string;
  /** Absolute expiry (ms since the epoch), 0: none. */
  expireAt: number;
  dump: Buffer;
}

export interface Snapshot {
  at: Date;
  apps: string[];
  keys: SnapshotKey[];
}

export async function takeSnapshot(redis: Redis, prefix: string): Promise<Snapshot> {
  const reply = (await redis.callBuffer('EVAL', SNAPSHOT, 0, prefix, ...KEPT_KINDS)) as [
    Buffer,
    Buffer,
    Buffer[],
    Buffer[],
  ];
  const [sec, usec, apps, flat] = reply;
  const atMs = Number(sec.toString()) * 1000 + Math.floor(Number(usec.toString()) / 1000);
  const keys: SnapshotKey[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) {
    const pttl = Number((flat[i + 1] as Buffer).toString());
    keys.push({
      key: (flat[i] as Buffer).toString('utf8').slice(prefix.length),
      expireAt: pttl > 0 ? atMs + pttl : 0,
      dump: flat[i + 2] as Buffer,
    });
  }
  return { at: new Date(atMs), apps: apps.map((a) => a.toString('utf8')).sort(), keys };
}

/** One line of redis.jsonl. */
export const snapshotLine = (k: SnapshotKey): string =>
  `${JSON.stringify({ k: k.key, x: k.expireAt, d: k.dump.toString('base64') })}\n`;

const KIND = new Set<string>(KEPT_KINDS);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A line of redis.jsonl, checked: a key of a kept kind, an expiry, a DUMP payload. */
export function parseSnapshotLine(line: string, n: number): SnapshotKey {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw badArchive(`line ${n} of redis.jsonl is not JSON`);
  }
  const r = raw as { k?: unknown; x?: unknown; d?: unknown };
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r.k !== 'string' ||
    typeof r.x !== 'number' ||
    typeof r.d !== 'string'
  ) {
    throw badArchive(`line ${n} of redis.jsonl is not a key record`);
  }
  const kind = /^[^:]+/.exec(r.k)?.[0];
  if (
    r.k.length > 2048 ||
    /[\x00-\x20\x7f]/.test(r.k) ||
    kind === undefined ||
    !KIND.has(kind) ||
    /^app:[^:]+:routes$/.test(r.k)
  ) {
    throw badArchive(`line ${n} of redis.jsonl names a key Berth does not restore`);
  }
  if (!Number.isSafeInteger(r.x) || r.x < 0) {
    throw badArchive(`line ${n} of redis.jsonl has a bad expiry`);
  }
  if (!BASE64.test(r.d) || r.d.length === 0) {
    throw badArchive(`line ${n} of redis.jsonl has a bad value`);
  }
  return { key: r.k, expireAt: r.x, dump: Buffer.from(r.d, 'base64') };
}

/**
 * Every payload restored once under a scratch key and deleted: a MULTI
 * does not roll back, so a payload Redis refuses (from a newer Redis, or
 * damaged) must be found before the state is cleared.
 */
async function checkPayloads(redis: Redis, prefix: string, keys: readonly SnapshotKey[]) {
  const scratch = `${prefix}restore-check:${process.pid}:${Date.now()}`;
  for (let i = 0; i < keys.length; i += 500) {
    const pipe = redis.pipeline();
    for (const k of keys.slice(i, i + 500))
      pipe.restore(scratch, 0, k.dump, 'REPLACE').del(scratch);
    const replies = (await pipe.exec()) ?? [];
    for (const [j, [error]] of replies.entries()) {
      if (error) {
        const key = keys[i + Math.floor(j / 2)]?.key ?? '?';
        throw badArchive(
          `Redis refuses the value of ${key} (${error.message.split('\n')[0]}); a backup restores on the same or a newer Redis`,
        );
      }
    }
  }
}

/**
 * Replaces every key of the kept kinds under `prefix` with the snapshot's,
 * in one MULTI: the platform's state is the old one or the restored one,
 * never a mix. Keys whose expiry has passed are left out. Returns the keys
 * written.
 */
export async function restoreSnapshot(
  redis: Redis,
  prefix: string,
  keys: readonly SnapshotKey[],
  now = Date.now(),
): Promise<number> {
  await checkPayloads(redis, prefix, keys);
  const multi = redis.multi();
  multi.eval(CLEAR, 0, prefix, ...KEPT_KINDS);
  let n = 0;
  for (const k of keys) {
    if (k.expireAt !== 0 && k.expireAt <= now) continue;
    if (k.expireAt === 0) multi.restore(`${prefix}${k.key}`, 0, k.dump, 'REPLACE');
    else multi.restore(`${prefix}${k.key}`, k.expireAt, k.dump, 'REPLACE', 'ABSTTL');
    n++;
  }
  const replies = await multi.exec();
  for (const [error] of replies ?? []) {
    if (error) {
      throw badArchive(
        `Redis refused a key of redis.jsonl (${error.message}); it may come from a newer Redis`,
      );
    }
  }
  return n;
}
