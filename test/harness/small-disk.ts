// A small file system of the test's own, to fill up: a loop-mounted ext4
// image (a real disk's ENOSPC: reserved blocks, directory blocks, the
// journal), or a tmpfs where loop devices are not available. Needs root.
import { execFile } from 'node:child_process';
import { mkdir, open, rm, rmdir, statfs } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SmallDisk {
  /** Where it is mounted. */
  dir: string;
  kind: 'ext4' | 'tmpfs';
  /** Fills every free block with one file (FILLER); resolves with the bytes written. */
  fill(): Promise<number>;
  /** Removes the filler: the space is back. */
  free(): Promise<void>;
  /** Bytes free for root now. */
  freeBytes(): Promise<number>;
  /** Unmounts and removes the image; safe to call twice. */
  remove(): Promise<void>;
}

const FILLER = '.disk-filler';

/**
 * Mounts a `sizeMb` file system at `<parent>/disk`; rejects with why when
 * neither a loop device nor a tmpfs can be mounted here (not root, no
 * privileges in a container).
 */
export async function mountSmallDisk(parent: string, sizeMb: number): Promise<SmallDisk> {
  const dir = path.join(parent, 'disk');
  const image = path.join(parent, 'disk.ext4');
  await mkdir(dir, { recursive: true });
  let kind: SmallDisk['kind'];
  const failures: string[] = [];
  try {
    await run('truncate', ['-s', `${sizeMb}M`, image]);
    await run('mkfs.ext4', ['-q', '-F', image]);
    await run('mount', ['-o', 'loop', image, dir]);
    kind = 'ext4';
  } catch (e) {
    failures.push(`ext4 on a loop device: ${(e as Error).message.trim()}`);
    await rm(image, { force: true });
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir]);
      kind = 'tmpfs';
    } catch (e2) {
      failures.push(`tmpfs: ${(e2 as Error).message.trim()}`);
      throw new Error(`cannot mount a small file system here (${failures.join('; ')})`);
    }
  }
  let mounted = true;
  const filler = path.join(dir, FILLER);
  return {
    dir,
    kind,
    async fill() {
      const file = await open(filler, 'a');
      let written = 0;
      try {
        // Big blocks, then ever smaller ones, until not one more byte fits.
        for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
          const block = Buffer.alloc(size, 0x5a);
          for (;;) {
            try {
              const { bytesWritten } = await file.write(block);
              written += bytesWritten;
              if (bytesWritten < size) break;
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
              break;
            }
          }
        }
        await file.sync().catch(() => {});
      } finally {
        await file.close().catch(() => {});
      }
      return written;
    },
    async free() {
      await rm(filler, { force: true });
    },
    async freeBytes() {
      const s = await statfs(dir);
      return s.bfree * s.bsize;
    },
    async remove() {
      if (mounted) {
        // A process that still holds a file there (a Redis being killed) keeps it busy a moment.
        for (let attempt = 0; ; attempt++) {
          try {
            await run('umount', [dir]);
            break;
          } catch {
            if (attempt >= 20) {
              await run('umount', ['-l', dir]).catch(() => {});
              break;
            }
            await sleep(250);
          }
        }
        mounted = false;
      }
      await rm(image, { force: true });
      await rmdir(dir).catch(() => {});
    },
  };
}
