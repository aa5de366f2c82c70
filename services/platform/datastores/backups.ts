// A datastore's backups (postgres:backup, backup-list, restore): the kind's
// dump (kind.ts dumpCommand, run with `docker exec` in the server's own
// container, so the server keeps serving: pg_dump reads one snapshot and
// takes no lock that blocks the app's reads or writes), kept as files
//
//   $BERTH_DATA_DIR/backups/datastores/<kind>/<name>/<id>.dump
//   $BERTH_DATA_DIR/backups/datastores/<kind>/<name>/<id>.json
//
// where <id> is the time it was taken (20261207T212500123Z) and the .json
// records its size, SHA-256 and how long it took. The dump is written to a
// hidden temporary file, fsync'ed, renamed into place and its folder
// fsync'ed, then its record written the same way
// (services/core/durable-file.ts): a dump with no record is one that was
// cut short, and is neither listed nor restored. Every kind's dump and
// restore go through the same two commands, so this file knows no kind.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { syncDir, writeFileDurably } from '../../core/durable-file.ts';
import { BerthError, errorLine } from '../../core/errors.ts';
import type { Datastore } from '../../core/store/index.ts';
import { exportDatastore, importDatastore } from './data.ts';
import type { DatastoreKind } from './kind.ts';
import type { EngineDeps } from './server.ts';

/** A backup's id: the UTC time it was taken, to the millisecond. */
export const BACKUP_ID = /^[0-9]{8}T[0-9]{9}Z$/;

export interface DatastoreBackup {
  id: string;
  kind: string;
  name: string;
  /** The server's version when it was taken. */
  version: string;
  /** The dump's bytes and their SHA-256, checked again before a restore. */
  size: number;
  sha256: string;
  createdAt: string;
  durationMs: number;
  /** What it was taken by: a command, the schedule, or a platform backup. */
  trigger: 'backup' | 'schedule';
}

export interface BackupDeps extends EngineDeps {
  /** BERTH_DATA_DIR. */
  dataDir: string;
}

/** The folder of a datastore's backups. */
export const backupsDir = (dataDir: string, kind: string, name: string) =>
  path.join(dataDir, 'backups', 'datastores', kind, name);

const idOf = (d: Date) => d.toISOString().replace(/[-:.]/g, '');
/** A backup id for now (one in a bucket: a bucket has no folder to check for one taken the same millisecond). */
export const newBackupId = () => idOf(new Date());

/** A backup id as a person gives it: BERTH_E_DATASTORE_BACKUP_NOT_FOUND unless it is one. */
export function backupIdOf(kind: DatastoreKind, ds: Pick<Datastore, 'name'>, value: string) {
  if (!BACKUP_ID.test(value)) {
    throw new BerthError('BERTH_E_DATASTORE_BACKUP_NOT_FOUND', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
      id: JSON.stringify(value.slice(0, 40)).slice(1, -1),
    });
  }
  return value;
}

/** Every whole backup of the datastore, oldest first. */
export async function listBackups(
  dataDir: string,
  kind: DatastoreKind,
  ds: Pick<Datastore, 'name'>,
): Promise<DatastoreBackup[]> {
  const dir = backupsDir(dataDir, kind.name, ds.name);
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  });
  const found: DatastoreBackup[] = [];
  for (const n of names.sort()) {
    const id = n.slice(0, -'.json'.length);
    if (!n.endsWith('.json') || !BACKUP_ID.test(id) || !names.includes(`${id}.dump`)) continue;
    try {
      found.push(JSON.parse(await readFile(path.join(dir, n), 'utf8')) as DatastoreBackup);
    } catch {
      // A record that cannot be read names no backup Berth would restore.
    }
  }
  return found;
}

/** The backup `id` (checked), with its dump's path; BERTH_E_DATASTORE_BACKUP_NOT_FOUND. */
export async function findBackup(
  dataDir: string,
  kind: DatastoreKind,
  ds: Pick<Datastore, 'name'>,
  id: string,
): Promise<{ backup: DatastoreBackup; file: string }> {
  backupIdOf(kind, ds, id);
  const backup = (await listBackups(dataDir, kind, ds)).find((b) => b.id === id);
  if (!backup) {
    throw new BerthError('BERTH_E_DATASTORE_BACKUP_NOT_FOUND', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
      id,
    });
  }
  return { backup, file: path.join(backupsDir(dataDir, kind.name, ds.name), `${id}.dump`) };
}

/** The dump's size and SHA-256, as read from the disk. */
export async function hashFile(file: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}

/**
 * Writes the datastore's dump to `file`, durably (a temporary file beside
 * it, fsync'ed, renamed, the folder fsync'ed); its size and SHA-256. On
 * failure nothing is left. The platform backup uses it too.
 */
export async function dumpToFile(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Datastore,
  file: string,
  signal: AbortSignal,
): Promise<{ size: number; sha256: string }> {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`,
  );
  const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
  const hash = createHash('sha256');
  let size = 0;
  let failed: Error | undefined;
  out.on('error', (e) => {
    failed = e;
  });
  // demuxStream writes without waiting; the file stream buffers what the disk has not taken yet.
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      out.write(chunk);
      done();
    },
  });
  try {
    await exportDatastore(d, kind, ds, sink, signal);
    await new Promise<void>((resolve, reject) => {
      if (failed) reject(failed);
      out.once('error', reject);
      out.end(() => resolve());
    });
    if (size === 0) throw new Error('its dump was empty');
    const handle = await open(tmp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
    await syncDir(path.dirname(file));
    return { size, sha256: hash.digest('hex') };
  } catch (e) {
    out.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * backup: the datastore's dump into its folder, with its record; then the
 * oldest beyond `keep` go. BERTH_E_DATASTORE_BACKUP when the dump fails
 * (nothing is kept of it).
 */
export async function takeBackup(
  d: BackupDeps,
  kind: DatastoreKind,
  ds: Datastore,
  o: { keep: number; trigger: DatastoreBackup['trigger']; signal: AbortSignal },
): Promise<DatastoreBackup> {
  const dir = backupsDir(d.dataDir, kind.name, ds.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const at = new Date();
  let id = idOf(at);
  // Two backups in the same millisecond (a schedule and a command).
  while ((await readdir(dir)).some((n) => n.startsWith(`${id}.`))) {
    await new Promise((r) => setTimeout(r, 2));
    id = idOf(new Date());
  }
  const started = Date.now();
  let written: { size: number; sha256: string };
  try {
    written = await dumpToFile(d, kind, ds, path.join(dir, `${id}.dump`), o.signal);
  } catch (e) {
    if (e instanceof BerthError && e.code === 'BERTH_E_DATASTORE_STOPPED') throw e;
    throw new BerthError(
      'BERTH_E_DATASTORE_BACKUP',
      { title: kind.title, name: ds.name, kind: kind.name, reason: errorLine(e).slice(0, 400) },
      { cause: e },
    );
  }
  const backup: DatastoreBackup = {
    id,
    kind: kind.name,
    name: ds.name,
    version: ds.version,
    ...written,
    createdAt: at.toISOString(),
    durationMs: Date.now() - started,
    trigger: o.trigger,
  };
  await writeFileDurably(
    path.join(dir, `${id}.json`),
    `${JSON.stringify(backup, null, 2)}\n`,
    0o600,
  );
  await pruneBackups(d.dataDir, kind, ds, o.keep);
  return backup;
}

/** Removes the oldest backups beyond the newest `keep`; the ids removed. */
export async function pruneBackups(
  dataDir: string,
  kind: DatastoreKind,
  ds: Pick<Datastore, 'name'>,
  keep: number,
): Promise<string[]> {
  const all = await listBackups(dataDir, kind, ds);
  const old = all.slice(0, Math.max(0, all.length - keep)).map((b) => b.id);
  const dir = backupsDir(dataDir, kind.name, ds.name);
  for (const id of old) {
    // The record first: a dump without one is never listed, even if the second rm fails.
    await rm(path.join(dir, `${id}.json`), { force: true });
    await rm(path.join(dir, `${id}.dump`), { force: true });
  }
  if (old.length > 0) await syncDir(dir);
  return old;
}

/**
 * restore: backup `id` into the running datastore, through the kind's
 * restore (one transaction: a dump it cannot read changes nothing). The
 * dump is checked against its recorded size and SHA-256 first, so a file
 * damaged on the disk is refused before the datastore is touched.
 */
export async function restoreFromBackup(
  d: BackupDeps,
  kind: DatastoreKind,
  ds: Datastore,
  id: string,
  signal: AbortSignal,
): Promise<DatastoreBackup> {
  const { backup, file } = await findBackup(d.dataDir, kind, ds, id);
  await checkRecorded(kind, ds, backup, file);
  await importDatastore(d, kind, ds, createReadStream(file), signal);
  return backup;
}

/** BERTH_E_DATASTORE_BACKUP_BAD when the dump's bytes are not those recorded. */
export async function checkRecorded(
  kind: DatastoreKind,
  ds: Pick<Datastore, 'name'>,
  backup: DatastoreBackup,
  file: string,
): Promise<void> {
  const now = await hashFile(file);
  if (now.size !== backup.size || now.sha256 !== backup.sha256) {
    throw new BerthError('BERTH_E_DATASTORE_BACKUP_BAD', {
      id: backup.id,
      title: kind.title,
      name: ds.name,
      kind: kind.name,
      reason: `its dump is not the one recorded (${now.size} bytes where ${backup.size} were written, or its SHA-256 differs): damaged on the disk`,
    });
  }
}
