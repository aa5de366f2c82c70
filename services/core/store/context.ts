// What every repository shares: the connection, the key layout and the clock.
import type { ChainableCommander, Redis } from 'ioredis';
import type { QuotaDefaults } from '../config.ts';
import type { KeyLayout } from './keys.ts';

export interface StoreContext {
  readonly redis: Redis;
  readonly keys: KeyLayout;
  /** The clock for createdAt and friends; tests may pin it. */
  readonly now: () => Date;
  /**
   * What users may have where an admin set nothing of their own
   * (BERTH_QUOTA_*); absent: no default caps, only those set per user.
   */
  readonly quotas?: QuotaDefaults;
}

/** Runs a MULTI (one consistent snapshot for reads) and returns each reply, throwing the first error. */
export async function execAll(multi: ChainableCommander): Promise<unknown[]> {
  const replies = await multi.exec();
  // exec() gives null only when a WATCHed key changed; the store does not WATCH.
  if (replies === null) throw new Error('Redis discarded a MULTI the store did not WATCH');
  return replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

/** An HGETALL reply as Lua returns it (flat [field, value, ...]) as an object. */
export function pairsToObject(flat: unknown): Record<string, string> {
  const list = Array.isArray(flat) ? flat : [];
  const object: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) object[String(list[i])] = String(list[i + 1]);
  return object;
}

/** True when HGETALL found nothing: the record does not exist. */
export const isEmpty = (hash: Record<string, string>): boolean => Object.keys(hash).length === 0;
