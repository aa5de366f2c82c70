// The data directory: checked before anything is written, so a directory
// Berth cannot use stops start-up with one line and leaves nothing behind.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../../services/core/errors.ts';
import { DATA_LAYOUT, type DataPaths, dataPaths } from '../../services/core/paths.ts';

const unusable = (dir: string, reason: string, cause?: unknown) =>
  new BerthError('BERTH_E_DATA_DIR', { path: dir, reason }, { cause });

function describe(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a directory';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return (e as Error).message ?? String(e);
  }
}

/** Writes and removes a probe file: the only honest test of writability (root ignores modes). */
async function probeWritable(dir: string): Promise<void> {
  const probe = path.join(dir, `.berth-probe-${randomBytes(4).toString('hex')}`);
  const handle = await open(probe, 'wx', 0o600);
  await handle.close();
  await rm(probe, { force: true });
}

/** The deepest ancestor of `dir` that exists (dir itself when it does). */
async function existingAncestor(dir: string): Promise<{ at: string; isDir: boolean }> {
  let at = dir;
  for (;;) {
    try {
      const s = await stat(at);
      return { at, isDir: s.isDirectory() };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw unusable(dir, describe(e), e);
      const parent = path.dirname(at);
      if (parent === at) throw unusable(dir, 'no part of the path exists');
      at = parent;
    }
  }
}

/** Checks the data directory, then creates it and its layout. */
export async function prepareDataDir(root: string): Promise<DataPaths> {
  const { at, isDir } = await existingAncestor(root);
  if (!isDir) {
    throw unusable(
      root,
      at === root ? 'it is a file, not a directory' : `${at} is a file, not a directory`,
    );
  }
  try {
    await probeWritable(at);
  } catch (e) {
    throw unusable(root, `${at === root ? 'it' : at} is not writable: ${describe(e)}`, e);
  }
  const paths = dataPaths(root);
  const firstCreated = await mkdir(root, { recursive: true, mode: 0o750 }).catch((e: unknown) => {
    throw unusable(root, describe(e), e);
  });
  try {
    for (const key of Object.keys(DATA_LAYOUT) as (keyof typeof DATA_LAYOUT)[]) {
      await mkdir(paths[key], { recursive: true, mode: 0o750 });
    }
  } catch (e) {
    // Leave the disk as it was: remove what this call created.
    if (firstCreated !== undefined) await rm(firstCreated, { recursive: true, force: true });
    throw unusable(root, describe(e), e);
  }
  return paths;
}
