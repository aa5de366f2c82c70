// Datastore backups with the real Engine, Redis, BullMQ and the PostgreSQL
// image built from Debian's packages: postgres:backup while the service
// serves writes, the table dropped, postgres:restore bringing back the same
// checksum; retention by count; --verify in a scratch server, and a damaged
// dump caught by it and by restore; a schedule with a seconds field
// (BERTH_CRON_SECONDS=on, the tests' setting) run by the builder's worker
// on time; hostile ids, counts and schedules refused in one line with
// nothing changed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createLogger } from '../../services/core/log.ts';
import { startDatastoreBackupWorker } from '../../services/platform/datastores/backup-schedule.ts';
import { VERIFY_LABEL, verifyDump } from '../../services/platform/datastores/backup-verify.ts';
import { backupsDir, type DatastoreBackup } from '../../services/platform/datastores/backups.ts';
import { postgres } from '../../services/platform/datastores/postgres/kind.ts';
import { removeDatastoreFromEngine } from '../harness/datastores.ts';
import { engineApp } from '../harness/deploy.ts';
import { sharedRedisUrl } from '../harness/redis.ts';
import { until } from '../harness/wait.ts';

const { store, config, docker, ada, run } = await engineApp('dsb', { BERTH_CRON_SECONDS: 'on' });
const db = `bk-${randomBytes(3).toString('hex')}`;
const dir = backupsDir(config.dataDir, 'postgres', db);
const figures: Record<string, string> = {};

after(async () => {
  await removeDatastoreFromEngine(docker, 'postgres', db);
  process.stderr.write(`# datastore backup figures: ${JSON.stringify(figures)}\n`);
});

/** SQL through postgres:connect (stdin, no terminal): its output. */
async function sql(text: string): Promise<string> {
  const r = await run(ada, ['postgres:connect', db], `\\pset tuples_only on\n${text}\n`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

const CHECKSUM = "SELECT md5(string_agg(n::text || ':' || s, ',' ORDER BY n)) FROM t;";

async function backups(): Promise<DatastoreBackup[]> {
  const r = await run(ada, ['postgres:backup-list', db, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { backups: DatastoreBackup[] }).backups;
}

/** A refusal: exit non-zero, one line on stderr, the line matching `pattern`. */
function refused(r: { code: number; stderr: string }, pattern: RegExp) {
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
}

before(async () => {
  const r = await run(ada, ['postgres:create', db]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  // About 30 MB of rows that do not compress to nothing.
  await sql(
    'CREATE TABLE t AS SELECT n, md5(n::text) || md5((n * 7)::text) || md5((n * 13)::text) || md5((n * 31)::text) AS s FROM generate_series(1, 150000) n; CREATE TABLE beats (at timestamptz NOT NULL DEFAULT clock_timestamp());',
  );
  figures.table = `${(Number(await sql("SELECT pg_total_relation_size('t');")) / 1024 / 1024).toFixed(1)} MB`;
});

describe('postgres backups', { concurrency: false }, () => {
  test('backup while the service takes writes, drop the table, restore: the same checksum', async () => {
    const before = await sql(CHECKSUM);
    // The app writes every 20 ms throughout: each write's time is kept.
    const writer = run(
      ada,
      ['postgres:connect', db],
      `${'INSERT INTO beats DEFAULT VALUES; SELECT pg_sleep(0.02);\n'.repeat(250)}`,
    );
    await until(
      'the app writes',
      async () => Number(await sql('SELECT count(*) FROM beats;')) > 5,
      20_000,
    );
    const t0 = new Date();
    const r = await run(ada, ['postgres:backup', db]);
    const t1 = new Date();
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal((await writer).code, 0);
    const [b] = await backups();
    assert.ok(b, 'a backup is listed');
    assert.match(b.id, /^[0-9]{8}T[0-9]{9}Z$/);
    assert.equal((await stat(path.join(dir, `${b.id}.dump`))).size, b.size);
    assert.equal((await stat(path.join(dir, `${b.id}.dump`))).mode & 0o777, 0o600);
    // Writes went on while the dump ran: none waited on it.
    const during = await sql(
      `SELECT count(*), coalesce(max(gap), 0) FROM (SELECT at, extract(epoch FROM at - lag(at) OVER (ORDER BY at)) AS gap FROM beats) x WHERE at BETWEEN '${t0.toISOString()}' AND '${t1.toISOString()}';`,
    );
    const [count = '0', gap = '9'] = during.split('|');
    assert.ok(
      Number(count) >= 3,
      `writes during the backup (${t1.getTime() - t0.getTime()} ms): ${during}`,
    );
    assert.ok(Number(gap) < 1, `longest pause between writes during the backup: ${gap} s`);
    figures.backup = `${b.size} bytes in ${b.durationMs} ms (${(b.size / 1024 / 1024 / (b.durationMs / 1000)).toFixed(1)} MB/s dump), ${count} writes during it`;

    await sql('DROP TABLE t;');
    assert.match(
      (await run(ada, ['postgres:connect', db], 'SELECT count(*) FROM t;\n')).stderr,
      /does not exist/,
    );
    const t2 = Date.now();
    const restored = await run(ada, ['postgres:restore', db, b.id]);
    figures.restore = `${Date.now() - t2} ms`;
    assert.equal(restored.code, 0, restored.stderr + restored.stdout);
    assert.equal(await sql(CHECKSUM), before);
  });

  test('retention: after the service keeps 2, three backups leave the newest 2', async () => {
    const set = await run(ada, ['postgres:backup-set-keep', db, '2']);
    assert.equal(set.code, 0, set.stderr);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await run(ada, ['postgres:backup', db]);
      assert.equal(r.code, 0, r.stderr);
      ids.push(/ ([0-9]{8}T[0-9]{9}Z): /.exec(r.stdout)?.[1] ?? '');
    }
    assert.deepEqual(
      (await backups()).map((b) => b.id),
      ids.slice(1),
    );
    assert.deepEqual(
      (await readdir(dir)).sort(),
      ids.slice(1).flatMap((id) => [`${id}.dump`, `${id}.json`]),
    );
  });

  test('--verify restores into a scratch server and counts its tables; a damaged dump fails it', async () => {
    const r = await run(ada, ['postgres:backup', db, '--verify']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /restored into a scratch server: 2 tables, as the dump names/);
    assert.match(r.stdout, /written and verified/);
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`${VERIFY_LABEL}=${db}`] },
    });
    assert.equal(left.length, 0, 'the scratch server is removed');

    const newest = (await backups()).at(-1) as DatastoreBackup;
    const damaged = path.join(config.dataDir, 'damaged.dump');
    await copyFile(path.join(dir, `${newest.id}.dump`), damaged);
    // Bytes changed in the middle of the table's data (after the table of contents).
    const f = await open(damaged, 'r+');
    await f.write(Buffer.alloc(4096, 0x5a), 0, 4096, Math.floor(newest.size / 2));
    await f.close();
    const ds = await store.datastores.get('postgres', db);
    assert.ok(ds);
    const v = await verifyDump({ docker }, postgres, ds, damaged, AbortSignal.timeout(120_000));
    assert.equal(v.ok, false, v.detail);
    assert.match(v.detail, /restore failed/);
    // A dump cut short too.
    const f2 = await open(damaged, 'r+');
    await f2.truncate(Math.floor(newest.size / 3));
    await f2.close();
    const cut = await verifyDump({ docker }, postgres, ds, damaged, AbortSignal.timeout(120_000));
    assert.equal(cut.ok, false, cut.detail);
    figures.verify = `${v.durationMs} ms to reject a damaged dump`;

    // The same damage on the disk: restore refuses it before touching the service.
    const before = await sql(CHECKSUM);
    await copyFile(damaged, path.join(dir, `${newest.id}.dump`));
    refused(
      await run(ada, ['postgres:restore', db, newest.id]),
      /BERTH_E_DATASTORE_BACKUP_BAD|not usable/,
    );
    assert.equal(await sql(CHECKSUM), before);
  });

  test('hostile ids, counts and schedules: refused in one line, nothing changed', async () => {
    const listed = await backups();
    const before = await sql(CHECKSUM);
    for (const id of [
      '../../../etc/passwd',
      '..',
      `${listed[0]?.id}/../x`,
      '20991231T000000000Z',
      '',
    ]) {
      refused(await run(ada, ['postgres:restore', db, id]), /has no backup/);
    }
    for (const schedule of [
      '* * * * * * *',
      '0 3 * * *; rm -rf /',
      '61 * * * *',
      '@sometimes',
      '$(id)',
    ]) {
      refused(await run(ada, ['postgres:backup-schedule', db, schedule]), /cron schedule/);
    }
    for (const keep of ['0', '1000', '2; ls', '../x', '1e2']) {
      refused(await run(ada, ['postgres:backup-set-keep', db, keep]), /keep/);
    }
    refused(await run(ada, ['postgres:backup', '../etc']), /./);
    assert.equal((await run(ada, ['postgres:backup-schedule-cat', db])).stdout, '');
    assert.deepEqual(await backups(), listed);
    assert.equal(await sql(CHECKSUM), before);
  });

  test('a schedule runs on time on the job queue, keeps its count, and stops when unscheduled', async () => {
    const connection = new Redis(await sharedRedisUrl(), { maxRetriesPerRequest: null });
    const worker = await startDatastoreBackupWorker({
      connection,
      store,
      log: createLogger('builder', { level: 'silent' }),
      docker,
      dataDir: config.dataDir,
      keep: 7,
    });
    try {
      const r = await run(ada, ['postgres:backup-schedule', db, '*/4 * * * * *']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        (await run(ada, ['postgres:backup-schedule-cat', db])).stdout,
        '*/4 * * * * *\n',
      );
      await until(
        'two scheduled backups',
        async () => (await backups()).filter((b) => b.trigger === 'schedule').length >= 2,
        120_000,
      );
      // The first on its slot: a multiple of 4 seconds, within the time a
      // dump takes to start. (Later ones wait for the one before, which
      // takes longer than 4 s on a loaded machine.)
      const [first] = (await backups()).filter((b) => b.trigger === 'schedule');
      const at = new Date(first?.createdAt ?? 0);
      const late = (at.getUTCSeconds() % 4) * 1000 + at.getUTCMilliseconds();
      assert.ok(late < 2500, `${first?.createdAt} is ${late} ms after its slot`);
      // The service keeps 2 (the retention test's setting).
      assert.ok((await backups()).length <= 2);
      const unscheduled = await run(ada, ['postgres:backup-unschedule', db]);
      const stopped = new Date().toISOString();
      assert.equal(unscheduled.code, 0, unscheduled.stderr);
      // A backup already running may end; none starts after.
      await new Promise((r) => setTimeout(r, 9000));
      const later = (await backups()).filter((b) => b.createdAt > stopped);
      assert.deepEqual(later, [], 'no backup starts after unschedule');
      assert.equal((await run(ada, ['postgres:backup-schedule-cat', db])).stdout, '');
    } finally {
      await worker.close();
      connection.disconnect();
    }
  });
});
