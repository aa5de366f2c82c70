// Writing a file so that it survives a power cut once the call returns: the
// data is fsync'ed before the rename that puts it in place, and the folder
// after it, since a rename lives in the folder and the page cache holds
// both until the kernel writes them back (seconds later). Berth records
// such a file in Redis right after writing it and then acknowledges; without the fsyncs, a power cut in between left Redis naming
// a file that was gone (issue 17, item 3: a certificate added with certs:add).
// The rename is what a reader sees change: never half a file.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** Replaces `file` with `data` (mode `mode`), durably; a reader sees the old or the new file. */
export async function writeFileDurably(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(path.dirname(file));
}

/** Makes the folder's entries (a file created, renamed or removed in it) durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
