// Finding the programs Berth runs (dockerd, redis-server, mmdebstrap, apt-get).
import { access, constants } from 'node:fs/promises';
import path from 'node:path';

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * The user's PATH followed by the standard system directories: dockerd and
 * mmdebstrap live in sbin, which a non-login root shell's PATH may lack.
 */
export function systemSearchPath(pathVar: string | undefined): string {
  const dirs = (pathVar ?? '').split(path.delimiter).filter((d) => d !== '');
  for (const d of SYSTEM_DIRS) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(path.delimiter);
}

/** The first executable `name` in the search path's directories. */
export async function findProgram(name: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}
