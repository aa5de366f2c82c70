// What an app's bare git repository takes on disk, for the disk quota
// (services/core/store/quotas.ts, push-quota.ts). Counted as `du` counts:
// the blocks allocated to every file and directory (st_blocks), each inode
// once, symbolic links not followed, so the figure is what the repository
// takes from the file system, not its files' apparent length.
import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Store } from '../../core/store/index.ts';
import { type RepoPaths, repoDir } from './repos.ts';

/** Entries of a directory statted at once; a repository's objects/xx folders hold a few hundred. */
const BATCH = 64;

const gone = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/** Bytes allocated under `dir` (0 when it does not exist), as `du -s -B1 dir` reports them. */
export async function diskUsage(dir: string): Promise<number> {
  const seen = new Set<string>();
  let bytes = 0;
  const count = async (p: string): Promise<boolean> => {
    const st = await lstat(p).catch((e: unknown) => {
      // git removes files as it works (a quarantine, a repack): gone is nothing.
      if (gone(e)) return undefined;
      throw e;
    });
    if (st === undefined) return false;
    const inode = `${st.dev}:${st.ino}`;
    if (seen.has(inode)) return false;
    seen.add(inode);
    bytes += st.blocks * 512;
    return st.isDirectory();
  };
  if (!(await count(dir))) return bytes;
  const dirs = [dir];
  for (let next = dirs.pop(); next !== undefined; next = dirs.pop()) {
    let entries: Dirent[];
    try {
      entries = await readdir(next, { withFileTypes: true });
    } catch (e) {
      if (gone(e)) continue;
      throw e;
    }
    for (let i = 0; i < entries.length; i += BATCH) {
      const batch = entries.slice(i, i + BATCH).map((e) => path.join(next, e.name));
      const isDir = await Promise.all(batch.map(count));
      batch.forEach((p, j) => {
        if (isDir[j]) dirs.push(p);
      });
    }
  }
  return bytes;
}

/** Measures the app's repository and records the figure for its owner's disk quota; returns it. */
export async function recordRepoUsage(
  store: Store,
  paths: RepoPaths,
  app: string,
): Promise<number> {
  const bytes = await diskUsage(repoDir(paths, app));
  await store.quotas.recordRepoBytes(app, bytes);
  return bytes;
}
