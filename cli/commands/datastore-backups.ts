// postgres:backup, backup-list, backup-schedule, backup-unschedule,
// backup-schedule-cat, backup-set-keep, backup-set-encryption,
// backup-unset-encryption and restore (Dokku's service-plugin grammar), made
// for each kind in services/platform/datastores/kinds.ts. Without a BUCKET
// a backup is a file under the data directory; with one it goes to that
// bucket on the operator's S3 endpoint (BERTH_DATASTORE_S3_*, where
// Dokku has backup-auth per service), encrypted with the service's
// passphrase, which it must have.
import { createDockerClient } from '../../services/core/docker.ts';
import { EXIT } from '../../services/core/errors.ts';
import {
  backupSettings,
  bucketOf,
  keepCount,
  nextBackup,
  passphraseOf,
  scheduleBackups,
  setKeep,
  setPassphrase,
  unscheduleBackups,
} from '../../services/platform/datastores/backup-schedule.ts';
import { verifyDump } from '../../services/platform/datastores/backup-verify.ts';
import {
  type BackupDeps,
  backupsDir,
  findBackup,
  listBackups,
  restoreFromBackup,
  takeBackup,
} from '../../services/platform/datastores/backups.ts';
import {
  fetchS3Backup,
  listS3Backups,
  restoreFromS3,
  takeS3Backup,
} from '../../services/platform/datastores/backups-s3.ts';
import { requireDatastore } from '../../services/platform/datastores/datastores.ts';
import type { DatastoreKind } from '../../services/platform/datastores/kind.ts';
import { KINDS } from '../../services/platform/datastores/kinds.ts';
import type { Command, CommandContext } from '../command.ts';
import { formatOf, json, table } from '../output.ts';

async function deps(ctx: CommandContext): Promise<BackupDeps> {
  const config = ctx.config();
  return {
    docker: await createDockerClient(config),
    ...(config.appNetworks ? { appNetworks: config.appNetworks } : {}),
    dataDir: config.dataDir,
  };
}

async function named(
  ctx: CommandContext,
  kind: DatastoreKind,
  name: string | undefined,
  action: 'read' | 'change',
) {
  return requireDatastore(await ctx.store(), ctx.actor, kind, name ?? '', action);
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function commandsFor(kind: DatastoreKind): Command[] {
  const k = kind.name;
  return [
    {
      name: `${k}:backup`,
      usage: 'NAME [BUCKET] [--verify]',
      summary: `a backup of the ${kind.title} service now, as its dump in ${'$BERTH_DATA_DIR'}/backups/datastores/${k}/NAME/, or with BUCKET in that bucket on the operator's S3 endpoint (BERTH_DATASTORE_S3_*), encrypted with the service's passphrase (${k}:backup-set-encryption); the service keeps serving while it runs; the oldest there beyond the service's keep (BERTH_DATASTORE_BACKUP_KEEP) go. --verify: then restore it into a scratch server of the same image (no network, removed after) and check it`,
      access: 'anyone',
      options: { verify: { type: 'boolean' } },
      arity: [1, 2],
      async run({ ctx, args, options }) {
        const ds = await named(ctx, kind, args[0], 'change');
        const d = await deps(ctx);
        const store = await ctx.store();
        const keep = (await backupSettings(store, ds)).keep ?? ctx.config().datastoreBackupKeep;
        // Everything checked before the dump starts: the bucket's name, the endpoint, the passphrase.
        const bucket =
          args[1] === undefined ? undefined : bucketOf(ctx.config().datastoreS3, kind, ds, args[1]);
        const passphrase = bucket ? await passphraseOf(store, kind, ds) : undefined;
        ctx.stdout.write(
          `-----> Backing up ${kind.title} service ${ds.name}${bucket ? ` to bucket ${bucket.name} (encrypted)` : ''}\n`,
        );
        const b =
          bucket && passphrase
            ? await takeS3Backup(d, kind, ds, {
                bucket,
                passphrase,
                keep,
                trigger: 'backup',
                signal: ctx.signal,
              })
            : await takeBackup(d, kind, ds, { keep, trigger: 'backup', signal: ctx.signal });
        ctx.stdout.write(
          `       ${b.id}: ${b.size} bytes in ${secs(b.durationMs)}, sha256 ${b.sha256}\n`,
        );
        if (options.verify !== true) {
          ctx.stdout.write(`=====> Backup ${b.id} of ${ds.name} written\n`);
          return EXIT.ok;
        }
        ctx.stdout.write(
          `-----> Verifying it in a scratch server${bucket ? ', as fetched from the bucket' : ''}\n`,
        );
        const fetched =
          bucket && passphrase
            ? await fetchS3Backup(d, kind, ds, { bucket, id: b.id, passphrase, signal: ctx.signal })
            : { ...(await findBackup(d.dataDir, kind, ds, b.id)), done: async () => {} };
        let v: Awaited<ReturnType<typeof verifyDump>>;
        try {
          v = await verifyDump(d, kind, ds, fetched.file, ctx.signal);
        } finally {
          await fetched.done();
        }
        ctx.stdout.write(`       ${v.detail} (${secs(v.durationMs)})\n`);
        if (!v.ok) {
          ctx.stderr.write(` !     Backup ${b.id} of ${ds.name} failed its verification\n`);
          return EXIT.failed;
        }
        ctx.stdout.write(`=====> Backup ${b.id} of ${ds.name} written and verified\n`);
        return EXIT.ok;
      },
    },
    {
      name: `${k}:backup-list`,
      usage: 'NAME [BUCKET] [--format json]',
      summary: `the ${kind.title} service's backups, oldest first (on this server, or with BUCKET in that bucket): id (for ${k}:restore), time, size, SHA-256; then its schedule and the last scheduled run`,
      access: 'anyone',
      json: true,
      arity: [1, 2],
      async run({ ctx, args, options }) {
        const ds = await named(ctx, kind, args[0], 'read');
        const store = await ctx.store();
        const config = ctx.config();
        const bucket =
          args[1] === undefined ? undefined : bucketOf(config.datastoreS3, kind, ds, args[1]);
        const backups = bucket
          ? await listS3Backups(bucket, kind, ds, ctx.signal)
          : await listBackups(config.dataDir, kind, ds);
        const settings = await backupSettings(store, ds);
        const keep = settings.keep ?? config.datastoreBackupKeep;
        if (formatOf(options) === 'json') {
          ctx.stdout.write(
            json({
              backups,
              schedule: settings.schedule ?? null,
              next: (await nextBackup(store, ds)) ?? null,
              keep,
              last: settings.last ?? null,
              encrypted: settings.encrypted,
              ...(bucket
                ? { bucket: bucket.name, endpoint: bucket.s3.endpoint }
                : { dir: backupsDir(config.dataDir, k, ds.name) }),
            }),
          );
          return EXIT.ok;
        }
        ctx.stdout.write(
          `=====> ${ds.name} backups${bucket ? ` in bucket ${bucket.name}` : ''} (keeps ${keep})\n`,
        );
        if (backups.length === 0)
          ctx.stdout.write(`       none; "${k}:backup ${ds.name}" takes one\n`);
        else {
          ctx.stdout.write(
            table([
              ['ID', 'TAKEN', 'SIZE', 'BY', 'SHA256'],
              ...backups.map((b) => [
                b.id,
                b.createdAt,
                String(b.size),
                b.trigger,
                b.sha256.slice(0, 16),
              ]),
            ]),
          );
        }
        ctx.stdout.write(
          `       schedule: ${settings.schedule ?? 'none'}${settings.bucket ? ` to bucket ${settings.bucket}` : ''}; encryption for buckets: ${settings.encrypted ? 'set' : 'none'}${settings.last ? `; last scheduled run ${settings.last.at}: ${settings.last.status}${settings.last.error ? ` (${settings.last.error})` : ''}` : ''}\n`,
        );
        return EXIT.ok;
      },
    },
    {
      name: `${k}:restore`,
      usage: 'NAME BACKUP_ID [BUCKET]',
      summary: `bring a backup (${k}:backup-list) back into the ${kind.title} service, from this server or from BUCKET (fetched and decrypted with the service's passphrase first): its dump is checked against its recorded SHA-256, then restored in one transaction, replacing what the service holds; a damaged one, or a wrong passphrase, changes nothing`,
      access: 'anyone',
      arity: [2, 3],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0], 'change');
        const started = Date.now();
        const bucket =
          args[2] === undefined ? undefined : bucketOf(ctx.config().datastoreS3, kind, ds, args[2]);
        const b = bucket
          ? await restoreFromS3(await deps(ctx), kind, ds, {
              bucket,
              id: args[1] ?? '',
              passphrase: await passphraseOf(await ctx.store(), kind, ds),
              signal: ctx.signal,
            })
          : await restoreFromBackup(await deps(ctx), kind, ds, args[1] ?? '', ctx.signal);
        ctx.stdout.write(
          `-----> Restored backup ${b.id} (${mb(b.size)}) into ${kind.title} service ${ds.name} in ${secs(Date.now() - started)}\n`,
        );
        return EXIT.ok;
      },
    },
    {
      name: `${k}:backup-schedule`,
      usage: 'NAME "CRON" [BUCKET]',
      summary: `back the ${kind.title} service up on a schedule (five cron fields, UTC, as "0 3 * * *" for 03:00 each day), run by the builder's job queue, to this server or to BUCKET (as ${k}:backup NAME BUCKET); replaces its schedule`,
      access: 'anyone',
      arity: [2, 3],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0], 'change');
        if (args[2] !== undefined) {
          // As the backup itself would: refused now rather than at each run.
          bucketOf(ctx.config().datastoreS3, kind, ds, args[2]);
          await passphraseOf(await ctx.store(), kind, ds);
        }
        const pattern = await scheduleBackups(await ctx.store(), ds, args[1] ?? '', {
          seconds: ctx.config().cronSeconds,
          bucket: args[2],
        });
        const next = await nextBackup(await ctx.store(), ds);
        ctx.stdout.write(
          `-----> ${ds.name} is backed up at "${pattern}" (UTC)${args[2] ? ` to bucket ${args[2]}` : ''}${next ? `; next ${next}` : ''}\n`,
        );
        return EXIT.ok;
      },
    },
    {
      name: `${k}:backup-unschedule`,
      usage: 'NAME',
      summary: `no more scheduled backups of the ${kind.title} service (those taken stay)`,
      access: 'anyone',
      arity: [1, 1],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0], 'change');
        await unscheduleBackups(await ctx.store(), ds);
        ctx.stdout.write(`-----> ${ds.name} is no longer backed up on a schedule\n`);
        return EXIT.ok;
      },
    },
    {
      name: `${k}:backup-schedule-cat`,
      usage: 'NAME',
      summary: `the ${kind.title} service's backup schedule (its cron pattern), nothing when it has none`,
      access: 'anyone',
      arity: [1, 1],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0], 'read');
        const { schedule } = await backupSettings(await ctx.store(), ds);
        if (schedule) ctx.stdout.write(`${schedule}\n`);
        return EXIT.ok;
      },
    },
    {
      name: `${k}:backup-set-keep`,
      usage: 'NAME [COUNT]',
      summary: `how many backups of the ${kind.title} service stay (1 to 999); without COUNT, BERTH_DATASTORE_BACKUP_KEEP again`,
      access: 'anyone',
      arity: [1, 2],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0], 'change');
        const count = args[1] === undefined ? undefined : keepCount(args[1]);
        await setKeep(await ctx.store(), ds, count);
        ctx.stdout.write(
          `-----> ${ds.name} keeps ${count ?? `${ctx.config().datastoreBackupKeep} (BERTH_DATASTORE_BACKUP_KEEP)`} backups from its next one\n`,
        );
        return EXIT.ok;
      },
    },
    {
      name: `${k}:backup-set-encryption`,
      usage: 'NAME PASSPHRASE',
      summary: `the passphrase the ${kind.title} service's backups to a bucket are encrypted with (scrypt and AES-256-GCM; 12 to 1024 characters) and decrypted with on restore; needed before any backup goes to a bucket. Keep it elsewhere too: a backup cannot be restored without the passphrase it was taken with`,
      access: 'anyone',
      arity: [2, 2],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0], 'change');
        await setPassphrase(await ctx.store(), ds, args[1] ?? '');
        ctx.stdout.write(
          `-----> Backups of ${ds.name} to a bucket are encrypted with the passphrase given, from the next one\n`,
        );
        return EXIT.ok;
      },
    },
    {
      name: `${k}:backup-unset-encryption`,
      usage: 'NAME',
      summary: `forget the ${kind.title} service's backup passphrase: no backup of it goes to a bucket until one is set again (backups in the bucket stay, and need that passphrase to be restored)`,
      access: 'anyone',
      arity: [1, 1],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0], 'change');
        await setPassphrase(await ctx.store(), ds, undefined);
        ctx.stdout.write(`-----> ${ds.name} has no backup passphrase\n`);
        return EXIT.ok;
      },
    },
  ];
}

export const datastoreBackupCommands: readonly Command[] = KINDS.flatMap(commandsFor);
