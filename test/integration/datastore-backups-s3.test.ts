// Datastore backups to an S3-compatible endpoint, encrypted by a
// passphrase, with the real Engine, Redis, BullMQ and the PostgreSQL image
// built from Debian's packages, and a real S3 server (s3rver, an npm
// devDependency) on loopback, started here: postgres:backup NAME BUCKET
// --verify; the object in the bucket holds none of the table's content;
// the table dropped, postgres:restore NAME ID BUCKET brings back the same
// checksum; a wrong passphrase is refused in one line with nothing
// changed; retention and a schedule (seconds field, BERTH_CRON_SECONDS=on)
// apply in the bucket; an endpoint that refuses connections, or accepts
// them and never answers, is one line within the stated time (s3.ts
// ANSWER_MS) and no dump is taken.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import S3rver from '@20minutes/s3rver';
import { AwsClient } from 'aws4fetch';
import { Redis } from 'ioredis';
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/log.ts';
import { startDatastoreBackupWorker } from '../../services/platform/datastores/backup-schedule.ts';
import { backupsDir } from '../../services/platform/datastores/backups.ts';
import { type S3Backup, s3Prefix } from '../../services/platform/datastores/backups-s3.ts';
import {
  ANSWER_MS,
  getStream,
  listKeys,
  PART_BYTES,
  putFile,
  removeKey,
} from '../../services/platform/datastores/s3.ts';
import { commandRunner } from '../harness/commands.ts';
import { removeDatastoreFromEngine } from '../harness/datastores.ts';
import { engineApp } from '../harness/deploy.ts';
import { sharedRedisUrl } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';
import { until } from '../harness/wait.ts';

const bucket = `berth-${randomBytes(3).toString('hex')}`;
const s3dir = await tempDir('berth-s3rver');
// s3rver's default keys; it checks each request's signature against them.
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: s3dir,
  configureBuckets: [{ name: bucket, configs: [] }],
});
const { port } = (await server.run()) as { port: number };
after(() => server.close());
const secretFile = path.join(await tempDir('berth-s3-secret'), 'secret');
await writeFile(secretFile, 'S3RVER\n', { mode: 0o600 });
const env = {
  BERTH_CRON_SECONDS: 'on',
  BERTH_DATASTORE_S3_ENDPOINT: `http://127.0.0.1:${port}`,
  BERTH_DATASTORE_S3_KEY_ID: 'S3RVER',
  BERTH_DATASTORE_S3_KEY_FILE: secretFile,
};
const { store, config, docker, ada, run } = await engineApp('dss3', env);
const db = `s3-${randomBytes(3).toString('hex')}`;
const PASSPHRASE = 'a long passphrase, "quoted" and \'single\' too';
const MARKER = 'berth-plaintext-marker';
const figures: Record<string, string> = {};

after(async () => {
  await removeDatastoreFromEngine(docker, 'postgres', db);
  process.stderr.write(`# datastore S3 backup figures: ${JSON.stringify(figures)}\n`);
});

async function sql(text: string): Promise<string> {
  const r = await run(ada, ['postgres:connect', db], `\\pset tuples_only on\n${text}\n`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

const CHECKSUM = "SELECT md5(string_agg(n::text || ':' || s, ',' ORDER BY n)) FROM t;";

async function bucketBackups(): Promise<S3Backup[]> {
  const r = await run(ada, ['postgres:backup-list', db, bucket, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { backups: S3Backup[] }).backups;
}

/** An object's bytes as the bucket holds them, read past Berth with the same keys. */
async function rawObject(key: string): Promise<Buffer> {
  const c = new AwsClient({
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    service: 's3',
    region: 'us-east-1',
  });
  const res = await c.fetch(`http://127.0.0.1:${port}/${bucket}/${key}`);
  assert.equal(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}

function refused(r: { code: number; stderr: string }, pattern: RegExp) {
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
}

before(async () => {
  const r = await run(ada, ['postgres:create', db]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  // About 8 MB: more than one upload part is not needed to show the format, the test stays quick.
  await sql(
    `CREATE TABLE t AS SELECT n, '${MARKER}-' || n || '-' || md5(n::text) || md5((n * 7)::text) AS s FROM generate_series(1, 60000) n;`,
  );
});

describe('postgres backups to S3, encrypted', { concurrency: false }, () => {
  test('no passphrase, no bucket name, no endpoint: refused in one line, nothing sent', async () => {
    refused(
      await run(ada, ['postgres:backup', db, bucket]),
      /BERTH_E_DATASTORE_NO_PASSPHRASE|has no backup passphrase/,
    );
    refused(
      await run(ada, ['postgres:backup-set-encryption', db, 'short']),
      /passphrase.*12 to 1024/,
    );
    for (const name of ['../etc', 'UPPER', 'a', '1.2.3.4', `${bucket}/x`]) {
      refused(await run(ada, ['postgres:backup', db, name]), /bucket name/);
    }
    const none = commandRunner(
      store,
      loadConfig({
        ...env,
        BERTH_DATA_DIR: config.dataDir,
        BERTH_DATASTORE_S3_ENDPOINT: '',
      }),
    );
    refused(
      await none(ada, ['postgres:backup', db, bucket]),
      /BERTH_DATASTORE_S3_ENDPOINT is not set/,
    );
    assert.deepEqual(await bucketBackups(), []);
  });

  test('backup to the bucket --verify; the object is not plaintext; drop, restore: the same checksum', async () => {
    const set = await run(ada, ['postgres:backup-set-encryption', db, PASSPHRASE]);
    assert.equal(set.code, 0, set.stderr);
    assert.doesNotMatch(set.stdout + set.stderr, /quoted/, 'the passphrase is not repeated');
    const before = await sql(CHECKSUM);
    const t0 = Date.now();
    const r = await run(ada, ['postgres:backup', db, bucket, '--verify']);
    figures.backupVerify = `${Date.now() - t0} ms`;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /restored into a scratch server: 1 tables, as the dump names/);
    assert.match(r.stdout, /written and verified/);
    const [b] = await bucketBackups();
    assert.ok(b, 'a backup is listed in the bucket');
    assert.equal(b.bucket, bucket);
    figures.dump = `${b.size} bytes, ${b.storedSize} stored encrypted, in ${b.durationMs} ms`;

    const object = await rawObject(`${s3Prefix('postgres', db)}${b.id}.dump.enc`);
    assert.equal(object.length, b.storedSize);
    assert.ok(object.length > b.size, 'the object is the whole dump, sealed');
    assert.equal(object.subarray(0, 8).toString(), 'BERTHENC');
    assert.ok(!object.includes(MARKER), 'no row of the table is readable in the bucket');
    assert.ok(!object.includes('PGDMP'), 'no pg_dump header is readable in the bucket');
    // Nothing of the dump is left on this server's disk.
    assert.deepEqual(await readdir(backupsDir(config.dataDir, 'postgres', db)), []);

    await sql('DROP TABLE t;');
    const t1 = Date.now();
    const restored = await run(ada, ['postgres:restore', db, b.id, bucket]);
    figures.restore = `${Date.now() - t1} ms`;
    assert.equal(restored.code, 0, restored.stderr + restored.stdout);
    assert.equal(await sql(CHECKSUM), before);
  });

  test('a wrong passphrase: refused in one line, the service unchanged', async () => {
    const [b] = await bucketBackups();
    assert.ok(b);
    await sql('DELETE FROM t WHERE n <= 10;');
    const before = await sql(CHECKSUM);
    assert.equal(
      (await run(ada, ['postgres:backup-set-encryption', db, 'another passphrase entirely'])).code,
      0,
    );
    refused(
      await run(ada, ['postgres:restore', db, b.id, bucket]),
      /cannot be decrypted: the passphrase is not the one it was encrypted with/,
    );
    assert.equal(await sql(CHECKSUM), before);
    assert.equal((await run(ada, ['postgres:backup-unset-encryption', db])).code, 0);
    refused(await run(ada, ['postgres:restore', db, b.id, bucket]), /has no backup passphrase/);
    assert.equal(await sql(CHECKSUM), before);
    assert.deepEqual(await readdir(backupsDir(config.dataDir, 'postgres', db)), []);
    assert.equal((await run(ada, ['postgres:backup-set-encryption', db, PASSPHRASE])).code, 0);
  });

  test('retention and a schedule apply in the bucket', async () => {
    assert.equal((await run(ada, ['postgres:backup-set-keep', db, '2'])).code, 0);
    const connection = new Redis(await sharedRedisUrl(), { maxRetriesPerRequest: null });
    const worker = await startDatastoreBackupWorker({
      connection,
      store,
      log: createLogger('builder', { level: 'silent' }),
      docker,
      dataDir: config.dataDir,
      keep: 7,
      s3: config.datastoreS3,
    });
    try {
      const r = await run(ada, ['postgres:backup-schedule', db, '*/3 * * * * *', bucket]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`to bucket ${bucket}`));
      await until(
        'two scheduled backups in the bucket',
        async () => (await bucketBackups()).filter((b) => b.trigger === 'schedule').length >= 2,
        120_000,
      );
      assert.equal((await run(ada, ['postgres:backup-unschedule', db])).code, 0);
    } finally {
      await worker.close();
      connection.disconnect();
    }
    const all = await bucketBackups();
    assert.ok(all.length <= 2, `the bucket keeps 2: ${all.map((b) => b.id)}`);
    const keys = await (async () => {
      const c = new AwsClient({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', service: 's3' });
      const res = await c.fetch(
        `http://127.0.0.1:${port}/${bucket}?list-type=2&prefix=${encodeURIComponent(s3Prefix('postgres', db))}`,
      );
      return [...(await res.text()).matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]);
    })();
    assert.equal(keys.length, all.length * 2, `a dump and a record each: ${keys}`);
    // Nothing local was written by the schedule to a bucket.
    assert.deepEqual(await readdir(backupsDir(config.dataDir, 'postgres', db)), []);
  });

  test('an endpoint that refuses, or never answers: one line within the stated time, no dump taken', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as { port: number }).port;
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    try {
      for (const [what, endpoint, pattern] of [
        ['refuses', `http://127.0.0.1:${closedPort}`, /cannot be reached \(ECONNREFUSED\)/],
        ['never answers', `http://127.0.0.1:${silentPort}`, /did not answer .* within 10 s/],
      ] as const) {
        const elsewhere = commandRunner(
          store,
          loadConfig({
            ...env,
            BERTH_DATA_DIR: config.dataDir,
            BERTH_DATASTORE_S3_ENDPOINT: endpoint,
          }),
        );
        const t0 = Date.now();
        const r = await elsewhere(ada, ['postgres:backup', db, bucket]);
        const ms = Date.now() - t0;
        figures[what] = `${ms} ms`;
        refused(r, pattern);
        assert.match(r.stderr, new RegExp(`S3 endpoint ${endpoint.replace(/\./g, '\\.')}`));
        assert.ok(ms < ANSWER_MS + 5000, `${what}: ${ms} ms`);
        assert.doesNotMatch(r.stdout, /bytes in/, `${what}: no backup was written`);
        assert.deepEqual(await readdir(backupsDir(config.dataDir, 'postgres', db)), []);
      }
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  test('an object larger than a part goes up in parts and comes back whole', async () => {
    const file = path.join(await tempDir('berth-s3-part'), 'big');
    const bytes = randomBytes(2 * PART_BYTES + 12345);
    await writeFile(file, bytes);
    const b = { s3: config.datastoreS3 as NonNullable<typeof config.datastoreS3>, name: bucket };
    await putFile(b, 'parts/big', file, bytes.length);
    assert.deepEqual(await listKeys(b, 'parts/'), [{ key: 'parts/big', size: bytes.length }]);
    const hash = createHash('sha256');
    for await (const c of await getStream(b, 'parts/big')) hash.update(c as Buffer);
    assert.equal(hash.digest('hex'), createHash('sha256').update(bytes).digest('hex'));
    await removeKey(b, 'parts/big');
    assert.deepEqual(await listKeys(b, 'parts/'), []);
  });

  test('a download that stops mid-way fails in one line after the stated pause, not never', async () => {
    // An endpoint that answers and sends part of the object, then nothing (a fault s3rver cannot make).
    const stalled = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-length': '1000000' });
      res.write(Buffer.alloc(1000, 1));
    });
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
    try {
      const b = {
        s3: {
          ...(config.datastoreS3 as NonNullable<typeof config.datastoreS3>),
          endpoint: `http://127.0.0.1:${(stalled.address() as { port: number }).port}`,
        },
        name: bucket,
      };
      const t0 = Date.now();
      const stream = await getStream(b, 'x.dump.enc');
      await assert.rejects(
        (async () => {
          for await (const _ of stream);
        })(),
        /stopped sending x\.dump\.enc for 10 s/,
      );
      const ms = Date.now() - t0;
      assert.ok(ms >= ANSWER_MS - 500 && ms < ANSWER_MS + 5000, `${ms} ms`);
    } finally {
      stalled.closeAllConnections();
      stalled.close();
    }
  });
});
