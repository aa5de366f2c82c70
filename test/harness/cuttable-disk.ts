// A small ext4 file system (a file on a loop device) whose power can be cut:
// the kernel's shutdown ioctl with "do not flush the log" (EXT4_IOC_SHUTDOWN,
// EXT4_GOING_FLAGS_NOLOGFLUSH) stops every write at once, so what sat in the
// page cache and was never fsync'ed is lost, as at a power cut; kill -9 of
// every process loses nothing of the kind. The file system is then mounted
// again, as after the reboot. (Device-mapper's dm-flakey, the usual tool, is
// not in this machine's kernel.) Needs root.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The ioctl through python3 (Node.js has no ioctl); _IOR('X', 125, __u32), flag 2. */
const SHUTDOWN_NOLOGFLUSH = [
  'import fcntl, os, struct, sys',
  'fd = os.open(sys.argv[1], os.O_RDONLY)',
  'fcntl.ioctl(fd, 0x8004587D, struct.pack("I", 2))',
].join('\n');

export interface CuttableDisk {
  /** Where it is mounted. */
  dir: string;
  /**
   * Loses what was not fsync'ed, then mounts the file system again;
   * `whileDown` runs in between (kill what keeps files open there).
   */
  cut(whileDown?: () => Promise<void>): Promise<void>;
}

/** Made for the calling test, unmounted and removed when the file ends. */
export async function cuttableDisk(sizeMb = 32): Promise<CuttableDisk> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'berth-disk-'));
  const image = path.join(base, 'fs.img');
  const dir = path.join(base, 'mnt');
  await mkdir(dir);
  await run('truncate', ['-s', `${sizeMb}M`, image]);
  await run('mkfs.ext4', ['-q', '-F', image]);
  const mount = () => run('mount', ['-o', 'loop', image, dir]);
  await mount();
  after(async () => {
    await run('umount', [dir]).catch(() => run('umount', ['--lazy', dir]).catch(() => {}));
    await rm(base, { recursive: true, force: true });
  });
  return {
    dir,
    async cut(whileDown) {
      await run('python3', ['-c', SHUTDOWN_NOLOGFLUSH, dir]);
      await whileDown?.();
      // The reboot: a fresh mount, on a fresh loop device. Unmounting can
      // wait for a process that had a file open there, and the loop device
      // goes a moment after; a mount made before that got the shut-down file
      // system back (every write failed) and lost what had been fsync'ed.
      for (let attempt = 1; ; attempt++) {
        await retry(() => run('umount', [dir]));
        await retry(async () => {
          if ((await run('losetup', ['-j', image])).stdout.trim() !== '') throw new Error('busy');
        });
        await mount();
        const probe = path.join(dir, '.probe');
        const usable = await writeFile(probe, '').then(
          () => rm(probe),
          () => false,
        );
        if (usable !== false) return;
        if (attempt >= 5) throw new Error(`${dir}: still shut down after mounting again`);
      }
    },
  };
}

/** `f`, again every 100 ms while it fails, for at most 5 s. */
async function retry(f: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await f();
      return;
    } catch (e) {
      if (attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
