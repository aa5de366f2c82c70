// Backing services (issue 19), through the real commands on the real Engine:
//
// - for each kind (postgres, redis, mysql), its image already built (a
//   first create, unmeasured, builds or finds it): `KIND:create` until it
//   returns (the server answers its health check), `KIND:link` into an app
//   with no release yet (the link recorded and the URL set: with a running
//   app a link is also a rollout, measured by the rollout scenario), and the
//   first query (`KIND:connect` with `SELECT 1` / `PING` on stdin);
// - dump and restore of a ~100 MB PostgreSQL database: Berth's backup
//   (`postgres:backup`'s takeBackup: pg_dump through `docker exec`, hashed,
//   fsync'ed) and restore (SHA-256 checked, then pg_restore in one
//   transaction) beside plain `docker exec pg_dump > file` and
//   `docker exec -i pg_restore < file` with the same flags in the same
//   container, pair by pair, alternating which goes first; and the same
//   backup to an S3 bucket, encrypted (s3rver on loopback), for the cost of
//   the encryption and upload.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import S3rver from '@20minutes/s3rver';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../../infra/bootstrap/redis-server.ts';
import { loadConfig } from '../../../services/core/config.ts';
import { Store } from '../../../services/core/store/index.ts';
import { restoreFromBackup, takeBackup } from '../../../services/platform/datastores/backups.ts';
import { restoreFromS3, takeS3Backup } from '../../../services/platform/datastores/backups-s3.ts';
import { databaseName } from '../../../services/platform/datastores/kind.ts';
import { KINDS } from '../../../services/platform/datastores/kinds.ts';
import { postgres } from '../../../services/platform/datastores/postgres/kind.ts';
import { serverName } from '../../../services/platform/datastores/server.ts';
import { commandRunner, userActor } from '../../harness/commands.ts';
import { removeDatastoreFromEngine } from '../../harness/datastores.ts';
import { testDocker } from '../../harness/docker.ts';
import { freePort } from '../../harness/ports.ts';
import { type Figure, figure, type Scenario } from '../scenario.ts';

const CREATES = 3;
const PAIRS = 3;
/** Rows of about 160 bytes: ~100 MB with the table's overhead. */
const ROWS = 600_000;
const FIRST_QUERY: Record<string, string> = {
  postgres: 'SELECT 1;\n',
  redis: 'PING\n',
  mysql: 'SELECT 1;\n',
};

/** Runs `docker` with stdin and stdout from/to files (or nothing); its time in ms. */
function docker(args: string[], o: { stdin?: string; stdout?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('docker', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    if (o.stdin) createReadStream(o.stdin).pipe(child.stdin);
    else child.stdin.end();
    if (o.stdout) child.stdout.pipe(createWriteStream(o.stdout));
    else child.stdout.resume();
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(performance.now() - t0)
        : reject(
            new Error(`docker ${args.slice(0, 4).join(' ')} exited ${code}: ${err.slice(-300)}`),
          ),
    );
  });
}

export const servicesScenario: Scenario = {
  name: 'services',
  description: `create, link and first query of each datastore kind (${CREATES} each, image cached); dump and restore of a ~100 MB PostgreSQL database, Berth vs plain pg_dump/pg_restore in the same container, and to an S3 bucket encrypted, ${PAIRS} pairs`,
  async run(log) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-services-'));
    const { docker: engine } = await testDocker();
    const server = await startRedisServer({ dir, port: await freePort() });
    const redis = new Redis(server.url, { lazyConnect: true });
    await redis.connect();
    const s3dir = path.join(dir, 's3');
    const bucket = 'berth-bench';
    const s3 = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: s3dir,
      configureBuckets: [{ name: bucket, configs: [] }],
    });
    const made: { kind: string; name: string }[] = [];
    try {
      const { port } = await s3.run();
      await writeFile(path.join(dir, 's3-secret'), 'S3RVER\n', { mode: 0o600 });
      const config = loadConfig({
        BERTH_DATA_DIR: path.join(dir, 'data'),
        DOCKER_HOST: process.env.DOCKER_HOST,
        BERTH_DATASTORE_S3_ENDPOINT: `http://127.0.0.1:${port}`,
        BERTH_DATASTORE_S3_KEY_ID: 'S3RVER',
        BERTH_DATASTORE_S3_KEY_FILE: path.join(dir, 's3-secret'),
      });
      const store = new Store(redis, 'berth-bench:');
      await store.checkSchema();
      await store.users.create('bench', 'user');
      const app = `svc${randomBytes(3).toString('hex')}`;
      await store.apps.create({ name: app, owner: 'bench' });
      const run = commandRunner(store, config);
      const actor = userActor('bench', 'user');
      const must = async (argv: string[], stdin = '') => {
        const t0 = performance.now();
        const r = await run(actor, argv, stdin);
        if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}${r.stdout}`);
        return { ms: performance.now() - t0, stdout: r.stdout };
      };
      const serviceName = () => `b-${randomBytes(3).toString('hex')}`;

      const figures: Figure[] = [];
      for (const kind of KINDS) {
        // The image built or found, unmeasured.
        const warm = serviceName();
        made.push({ kind: kind.name, name: warm });
        await must([`${kind.name}:create`, warm]);
        await must([`${kind.name}:destroy`, warm, '--force']);
        const create: number[] = [];
        const link: number[] = [];
        const query: number[] = [];
        for (let i = 0; i < CREATES; i++) {
          const name = serviceName();
          made.push({ kind: kind.name, name });
          create.push((await must([`${kind.name}:create`, name])).ms);
          query.push((await must([`${kind.name}:connect`, name], FIRST_QUERY[kind.name])).ms);
          link.push((await must([`${kind.name}:link`, name, app])).ms);
          await must([`${kind.name}:unlink`, name, app]);
          await must([`${kind.name}:destroy`, name, '--force']);
          log(
            `${kind.name} ${i + 1}: create ${Math.round(create.at(-1) ?? 0)} ms, first query ${Math.round(query.at(-1) ?? 0)} ms, link ${Math.round(link.at(-1) ?? 0)} ms`,
          );
        }
        figures.push(
          figure(`${kind.name}: create (image cached) to healthy`, 'ms', create),
          figure(`${kind.name}: first query (connect)`, 'ms', query),
          figure(`${kind.name}: link (app with no release)`, 'ms', link),
        );
      }

      // ~100 MB of PostgreSQL.
      const db = serviceName();
      made.push({ kind: 'postgres', name: db });
      await must(['postgres:create', db]);
      const sql = async (text: string) =>
        (await must(['postgres:connect', db], `\\pset tuples_only on\n${text}\n`)).stdout.trim();
      const filled = performance.now();
      await sql(
        `CREATE TABLE t AS SELECT n, md5(n::text) || md5((n * 7)::text) || md5((n * 13)::text) || md5((n * 31)::text) AS s FROM generate_series(1, ${ROWS}) n;`,
      );
      const bytes = Number(await sql('SELECT pg_database_size(current_database());'));
      const mb = bytes / 1024 / 1024;
      log(`database of ${mb.toFixed(1)} MB filled in ${Math.round(performance.now() - filled)} ms`);
      const ds = await store.datastores.get('postgres', db);
      if (!ds) throw new Error('the service is not recorded');
      await must(['postgres:backup-set-encryption', db, 'a bench passphrase, long enough']);
      const deps = { docker: engine, dataDir: config.dataDir };
      const s3Bucket = {
        s3: config.datastoreS3 as NonNullable<typeof config.datastoreS3>,
        name: bucket,
      };
      const container = serverName('postgres', db);
      const bin = '"$(echo /usr/lib/postgresql/*/bin)"';
      const database = databaseName(db);
      const plainFile = path.join(dir, 'plain.dump');
      const signal = new AbortController().signal;

      const berthDump: number[] = [];
      const plainDump: number[] = [];
      const s3Dump: number[] = [];
      const berthRestore: number[] = [];
      const plainRestore: number[] = [];
      const s3Restore: number[] = [];
      const dumpRatio: number[] = [];
      const restoreRatio: number[] = [];
      let dumpBytes = 0;
      for (let i = 0; i < PAIRS; i++) {
        const berth = async () => {
          const t0 = performance.now();
          const b = await takeBackup(deps, postgres, ds, { keep: 2, trigger: 'backup', signal });
          dumpBytes = b.size;
          return { ms: performance.now() - t0, id: b.id };
        };
        const plain = () =>
          docker(
            [
              'exec',
              '-u',
              'postgres',
              container,
              'sh',
              '-c',
              `exec ${bin}/pg_dump -Fc --no-owner --no-acl -d ${database}`,
            ],
            { stdout: plainFile },
          );
        let b: { ms: number; id: string };
        let p: number;
        if (i % 2 === 0) {
          b = await berth();
          p = await plain();
        } else {
          p = await plain();
          b = await berth();
        }
        const t0 = performance.now();
        const up = await takeS3Backup(deps, postgres, ds, {
          bucket: s3Bucket,
          passphrase: 'a bench passphrase, long enough',
          keep: 2,
          trigger: 'backup',
          signal,
        });
        s3Dump.push(performance.now() - t0);
        berthDump.push(b.ms);
        plainDump.push(p);
        dumpRatio.push(b.ms / p);

        const berthR = async () => {
          const t = performance.now();
          await restoreFromBackup(deps, postgres, ds, b.id, signal);
          return performance.now() - t;
        };
        const plainR = () =>
          docker(
            [
              'exec',
              '-i',
              '-u',
              'postgres',
              container,
              'sh',
              '-c',
              `exec ${bin}/pg_restore --clean --if-exists --no-owner --no-acl --exit-on-error --single-transaction -d ${database}`,
            ],
            { stdin: plainFile },
          );
        let br: number;
        let pr: number;
        if (i % 2 === 0) {
          br = await berthR();
          pr = await plainR();
        } else {
          pr = await plainR();
          br = await berthR();
        }
        const t1 = performance.now();
        await restoreFromS3(deps, postgres, ds, {
          bucket: s3Bucket,
          id: up.id,
          passphrase: 'a bench passphrase, long enough',
          signal,
        });
        s3Restore.push(performance.now() - t1);
        berthRestore.push(br);
        plainRestore.push(pr);
        restoreRatio.push(br / pr);
        log(
          `pair ${i + 1}: dump Berth ${Math.round(b.ms)} ms, plain ${Math.round(p)} ms, to S3 encrypted ${Math.round(s3Dump.at(-1) ?? 0)} ms; restore Berth ${Math.round(br)} ms, plain ${Math.round(pr)} ms, from S3 ${Math.round(s3Restore.at(-1) ?? 0)} ms (dump ${dumpBytes} bytes, plain ${(await stat(plainFile)).size})`,
        );
      }
      const rate = (ms: number[]) => ms.map((m) => mb / (m / 1000));
      figures.push(
        figure('postgres: database size', 'MB', [mb]),
        figure('postgres: dump size (custom format)', 'MB', [dumpBytes / 1024 / 1024]),
        figure('dump: Berth backup (MB of database/s)', 'MB/s', rate(berthDump)),
        figure('dump: plain docker exec pg_dump (MB/s)', 'MB/s', rate(plainDump)),
        figure('dump: Berth / plain (time, per pair)', 'ratio', dumpRatio),
        figure('dump: to S3, encrypted (MB/s)', 'MB/s', rate(s3Dump)),
        figure('restore: Berth restore (MB of database/s)', 'MB/s', rate(berthRestore)),
        figure('restore: plain docker exec pg_restore (MB/s)', 'MB/s', rate(plainRestore)),
        figure('restore: Berth / plain (time, per pair)', 'ratio', restoreRatio),
        figure('restore: from S3, decrypted (MB/s)', 'MB/s', rate(s3Restore)),
        figure('dump: Berth backup', 'ms', berthDump),
        figure('dump: plain pg_dump', 'ms', plainDump),
        figure('restore: Berth restore', 'ms', berthRestore),
        figure('restore: plain pg_restore', 'ms', plainRestore),
      );
      return figures;
    } finally {
      for (const m of made) await removeDatastoreFromEngine(engine, m.kind, m.name);
      await s3.close().catch(() => {});
      redis.disconnect();
      try {
        process.kill(server.pid, 'SIGKILL');
      } catch {}
      await rm(dir, { recursive: true, force: true });
    }
  },
};
