// A full disk, said one way wherever it shows (issue 17, item 6): ENOSPC or
// EDQUOT from the file system, and Redis refusing writes because it cannot
// write its append-only file (MISCONF), both become BERTH_E_DISK_FULL, which
// names the directory and says what to do. Nothing is changed by a command
// that fails so: Redis refuses the whole write, and a push is refused before
// git writes anything.
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, isBerthError } from './errors.ts';

/**
 * Below this much free space, work that writes (a push: its objects, its
 * build log, its release in Redis) is refused before it starts, rather than
 * failing half-way with git's or Redis's own words.
 */
export const MIN_FREE_BYTES = 8 * 1024 * 1024;

const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** An error of the file system saying there is no room (or no quota) left. */
export function isNoSpace(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && NO_SPACE_CODES.has(code);
}

/**
 * Redis refusing a write because it cannot write its files for lack of room:
 * "MISCONF Errors writing to the AOF file: No space left on device" (also
 * inside a script's error). Other MISCONF reasons (a failed RDB snapshot, a
 * permission) are not a full disk and keep Redis's own words.
 */
export function isRedisDiskFull(e: unknown): boolean {
  const message = e instanceof Error ? e.message : '';
  return /MISCONF/.test(message) && /No space left on device|Disk quota exceeded/i.test(message);
}

export function diskFullError(where: string, what: string, cause?: unknown): BerthError {
  return new BerthError('BERTH_E_DISK_FULL', { where, what }, { cause });
}

/**
 * The registry's error for a failure a full disk caused, found on `e` or its
 * causes; `e` itself otherwise. `redisDir` is where the Redis keeps its files
 * (connectRedis asks it), for the line to name.
 */
export function explainDiskFull(e: unknown, redisDir: string | undefined): unknown {
  if (isBerthError(e)) return e;
  const redis = findCause(e, isRedisDiskFull);
  if (redis !== undefined) {
    return diskFullError(
      redisDir ?? "Redis's data directory (redis-cli CONFIG GET dir)",
      'Redis cannot write its append-only file, so it takes no change; nothing was changed',
      redis,
    );
  }
  const file = findCause(e, isNoSpace);
  if (file !== undefined) {
    const where = (file as NodeJS.ErrnoException).path ?? 'the data directory';
    return diskFullError(where, 'a file could not be written', file);
  }
  return e;
}

/** True when a full disk under Redis caused `e` (then its directory is worth asking for). */
export const redisDiskFullCaused = (e: unknown): boolean =>
  !isBerthError(e) && findCause(e, isRedisDiskFull) !== undefined;

/** `e` or the first of its causes that passes `test`. */
function findCause(e: unknown, test: (e: unknown) => boolean): unknown {
  for (let at: unknown = e, depth = 0; at != null && depth < 5; depth++) {
    if (test(at)) return at;
    at = (at as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Bytes this process may still write under `dir` (root may use the blocks
 * ext4 keeps for it). A `dir` not made yet (an app's first push makes
 * repos/) is on the disk of its nearest existing parent.
 */
export async function freeBytes(dir: string): Promise<number> {
  let at = path.resolve(dir);
  let s = await statfs(at).catch((e: NodeJS.ErrnoException) => e);
  while (s instanceof Error && s.code === 'ENOENT' && path.dirname(at) !== at) {
    at = path.dirname(at);
    s = await statfs(at).catch((e: NodeJS.ErrnoException) => e);
  }
  if (s instanceof Error) throw s;
  const blocks = process.getuid?.() === 0 ? s.bfree : s.bavail;
  return blocks * s.bsize;
}

/**
 * BERTH_E_DISK_FULL when the disk of `dir` has less than MIN_FREE_BYTES free:
 * `what` is what would have been written (such as "a push").
 */
export async function requireFreeSpace(dir: string, what: string): Promise<void> {
  const free = await freeBytes(dir);
  if (free >= MIN_FREE_BYTES) return;
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;
  throw diskFullError(dir, `${mb(free)} free, too little to take ${what}; nothing was changed`);
}
