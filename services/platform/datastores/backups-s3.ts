// A datastore's backups in an S3 bucket (postgres:backup NAME BUCKET),
// always encrypted with the service's passphrase (backup-crypt.ts):
//
//   BUCKET/berth/datastores/<kind>/<name>/<id>.dump.enc   the encrypted dump
//   BUCKET/berth/datastores/<kind>/<name>/<id>.json       its record
//
// The record is written after the dump, so a dump without one (an upload
// cut short) is neither listed nor restored, as on the disk (backups.ts).
// The record holds the plaintext dump's size and SHA-256, checked after
// decryption: a restore fetches and decrypts into a temporary file beside
// the local backups first, so that a wrong passphrase, a damaged object or
// an endpoint gone mid-download changes nothing in the service, and then
// restores from that file as from a local backup. The same file is what
// --verify restores into a scratch server.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BerthError, errorLine } from '../../core/errors.ts';
import type { Datastore } from '../../core/store/index.ts';
import { DecryptError, decryptStream, encryptStream } from './backup-crypt.ts';
import {
  type BackupDeps,
  backupIdOf,
  backupsDir,
  checkRecorded,
  type DatastoreBackup,
  dumpToFile,
  newBackupId,
} from './backups.ts';
import { importDatastore } from './data.ts';
import type { DatastoreKind } from './kind.ts';
import {
  type Bucket,
  checkBucket,
  getStream,
  getTextIfAny,
  listKeys,
  putFile,
  putText,
  removeKey,
} from './s3.ts';

/** What the record of a backup in a bucket adds to a local one's. */
export interface S3Backup extends DatastoreBackup {
  bucket: string;
  /** The object's bytes, encrypted. */
  storedSize: number;
  encryption: 'scrypt+aes-256-gcm-stream';
}

export const s3Prefix = (kind: string, name: string) => `berth/datastores/${kind}/${name}/`;

/** A temporary file beside the service's local backups (its disk, mode 0600). */
async function scratchFile(dataDir: string, kind: DatastoreKind, ds: Pick<Datastore, 'name'>) {
  const dir = backupsDir(dataDir, kind.name, ds.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return (what: string) => path.join(dir, `.s3-${what}-${randomBytes(4).toString('hex')}.tmp`);
}

/** Every whole backup of the service in the bucket, oldest first. */
export async function listS3Backups(
  bucket: Bucket,
  kind: DatastoreKind,
  ds: Pick<Datastore, 'name'>,
  signal?: AbortSignal,
): Promise<S3Backup[]> {
  const prefix = s3Prefix(kind.name, ds.name);
  const keys = new Set((await listKeys(bucket, prefix, signal)).map((k) => k.key));
  const found: S3Backup[] = [];
  for (const key of [...keys].sort()) {
    const id = key.slice(prefix.length, -'.json'.length);
    if (!key.endsWith('.json') || !/^[0-9]{8}T[0-9]{9}Z$/.test(id)) continue;
    if (!keys.has(`${prefix}${id}.dump.enc`)) continue;
    try {
      // Gone since the listing: a retention prune (a scheduled backup's) took it.
      const text = await getTextIfAny(bucket, key, signal);
      if (text !== undefined) found.push(JSON.parse(text) as S3Backup);
    } catch (e) {
      if (e instanceof BerthError) throw e;
      // A record that cannot be read names no backup Berth would restore.
    }
  }
  return found;
}

/**
 * backup NAME BUCKET: the dump, encrypted with `passphrase`, into the
 * bucket with its record; then the oldest there beyond `keep` go. The
 * bucket is checked before the dump starts, so an endpoint that does not
 * answer fails in ANSWER_MS (s3.ts), not after a dump of the database.
 */
export async function takeS3Backup(
  d: BackupDeps,
  kind: DatastoreKind,
  ds: Datastore,
  o: {
    bucket: Bucket;
    passphrase: string;
    keep: number;
    trigger: DatastoreBackup['trigger'];
    signal: AbortSignal;
  },
): Promise<S3Backup> {
  await checkBucket(o.bucket, o.signal);
  const temp = await scratchFile(d.dataDir, kind, ds);
  const plain = temp('dump');
  const sealed = temp('enc');
  const id = newBackupId();
  const at = new Date();
  const started = Date.now();
  let uploaded: string | undefined;
  try {
    let written: { size: number; sha256: string };
    try {
      written = await dumpToFile(d, kind, ds, plain, o.signal);
    } catch (e) {
      if (e instanceof BerthError && e.code === 'BERTH_E_DATASTORE_STOPPED') throw e;
      throw new BerthError(
        'BERTH_E_DATASTORE_BACKUP',
        { title: kind.title, name: ds.name, kind: kind.name, reason: errorLine(e).slice(0, 400) },
        { cause: e },
      );
    }
    await pipeline(
      createReadStream(plain),
      await encryptStream(o.passphrase),
      createWriteStream(sealed, { flags: 'wx', mode: 0o600 }),
      { signal: o.signal },
    );
    await rm(plain, { force: true });
    const storedSize = (await stat(sealed)).size;
    const prefix = s3Prefix(kind.name, ds.name);
    uploaded = `${prefix}${id}.dump.enc`;
    await putFile(o.bucket, uploaded, sealed, storedSize, o.signal);
    const backup: S3Backup = {
      id,
      kind: kind.name,
      name: ds.name,
      version: ds.version,
      ...written,
      createdAt: at.toISOString(),
      durationMs: Date.now() - started,
      trigger: o.trigger,
      bucket: o.bucket.name,
      storedSize,
      encryption: 'scrypt+aes-256-gcm-stream',
    };
    await putText(
      o.bucket,
      `${prefix}${id}.json`,
      `${JSON.stringify(backup, null, 2)}\n`,
      o.signal,
    );
    uploaded = undefined;
    // Not cut by the signal: a prune stopped between a record and its dump leaves the dump behind.
    await pruneS3Backups(o.bucket, kind, ds, o.keep);
    return backup;
  } catch (e) {
    // A dump with no record is never listed, so nothing would ever remove it: it goes now.
    if (uploaded) await removeKey(o.bucket, uploaded).catch(() => {});
    throw e;
  } finally {
    await rm(plain, { force: true });
    await rm(sealed, { force: true });
  }
}

/** Removes the oldest backups in the bucket beyond the newest `keep`; the ids removed. */
export async function pruneS3Backups(
  bucket: Bucket,
  kind: DatastoreKind,
  ds: Pick<Datastore, 'name'>,
  keep: number,
  signal?: AbortSignal,
): Promise<string[]> {
  const all = await listS3Backups(bucket, kind, ds, signal);
  const old = all.slice(0, Math.max(0, all.length - keep)).map((b) => b.id);
  const prefix = s3Prefix(kind.name, ds.name);
  for (const id of old) {
    // The record first: a dump without one is never listed, even if the second call fails.
    await removeKey(bucket, `${prefix}${id}.json`, signal);
    await removeKey(bucket, `${prefix}${id}.dump.enc`, signal);
  }
  return old;
}

/**
 * Backup `id` from the bucket, decrypted into a temporary file and checked
 * against its record; the caller removes `file` (`done`). BERTH_E_DATASTORE_PASSPHRASE
 * for a wrong passphrase, BERTH_E_DATASTORE_BACKUP_BAD for damaged bytes.
 */
export async function fetchS3Backup(
  d: BackupDeps,
  kind: DatastoreKind,
  ds: Pick<Datastore, 'name'>,
  o: { bucket: Bucket; id: string; passphrase: string; signal: AbortSignal },
): Promise<{ backup: S3Backup; file: string; done: () => Promise<void> }> {
  backupIdOf(kind, ds, o.id);
  const backup = (await listS3Backups(o.bucket, kind, ds, o.signal)).find((b) => b.id === o.id);
  if (!backup) {
    throw new BerthError('BERTH_E_DATASTORE_BACKUP_NOT_FOUND', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
      id: o.id,
    });
  }
  const file = (await scratchFile(d.dataDir, kind, ds))('restore');
  const done = () => rm(file, { force: true });
  try {
    const body = await getStream(
      o.bucket,
      `${s3Prefix(kind.name, ds.name)}${o.id}.dump.enc`,
      o.signal,
    );
    await pipeline(
      body,
      decryptStream(o.passphrase),
      createWriteStream(file, { flags: 'wx', mode: 0o600 }),
      {
        signal: o.signal,
      },
    );
    await checkRecorded(kind, ds, backup, file);
    return { backup, file, done };
  } catch (e) {
    await done();
    if (e instanceof DecryptError) {
      if (e.wrongPassphrase) {
        throw new BerthError('BERTH_E_DATASTORE_PASSPHRASE', {
          id: o.id,
          title: kind.title,
          name: ds.name,
          kind: kind.name,
          reason: e.message,
        });
      }
      throw new BerthError('BERTH_E_DATASTORE_BACKUP_BAD', {
        id: o.id,
        title: kind.title,
        name: ds.name,
        kind: kind.name,
        reason: e.message,
      });
    }
    throw e;
  }
}

/** restore NAME ID BUCKET: fetched, decrypted and checked whole before the service is touched. */
export async function restoreFromS3(
  d: BackupDeps,
  kind: DatastoreKind,
  ds: Datastore,
  o: { bucket: Bucket; id: string; passphrase: string; signal: AbortSignal },
): Promise<S3Backup> {
  const { backup, file, done } = await fetchS3Backup(d, kind, ds, o);
  try {
    await importDatastore(d, kind, ds, createReadStream(file), o.signal);
    return backup;
  } finally {
    await done();
  }
}
