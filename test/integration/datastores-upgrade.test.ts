// upgrade and clone of PostgreSQL services, with the real Engine, Redis and
// the images built from Debian's packages (kept between runs): an upgrade
// that fails for real (an extension 17 no longer has) leaving 15 serving,
// linked, with its data; then, the cause gone, 15 → 17 with every row kept
// and the linked app reading them by the same URL; a downgrade refused in
// one line; clone (a new service with the same rows and its own password;
// one that fails leaves nothing). Redis and MariaDB: datastores-upgrade-
// others.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { LABELS } from '../../services/core/docker.ts';
import { imageRef } from '../../services/platform/datastores/image.ts';
import { kindVersion } from '../../services/platform/datastores/kinds.ts';
import { postgres } from '../../services/platform/datastores/postgres/kind.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { removeDatastoreFromEngine } from '../harness/datastores.ts';
import { deployText, engineApp, oneOffOn } from '../harness/deploy.ts';

const { store, app, docker, ada, run } = await engineApp('dsu', { BERTH_DRAIN_TIMEOUT: '1s' });
const tag = randomBytes(3).toString('hex');
const db = `up-${tag}`;
const copy = `upcopy-${tag}`;
const scheduler = schedulerNamed('docker-local', { docker });
const figures: Record<string, string> = {};
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

after(async () => {
  for (const name of [db, copy, `${copy}-old`]) {
    await removeDatastoreFromEngine(docker, 'postgres', name);
  }
  process.stderr.write(`# upgrade figures: ${JSON.stringify(figures)}\n`);
});

before(async () => {
  await deployText(store, scheduler, app, 'upgrading');
});

/** psql in a one-off of the PostgreSQL 17 image on the app's network, through `url`. */
const psqlFrom = (url: string, sql: string) =>
  oneOffOn(
    scheduler,
    app,
    imageRef(postgres, kindVersion(postgres, '17')),
    `psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -tAc "${sql}"`,
    { PGCONNECT_TIMEOUT: '3', DATABASE_URL: url },
  );

/** SQL through postgres:connect (stdin, no terminal): its output. */
async function sqlVia(name: string, sql: string): Promise<string> {
  const r = await run(ada, ['postgres:connect', name], `\\pset tuples_only on\n${sql}\n`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}
const CHECKSUM =
  "SELECT count(*) || ' ' || md5(string_agg(n::text || ':' || s, ',' ORDER BY n)) FROM t;";

/** The Engine's containers and volumes of a service, by name. */
async function onEngine(kind: string, name: string) {
  const filters = { label: [`${LABELS.datastore}=${kind}`, `${LABELS.datastoreName}=${name}`] };
  const containers = (await docker.listContainers({ all: true, filters }))
    .flatMap((c) => c.Names.map((n) => n.replace(/^\//, '')))
    .sort();
  const volumes = ((await docker.listVolumes({ filters })).Volumes ?? []).map((v) => v.Name).sort();
  return { containers, volumes };
}

/** A one-line refusal: exit 1 (2: a usage error) and a single line matching `message`. */
function refused(r: { code: number; stderr: string }, message: RegExp, code = 1) {
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderr, message);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
}

describe('postgres upgrade and clone', { concurrency: false }, () => {
  test('an upgrade that fails (an extension 17 lacks) leaves 15 serving, linked, with its data, and says why', async () => {
    const created = await run(ada, ['postgres:create', db, '--image-version', '15']);
    assert.equal(created.code, 0, created.stderr + created.stdout);
    const linked = await run(ada, ['postgres:link', db, app]);
    assert.equal(linked.code, 0, linked.stderr + linked.stdout);
    const url = (await store.config.get(app)).DATABASE_URL ?? '';
    const made = await psqlFrom(
      url,
      "CREATE TABLE t (n serial PRIMARY KEY, s text NOT NULL, at timestamptz DEFAULT now()); INSERT INTO t (s) SELECT 'row ' || g FROM generate_series(1, 5000) g",
    );
    assert.equal(made.code, 0, made.out);
    // adminpack is in PostgreSQL 15 and gone from 17: a dump holding it does not restore there.
    await sqlVia(db, 'CREATE EXTENSION adminpack;');
    const checksum = await sqlVia(db, CHECKSUM);
    assert.match(checksum, /^5000 [0-9a-f]{32}$/);
    const container = (await docker.getContainer(`berth-postgres-${db}`).inspect()).Id;
    const started = Date.now();
    const r = await run(ada, ['postgres:upgrade', db, '--image-version', '17']);
    figures.failedUpgrade = seconds(started);
    refused(
      r,
      /was not upgraded: the restore failed .*adminpack.* serves as before, on PostgreSQL 15/,
    );
    assert.equal((await store.datastores.get('postgres', db))?.version, '15');
    assert.equal(await sqlVia(db, CHECKSUM), checksum);
    assert.match(await sqlVia(db, 'SHOW server_version;'), /^15\./);
    // The same container, on the app's network again; nothing of 17 left.
    const info = await docker.getContainer(`berth-postgres-${db}`).inspect();
    assert.equal(info.Id, container);
    assert.equal(info.State.Running, true);
    assert.deepEqual(await onEngine('postgres', db), {
      containers: [`berth-postgres-${db}`],
      volumes: [`berth-postgres-${db}`],
    });
    const read = await psqlFrom(url, 'SELECT count(*) FROM t');
    assert.equal(read.code, 0, read.out);
    assert.match(read.out, /^5000$/m);
  });

  test('postgres 15 → 17: every row kept, the linked app reads them by the same URL', async () => {
    await sqlVia(db, 'DROP EXTENSION adminpack;');
    // As an upgrade cut short by a crash leaves it: off the app's network, a .next container beside it.
    await docker.getNetwork(`berth.${app}`).disconnect({ Container: `berth-postgres-${db}` });
    await docker.createContainer({
      name: `berth-postgres-${db}.next`,
      Image: 'berth-datastore/postgres:17',
      Labels: { [LABELS.datastore]: 'postgres', [LABELS.datastoreName]: db },
    });
    const url = (await store.config.get(app)).DATABASE_URL ?? '';
    const before = await sqlVia(db, CHECKSUM);
    const started = Date.now();
    const r = await run(ada, ['postgres:upgrade', db, '--image-version', '17']);
    figures.postgres = seconds(started);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /upgraded from 15 to 17/);
    figures.postgresRows = `${before.split(' ')[0]} before, ${(await sqlVia(db, CHECKSUM)).split(' ')[0]} after`;
    assert.equal(await sqlVia(db, CHECKSUM), before);
    assert.match(await sqlVia(db, 'SHOW server_version;'), /^17\./);
    assert.equal((await run(ada, ['postgres:info', db, '--version'])).stdout, '17\n');
    // The link: the same URL, the app not rolled out, and its network reaches the new server.
    assert.equal((await store.config.get(app)).DATABASE_URL, url);
    const read = await psqlFrom(url, 'SELECT count(*) FROM t; SHOW server_version');
    assert.equal(read.code, 0, read.out);
    assert.match(read.out, /^5000$/m);
    assert.match(read.out, /^17\./m);
    // It writes on where it left off (the sequence came along).
    const wrote = await psqlFrom(url, "INSERT INTO t (s) VALUES ('after') RETURNING n");
    assert.match(wrote.out, /^5001$/m);
    // One container under the service's name; the new volume only (the old one gone once 17 served).
    assert.deepEqual(await onEngine('postgres', db), {
      containers: [`berth-postgres-${db}`],
      volumes: [`berth-postgres-${db}.17`],
    });
    const info = await docker.getContainer(`berth-postgres-${db}`).inspect();
    assert.equal(info.Config.Image, 'berth-datastore/postgres:17');
    // Under the runner, the new container and volume carry its run's id, as the old ones did.
    const testRun = process.env.BERTH_TEST_RUN;
    if (testRun) {
      const volume = await docker.getVolume(`berth-postgres-${db}.17`).inspect();
      for (const labels of [info.Config.Labels, volume.Labels]) {
        assert.ok(labels?.[LABELS.testRun]?.startsWith(`${testRun}.`), JSON.stringify(labels));
      }
    }
    assert.equal(info.HostConfig.RestartPolicy?.Name, 'unless-stopped');
    assert.deepEqual(
      Object.keys(info.NetworkSettings.Networks ?? {}).sort(),
      [`berth.${app}`, `berth.datastore.postgres.${db}`].sort(),
    );
    assert.match((await run(ada, ['postgres:info', db])).stdout, /Data dir: +volume .*\.17/);
  });

  test('a downgrade is refused in one line; the same version does nothing', async () => {
    refused(
      await run(ada, ['postgres:upgrade', db, '--image-version', '15']),
      /was not upgraded: it runs 17, and 15 is older.* serves as before, on PostgreSQL 17/,
    );
    refused(
      await run(ada, ['postgres:upgrade', db, '--image-version', '99']),
      /has no version "99"/,
      2,
    );
    const same = await run(ada, ['postgres:upgrade', db]);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /already runs 17; nothing done/);
    assert.equal((await store.datastores.get('postgres', db))?.version, '17');
  });

  test('clone: a new service with the same rows and its own password; the source serves on', async () => {
    const before = await sqlVia(db, CHECKSUM);
    const started = Date.now();
    const r = await run(ada, ['postgres:clone', db, copy]);
    figures.clone = seconds(started);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`PostgreSQL 17 service ${copy} cloned from ${db}`));
    assert.equal(await sqlVia(copy, CHECKSUM), before);
    figures.cloneRows = `${before.split(' ')[0]} in ${db}, ${(await sqlVia(copy, CHECKSUM)).split(' ')[0]} in the clone`;
    const [source, clone] = [
      await store.datastores.get('postgres', db),
      await store.datastores.get('postgres', copy),
    ];
    assert.ok(source && clone);
    assert.notEqual(clone.password, source.password);
    assert.equal(clone.memory, source.memory);
    assert.deepEqual(await store.datastores.links('postgres', copy), []);
    // Apart from here on: a write to the clone is not in the source.
    await sqlVia(copy, "INSERT INTO t (s) VALUES ('only in the clone');");
    assert.equal(await sqlVia(db, CHECKSUM), before);
    refused(await run(ada, ['postgres:clone', db, copy]), /already exists/);
    refused(
      await run(ada, ['postgres:clone', `nope-${tag}`, `${copy}-x`]),
      /no PostgreSQL service/,
    );
    refused(await run(ada, ['postgres:clone', db, 'Bad Name']), /invalid service name/, 2);
    assert.equal((await run(ada, ['postgres:destroy', copy, '--force'])).code, 0);
  });

  test('a clone that fails (a 17 dump into 15) leaves nothing', async () => {
    const r = await run(ada, ['postgres:clone', db, `${copy}-old`, '--image-version', '15']);
    refused(r, /did not start: copying the data of .* failed: the restore failed/);
    assert.equal(await store.datastores.get('postgres', `${copy}-old`), undefined);
    assert.deepEqual(await onEngine('postgres', `${copy}-old`), { containers: [], volumes: [] });
  });
});
