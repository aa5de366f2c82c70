// Scheduled datastore backups (postgres:backup-schedule, backup-unschedule,
// backup-schedule-cat) and each service's backup settings, run by the job
// queue as app.json cron is (../release/cron.ts):
//
// Settings hash `P datastore-backup:<kind>:<name>`: `schedule` (the cron
//          pattern, UTC), `bucket` (the S3 bucket scheduled backups go to;
//          absent: the data directory), `keep` (backups kept; absent:
//          BERTH_DATASTORE_BACKUP_KEEP), `passphrase` (backup-set-encryption:
//          what backups sent to S3 are encrypted with), `last` (JSON of the
//          last scheduled run: at, status, id or error). In the platform's
//          backup with the rest of the state; removed with the service.
// Queue    BullMQ queue `datastore-backup` (prefix `P bull`), one job
//          scheduler per scheduled service, id `<kind>/<name>`, job data
//          { kind, name }. Made from the hashes at every schedule change and
//          at the builder's start (the queue is not in a platform backup, the
//          hash is); one already right is left alone, so a run missed while
//          Berth was down is run once when the builder is back.
// Worker   in the builder (startDatastoreBackupWorker): the backup of
//          ./backups.ts, then the oldest beyond `keep` go.
// bullmq's values are imported where a queue or worker is made: the ssh
// process loads this module for the backup commands, and loads BullMQ only
// when one of them needs the queue (issue 17).
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { DatastoreS3 } from '../../core/config.ts';
import { BerthError, errorLine } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { Datastore, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { queuePrefix } from '../build/queue.ts';
import { type BackupDeps, takeBackup } from './backups.ts';
import type { DatastoreKind } from './kind.ts';
import { KINDS, kindNamed } from './kinds.ts';
import type { Bucket } from './s3.ts';

export const BACKUP_QUEUE = 'datastore-backup';
const BACKUP_JOB = 'backup' as const;
export type BackupJob = { kind: string; name: string };
type BackupQueue = Queue<BackupJob, void, string>;

export interface LastRun {
  at: string;
  status: 'succeeded' | 'failed';
  id?: string;
  error?: string;
}

export interface BackupSettings {
  schedule?: string;
  /** The bucket scheduled backups go to (none: the data directory). */
  bucket?: string;
  keep?: number;
  /** A passphrase is set (backup-set-encryption); the passphrase itself is only read by passphraseOf. */
  encrypted: boolean;
  last?: LastRun;
}

export const settingsKey = (prefix: string, kind: string, name: string) =>
  `${prefix}datastore-backup:${kind}:${name}`;
const schedulerId = (kind: string, name: string) => `${kind}/${name}`;

export async function backupQueue(connection: Redis, redisPrefix: string): Promise<BackupQueue> {
  const { Queue } = await import('bullmq');
  return new Queue<BackupJob, void, string>(BACKUP_QUEUE, {
    connection,
    prefix: queuePrefix(redisPrefix),
  });
}

async function withQueue<T>(store: Store, fn: (q: BackupQueue) => Promise<T>): Promise<T> {
  const queue = await backupQueue(store.redis, store.keys.prefix);
  try {
    return await fn(queue);
  } finally {
    await queue.close();
  }
}

export async function backupSettings(
  store: Store,
  ds: Pick<Datastore, 'kind' | 'name'>,
): Promise<BackupSettings> {
  const h = await store.redis.hgetall(settingsKey(store.keys.prefix, ds.kind, ds.name));
  return {
    ...(h.schedule ? { schedule: h.schedule } : {}),
    ...(h.bucket ? { bucket: h.bucket } : {}),
    ...(h.keep ? { keep: Number(h.keep) } : {}),
    encrypted: Boolean(h.passphrase),
    ...(h.last ? { last: JSON.parse(h.last) as LastRun } : {}),
  };
}

/** The service's backup passphrase (backup-set-encryption); BERTH_E_DATASTORE_NO_PASSPHRASE without one. */
export async function passphraseOf(
  store: Store,
  kind: DatastoreKind,
  ds: Pick<Datastore, 'kind' | 'name'>,
): Promise<string> {
  const p = await store.redis.hget(settingsKey(store.keys.prefix, ds.kind, ds.name), 'passphrase');
  if (!p) {
    throw new BerthError('BERTH_E_DATASTORE_NO_PASSPHRASE', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
    });
  }
  return p;
}

/** backup-set-encryption (checked by validate.backupPassphrase first) and backup-unset-encryption. */
export async function setPassphrase(
  store: Store,
  ds: Pick<Datastore, 'kind' | 'name'>,
  passphrase: string | undefined,
) {
  const key = settingsKey(store.keys.prefix, ds.kind, ds.name);
  if (passphrase === undefined) await store.redis.hdel(key, 'passphrase');
  else await store.redis.hset(key, 'passphrase', validate.backupPassphrase(passphrase));
}

/** The bucket a command named, with the operator's endpoint; BERTH_E_DATASTORE_NO_ENDPOINT without one. */
export function bucketOf(
  s3: DatastoreS3 | undefined,
  kind: DatastoreKind,
  ds: Pick<Datastore, 'name'>,
  name: string,
): Bucket {
  const checked = validate.s3Bucket(name);
  if (!s3)
    throw new BerthError('BERTH_E_DATASTORE_NO_ENDPOINT', { kind: kind.name, name: ds.name });
  return { s3, name: checked };
}

/** How many backups a service keeps: its own setting, else BERTH_DATASTORE_BACKUP_KEEP. */
export async function keepOf(store: Store, ds: Datastore, fallback: number): Promise<number> {
  return (await backupSettings(store, ds)).keep ?? fallback;
}

/** A count of backups to keep, as given (backup-set-keep): 1 to 999. */
export function keepCount(value: string): number {
  if (!/^[1-9][0-9]{0,2}$/.test(value)) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `keep "${value.slice(0, 20)}" is not a number of backups from 1 to 999`,
    });
  }
  return Number(value);
}

export async function setKeep(store: Store, ds: Datastore, keep: number | undefined) {
  const key = settingsKey(store.keys.prefix, ds.kind, ds.name);
  if (keep === undefined) await store.redis.hdel(key, 'keep');
  else await store.redis.hset(key, 'keep', String(keep));
}

/**
 * backup-schedule: the pattern checked (validate.cronSchedule; seconds only
 * with BERTH_CRON_SECONDS=on) before anything changes, recorded, and the
 * job scheduler made. Returns the pattern as kept.
 */
export async function scheduleBackups(
  store: Store,
  ds: Datastore,
  schedule: string,
  o: { seconds: boolean; bucket?: string | undefined },
): Promise<string> {
  const pattern = validate.cronSchedule(schedule, { seconds: o.seconds });
  const key = settingsKey(store.keys.prefix, ds.kind, ds.name);
  if (o.bucket === undefined) await store.redis.hdel(key, 'bucket');
  else await store.redis.hset(key, 'bucket', validate.s3Bucket(o.bucket));
  await store.redis.hset(key, 'schedule', pattern);
  await syncBackupSchedule(store, ds);
  return pattern;
}

/** backup-unschedule: no more scheduled backups (those taken stay). */
export async function unscheduleBackups(store: Store, ds: Pick<Datastore, 'kind' | 'name'>) {
  await store.redis.hdel(settingsKey(store.keys.prefix, ds.kind, ds.name), 'schedule');
  await syncBackupSchedule(store, ds);
}

/** The service's job scheduler made what its settings say (none when the service is gone). */
export async function syncBackupSchedule(store: Store, ds: Pick<Datastore, 'kind' | 'name'>) {
  const exists = await store.datastores.get(ds.kind as DatastoreKind['name'], ds.name);
  const { schedule } = exists ? await backupSettings(store, ds) : {};
  await withQueue(store, async (queue) => {
    const id = schedulerId(ds.kind, ds.name);
    const have = (await queue.getJobSchedulers(0, -1)).find((s) => s.key === id);
    if (schedule === undefined) {
      if (have) await queue.removeJobScheduler(id);
      return;
    }
    // One already right is left alone: upserting would move a missed run to the next slot.
    if (have?.pattern === schedule) return;
    await queue.upsertJobScheduler(
      id,
      { pattern: schedule, tz: 'UTC' },
      {
        name: BACKUP_JOB,
        data: { kind: ds.kind, name: ds.name },
        opts: { removeOnComplete: true, removeOnFail: true },
      },
    );
  });
}

/** When the service's next scheduled backup runs (none: not scheduled). */
export async function nextBackup(store: Store, ds: Pick<Datastore, 'kind' | 'name'>) {
  return withQueue(store, async (queue) => {
    const s = (await queue.getJobSchedulers(0, -1)).find(
      (j) => j.key === schedulerId(ds.kind, ds.name),
    );
    return s?.next ? new Date(s.next).toISOString() : undefined;
  });
}

/** Every service's schedule made right, those of services gone removed (the builder's start). */
export async function syncAllBackupSchedules(store: Store, log: Logger): Promise<void> {
  const services = (await Promise.all(KINDS.map((k) => store.datastores.list(k.name)))).flat();
  const ids = new Set(services.map((s) => schedulerId(s.kind, s.name)));
  await withQueue(store, async (queue) => {
    for (const s of await queue.getJobSchedulers(0, -1)) {
      if (!ids.has(s.key)) await queue.removeJobScheduler(s.key);
    }
  });
  for (const ds of services) {
    await syncBackupSchedule(store, ds).catch((e) =>
      log.warn({ err: e, datastore: `${ds.kind}/${ds.name}` }, 'datastore backup schedule'),
    );
  }
}

/** The service's settings go with it (destroy), and its schedule. */
export async function removeBackupSettings(store: Store, ds: Pick<Datastore, 'kind' | 'name'>) {
  await store.redis.del(settingsKey(store.keys.prefix, ds.kind, ds.name));
  await syncBackupSchedule(store, ds);
}

export interface BackupWorkerOptions extends BackupDeps {
  connection: Redis;
  store: Store;
  log: Logger;
  /** BERTH_DATASTORE_BACKUP_KEEP. */
  keep: number;
  /** BERTH_DATASTORE_S3_*, for services scheduled to a bucket. */
  s3?: DatastoreS3 | undefined;
}

/** The builder's worker: each due scheduled backup, one service at a time per kind of work. */
export async function startDatastoreBackupWorker(
  o: BackupWorkerOptions,
): Promise<{ close(): Promise<void> }> {
  const { Worker } = await import('bullmq');
  const { store, log } = o;
  const stopping = new AbortController();
  const worker = new Worker<BackupJob, void, string>(
    BACKUP_QUEUE,
    async (job) => {
      const kind = kindNamed(job.data.kind);
      const name = validate.datastoreName(job.data.name);
      const ds = await store.datastores.get(kind.name, name);
      if (!ds) {
        // Destroyed since it was scheduled.
        await syncBackupSchedule(store, { kind: kind.name, name });
        return;
      }
      const key = settingsKey(store.keys.prefix, kind.name, name);
      // Unscheduled since this run was queued: the settings say, not the queue.
      if ((await backupSettings(store, ds)).schedule === undefined) {
        await syncBackupSchedule(store, ds);
        return;
      }
      const at = new Date().toISOString();
      try {
        const settings = await backupSettings(store, ds);
        const keep = settings.keep ?? o.keep;
        const backup =
          settings.bucket === undefined
            ? await takeBackup(o, kind, ds, { keep, trigger: 'schedule', signal: stopping.signal })
            : await (await import('./backups-s3.ts')).takeS3Backup(o, kind, ds, {
                bucket: bucketOf(o.s3, kind, ds, settings.bucket),
                passphrase: await passphraseOf(store, kind, ds),
                keep,
                trigger: 'schedule',
                signal: stopping.signal,
              });
        await store.redis.hset(
          key,
          'last',
          JSON.stringify({ at, status: 'succeeded', id: backup.id } satisfies LastRun),
        );
        log.info(
          { datastore: `${kind.name}/${name}`, id: backup.id, bytes: backup.size },
          'datastore backup written',
        );
      } catch (e) {
        await store.redis.hset(
          key,
          'last',
          JSON.stringify({
            at,
            status: 'failed',
            error: errorLine(e).slice(0, 300),
          } satisfies LastRun),
        );
        log.error(
          { err: e, datastore: `${kind.name}/${name}` },
          `scheduled datastore backup failed: ${errorLine(e)}`,
        );
      }
    },
    {
      connection: o.connection,
      prefix: queuePrefix(store.keys.prefix),
      concurrency: 2,
    },
  );
  worker.on('error', (e) => log.warn({ err: e }, 'datastore backup worker'));
  return {
    async close() {
      stopping.abort();
      await worker.close();
    },
  };
}
