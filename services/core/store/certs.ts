// Certificate metadata per domain: where the certificate came from, its
// validity, and the renewer's bookkeeping (last error, next attempt). The PEM
// files live under the data directory; Redis only says what they are, so the
// renewer and the status page need not open them.
//
// Metadata exists only for a domain some app has (or, with `platform`, for a
// domain Berth serves itself such as the status page's), so that removing the
// domain or destroying the app can take its metadata with it.
import { randomBytes } from 'node:crypto';
import { BerthError } from '../errors.ts';
import * as validate from '../validate.ts';
import { isEmpty, pairsToObject, type StoreContext } from './context.ts';
import { Script } from './lua.ts';
import {
  CERT_SOURCES,
  type CertMeta,
  CertMetaSchema,
  type CertSource,
  decode,
  toFields,
} from './records.ts';

type Time = Date | string | null;

export interface CertInput {
  source: CertSource;
  issuer?: string | null;
  serial?: string | null;
  notBefore?: Time;
  notAfter?: Time;
  lastRenewalAt?: Time;
  lastError?: string | null;
  nextAttemptAt?: Time;
  failures?: number | null;
}

/** Fields to change; null clears a field, an absent one stays as it is. */
export type CertPatch = Partial<CertInput>;

const FIELDS = [
  'source',
  'issuer',
  'serial',
  'notBefore',
  'notAfter',
  'lastRenewalAt',
  'lastError',
  'nextAttemptAt',
  'failures',
] as const;
const TIMES = new Set<string>(['notBefore', 'notAfter', 'lastRenewalAt', 'nextAttemptAt']);

const write = new Script(
  'certs.write',
  `
local domain, mode, platform, nset = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local key = K.cert(domain)
if mode == 'patch' then
  if redis.call('EXISTS', key) == 0 then return {'BERTH_E_CERT_NOT_FOUND', 'domain', domain} end
elseif platform ~= '1' and redis.call('HEXISTS', K.domains, domain) == 0 then
  return {'BERTH_E_DOMAIN_UNKNOWN', 'domain', domain}
end
if mode == 'replace' then redis.call('DEL', key) end
local set = {}
for i = 6, 5 + nset * 2 do set[#set + 1] = ARGV[i] end
hset_list(key, set)
for i = 6 + nset * 2, #ARGV do redis.call('HDEL', key, ARGV[i]) end
redis.call('HSET', key, 'domain', domain)
redis.call('SADD', K.certs, domain)
-- A replace comes with new files; a patch is the renewer's bookkeeping only.
if mode == 'replace' then redis.call('PUBLISH', K.certsChannel, domain) end
return {'ok', redis.call('HGETALL', key)}
`,
);

const remove = new Script(
  'certs.remove',
  `
local domain = ARGV[2]
redis.call('SREM', K.certs, domain)
redis.call('PUBLISH', K.certsChannel, domain)
return {'ok', redis.call('DEL', K.cert(domain))}
`,
);

const list = new Script(
  'certs.list',
  `
local out = {'ok'}
for _, domain in ipairs(redis.call('SMEMBERS', K.certs)) do
  out[#out + 1] = {domain, redis.call('HGETALL', K.cert(domain))}
end
return out
`,
);

const unlock = new Script(
  'certs.unlock',
  `
if redis.call('GET', K.acmeLock(ARGV[2])) == ARGV[3] then redis.call('DEL', K.acmeLock(ARGV[2])) end
return {'ok'}
`,
);

/** How long a challenge's answer is kept if its order never cleans up (a killed process). */
const CHALLENGE_TTL_S = 600;

function invalid(kind: string, value: string, reason: string): never {
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value).slice(1, -1);
  throw new BerthError('BERTH_E_INVALID_NAME', { kind, value: shown, reason });
}

/** Checks and normalizes one field: times to ISO 8601 UTC, texts to one line. */
function field(name: string, value: unknown): string | null {
  if (value === null) return null;
  if (name === 'source') {
    if (!(CERT_SOURCES as readonly unknown[]).includes(value)) {
      invalid('certificate source', String(value), `use ${CERT_SOURCES.join(' or ')}`);
    }
    return value as string;
  }
  if (name === 'failures') {
    if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > 999_999) {
      invalid('certificate failures', String(value), 'a count');
    }
    return String(value);
  }
  if (TIMES.has(name)) {
    const date = value instanceof Date ? value : new Date(String(value));
    if (Number.isNaN(date.getTime())) invalid(`certificate ${name}`, String(value), 'not a date');
    return date.toISOString();
  }
  if (typeof value !== 'string') return invalid(`certificate ${name}`, String(value), 'not text');
  // Error texts from ACME servers can span lines; the status page shows one.
  const text = name === 'lastError' ? value.replace(/\s+/g, ' ').trim().slice(0, 1000) : value;
  if (/[\x00-\x1f\x7f]/.test(text) || text.length > 1000) {
    invalid(`certificate ${name}`, text, 'one line of at most 1000 characters');
  }
  return text;
}

export class Certs {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * Replaces the metadata of a domain. BERTH_E_DOMAIN_UNKNOWN when no app has
   * the domain, unless `platform` (a domain Berth serves itself).
   */
  async set(domain: string, meta: CertInput, { platform = false } = {}): Promise<CertMeta> {
    const name = validate.domainOrWildcard(domain);
    return this.write(name, 'replace', platform, meta);
  }

  /** Changes some fields (null clears one); BERTH_E_CERT_NOT_FOUND when there is no metadata. */
  async patch(domain: string, changes: CertPatch): Promise<CertMeta> {
    const name = validate.domainOrWildcard(domain);
    return this.write(name, 'patch', false, changes);
  }

  async get(domain: string): Promise<CertMeta | undefined> {
    const name = validate.domainOrWildcard(domain);
    const key = this.ctx.keys.cert(name);
    const hash = await this.ctx.redis.hgetall(key);
    return isEmpty(hash) ? undefined : this.parse(name, hash);
  }

  /** False when there was no metadata. */
  async remove(domain: string): Promise<boolean> {
    const [removed] = await remove.run(this.ctx, [validate.domainOrWildcard(domain)]);
    return removed === 1;
  }

  /** All certificate metadata, sorted by domain: the renewer's work list. */
  async list(): Promise<CertMeta[]> {
    const rows = await list.run(this.ctx, []);
    return rows
      .map((row) => {
        const [domain, hash] = row as [string, unknown];
        return this.parse(domain, pairsToObject(hash));
      })
      .sort((a, b) => (a.domain < b.domain ? -1 : 1));
  }

  /** Publishes the answer to an HTTP-01 challenge for every router process. */
  async setChallenge(token: string, keyAuthorization: string): Promise<void> {
    const key = this.ctx.keys.acmeChallenge(validate.acmeToken(token));
    await this.ctx.redis.set(key, keyAuthorization, 'EX', CHALLENGE_TTL_S);
  }

  async removeChallenge(token: string): Promise<void> {
    await this.ctx.redis.del(this.ctx.keys.acmeChallenge(validate.acmeToken(token)));
  }

  /**
   * Takes the domain's ACME lock for `ms` (it expires by itself if the holder
   * dies); the release function, or undefined when another order holds it.
   */
  async lock(domain: string, ms: number): Promise<(() => Promise<void>) | undefined> {
    const name = validate.domain(domain);
    const token = randomBytes(8).toString('hex');
    const taken = await this.ctx.redis.set(this.ctx.keys.acmeLock(name), token, 'PX', ms, 'NX');
    if (taken !== 'OK') return undefined;
    return async () => {
      await unlock.run(this.ctx, [name, token]);
    };
  }

  private async write(
    domain: string,
    mode: 'replace' | 'patch',
    platform: boolean,
    input: CertPatch,
  ): Promise<CertMeta> {
    const values: Record<string, string | null> = {};
    for (const name of FIELDS) {
      const value = input[name];
      if (value !== undefined) values[name] = field(name, value);
      else if (mode === 'replace') values[name] = null;
    }
    if (mode === 'replace' && values.source == null)
      invalid('certificate source', '', 'it is required');
    const set = toFields(values);
    const cleared = Object.keys(values).filter((name) => values[name] === null);
    if (cleared.includes('source')) invalid('certificate source', '', 'it cannot be cleared');
    const args = [domain, mode, platform ? '1' : '0', set.length / 2, ...set, ...cleared];
    const [hash] = await write.run(this.ctx, args);
    return this.parse(domain, pairsToObject(hash));
  }

  private parse(domain: string, hash: Record<string, string>): CertMeta {
    const key = this.ctx.keys.cert(domain);
    const meta = decode(CertMetaSchema, key, hash);
    if (meta.domain !== domain) {
      throw new BerthError('BERTH_E_STORE_CORRUPT', { key, reason: `holds domain ${meta.domain}` });
    }
    return meta;
  }
}
