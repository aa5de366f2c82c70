// Scheduled backups (BERTH_BACKUP_DIR, BERTH_BACKUP_SCHEDULE, BERTH_BACKUP_KEEP),
// run by the builder service beside its reconciler. Each archive is written
// to a hidden temporary file (mode 0600: it holds keys and config secrets),
// flushed, then renamed into place, so the folder only ever shows whole
// backups; then the oldest beyond BERTH_BACKUP_KEEP go. The next run is
// timed from the newest archive in the folder, so a restarted builder
// neither skips a day nor takes two backups in a row.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { errorLine } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { DataPaths } from '../../core/paths.ts';
import { writeBackup } from './backup.ts';

export const BACKUP_FILE = /^berth-backup-\d{8}T\d{6}Z\.tar\.gz$/;
/** A failed run is tried again after this, or the interval when shorter. */
const RETRY_MS = 3_600_000;
/** The first backup of a folder with none: shortly after start, not at once. */
const FIRST_DELAY_MS = 60_000;

export interface BackupSchedule {
  stop(): void;
}

export interface ScheduleDeps {
  redis: Redis;
  config: Config;
  paths: DataPaths;
  searchPath: string;
  log: Logger;
  docker: Docker;
  /** The folder, the interval and how many to keep (config.backup, or a test's). */
  dir: string;
  intervalMs: number;
  keep: number;
}

const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

async function archives(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => BACKUP_FILE.test(n)).sort();
}

/** One scheduled backup: written aside, renamed into place, the oldest pruned. Returns its path. */
export async function runScheduledBackup(d: ScheduleDeps): Promise<string> {
  await mkdir(d.dir, { recursive: true, mode: 0o700 });
  const name = `berth-backup-${stamp(new Date())}.tar.gz`;
  const tmp = path.join(d.dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
  const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
  try {
    await once(out, 'open');
    await writeBackup(
      {
        redis: d.redis,
        config: d.config,
        paths: d.paths,
        searchPath: d.searchPath,
        progress: (line) => d.log.debug(line),
        docker: d.docker,
      },
      out,
    );
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.end(() => resolve());
    });
    // On the disk before its name says it is whole.
    const handle = await open(tmp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path.join(d.dir, name));
  } catch (e) {
    out.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
  const all = await archives(d.dir);
  for (const old of all.slice(0, Math.max(0, all.length - d.keep))) {
    await rm(path.join(d.dir, old), { force: true });
  }
  return path.join(d.dir, name);
}

export function startBackupSchedule(d: ScheduleDeps): BackupSchedule {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const plan = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => void runOnce(), Math.max(0, ms));
    timer.unref();
  };
  const runOnce = async () => {
    try {
      const file = await runScheduledBackup(d);
      const { size } = await stat(file);
      d.log.info({ file, bytes: size }, 'backup written');
      plan(d.intervalMs);
    } catch (e) {
      d.log.error({ err: e, dir: d.dir }, `scheduled backup failed: ${errorLine(e)}`);
      plan(Math.min(d.intervalMs, RETRY_MS));
    }
  };
  void (async () => {
    const newest = (await archives(d.dir).catch(() => [])).at(-1);
    const at = newest ? (await stat(path.join(d.dir, newest))).mtimeMs + d.intervalMs : undefined;
    plan(at === undefined ? FIRST_DELAY_MS : at - Date.now());
  })().catch(() => plan(FIRST_DELAY_MS));
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
