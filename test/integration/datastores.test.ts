// PostgreSQL services end to end, with the real Engine, Redis and the
// PostgreSQL image built from Debian's packages (kept between runs, as the
// stack image is): create, info, link to a deployed app (its config gets
// DATABASE_URL, it rolls out, and a client on its network queries the
// database through that URL), an app not linked cannot reach it, a second
// link's alias, unlink, destroy refused while linked, export | import,
// hostile input, another user's service, and apps:destroy keeping the
// service and its data.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { LABELS } from '../../services/core/docker.ts';
import { imageRef } from '../../services/platform/datastores/image.ts';
import { kindVersion } from '../../services/platform/datastores/kinds.ts';
import { postgres } from '../../services/platform/datastores/postgres/kind.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { userActor } from '../harness/commands.ts';
import { removeDatastoreFromEngine } from '../harness/datastores.ts';
import { deployText, engineApp, oneOffOn } from '../harness/deploy.ts';
import { removeAppFromEngine } from '../harness/docker.ts';

const { store, app, docker, ada, run } = await engineApp('dsa', { BERTH_DRAIN_TIMEOUT: '1s' });
const other = `${app}x`;
const renamed = `${app}r`;
const db = `db-${randomBytes(3).toString('hex')}`;
const db2 = `${db}-two`;
const image = imageRef(postgres, kindVersion(postgres, undefined));
const scheduler = schedulerNamed('docker-local', { docker });
const bob = userActor('bob', 'user');
const figures: Record<string, string> = {};
/** What export wrote (the export test), for the import tests after it. */
let dump = Buffer.alloc(0);

after(async () => {
  for (const name of [db, db2, `${db}-old`])
    await removeDatastoreFromEngine(docker, 'postgres', name);
  await removeAppFromEngine(docker, other);
  await removeAppFromEngine(docker, renamed);
  process.stderr.write(`# datastore figures: ${JSON.stringify(figures)}\n`);
});

const deploy = (name: string, text: string) => deployText(store, scheduler, name, text);

/** A one-off of the PostgreSQL image on `appName`'s network, with `env`: psql's output and exit code. */
async function psqlFrom(appName: string, env: Record<string, string>, sql: string) {
  return oneOffOn(
    scheduler,
    appName,
    image,
    `psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -tAc "${sql}"`,
    { PGCONNECT_TIMEOUT: '3', ...env },
  );
}

/** SQL through postgres:connect (stdin, no terminal): its output. */
async function sqlVia(name: string, sql: string): Promise<string> {
  const r = await run(ada, ['postgres:connect', name], `\\pset tuples_only on\n${sql}\n`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

const CHECKSUM = "SELECT md5(string_agg(n::text || ':' || s, ',' ORDER BY n)) FROM t;";

/** The web instance's environment, as the Engine has it. */
async function webEnv(appName: string): Promise<string[]> {
  // The newest release's: the one before may still be draining.
  const web = (await scheduler.list(appName))
    .filter((i) => i.type === 'web' && i.state === 'running')
    .sort((a, b) => b.release - a.release)[0];
  assert.ok(web, `no running web instance of ${appName}`);
  return (await docker.getContainer(web.id).inspect()).Config.Env ?? [];
}

before(async () => {
  await store.users.create('bob', 'user');
  await store.apps.create({ name: other, owner: 'ada' });
  await deploy(app, 'linked');
  await deploy(other, 'other');
});

describe('postgres services', { concurrency: false }, () => {
  test('create: its own container and volume, answering, on no network but its own', async () => {
    const started = Date.now();
    const r = await run(ada, ['postgres:create', db]);
    figures.create = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const name = `berth-postgres-${db}`;
    const info = await docker.getContainer(name).inspect();
    assert.equal(info.State.Status, 'running');
    assert.equal(info.HostConfig.RestartPolicy?.Name, 'unless-stopped');
    assert.equal(info.HostConfig.Memory, 512 * 1024 * 1024);
    assert.equal(info.HostConfig.PidsLimit, 512);
    assert.deepEqual(Object.keys(info.HostConfig.PortBindings ?? {}), []);
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks ?? {}), [
      `berth.datastore.postgres.${db}`,
    ]);
    assert.equal(info.Config.Labels?.[LABELS.app], undefined);
    const volume = await docker.getVolume(name).inspect();
    assert.equal(volume.Labels?.[LABELS.datastore], 'postgres');
    assert.equal(volume.Labels?.[LABELS.app], undefined);
    // The password is in no container's environment, nor in info unless asked for.
    const password = (await store.datastores.get('postgres', db))?.password ?? '';
    assert.match(password, /^[0-9a-f]{32}$/);
    assert.ok(!JSON.stringify(info.Config).includes(password));
    const shown = await run(ada, ['postgres:info', db]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.ok(!shown.stdout.includes(password), shown.stdout);
    assert.match(shown.stdout, /Status: +running/);
    assert.match(shown.stdout, /Health: +ok/);
    assert.match(shown.stdout, /Version: +PostgreSQL 17|Version: +PostgreSQL 15/);
    const dsn = await run(ada, ['postgres:info', db, '--dsn']);
    assert.equal(
      dsn.stdout,
      `postgres://postgres:${password}@berth-postgres-${db}:5432/${db.replaceAll('-', '_')}\n`,
    );
    assert.equal((await run(ada, ['postgres:info', db, '--status'])).stdout, 'running\n');
    assert.equal((await run(ada, ['postgres:exists', db])).code, 0);
    const list = await run(ada, ['postgres:list']);
    assert.match(list.stdout, new RegExp(db));
  });

  test('another user is told it does not exist, and cannot link it or link to their app', async () => {
    for (const argv of [
      ['postgres:info', db],
      ['postgres:exists', db],
      ['postgres:export', db],
      ['postgres:link', db, app],
      ['postgres:destroy', db, '--force'],
    ]) {
      const r = await run(bob, argv);
      assert.notEqual(r.code, 0, argv.join(' '));
      assert.match(r.stderr, new RegExp(`no PostgreSQL service named "${db}"`), argv.join(' '));
    }
    assert.doesNotMatch((await run(bob, ['postgres:list'])).stdout, new RegExp(db));
    // ada's own service, to an app ada may not push to.
    await store.apps.create({ name: `${app}b`, owner: 'bob' });
    const r = await run(ada, ['postgres:link', db, `${app}b`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not exist/);
    await store.apps.destroy(`${app}b`);
  });

  test('link: the app gets DATABASE_URL, rolls out, and its network reaches the database', async () => {
    const started = Date.now();
    const r = await run(ada, ['postgres:link', db, app]);
    figures.link = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Linked PostgreSQL service .* as DATABASE_URL/);
    assert.match(r.stdout, /Releasing v2/);
    const url = (await store.config.get(app)).DATABASE_URL ?? '';
    assert.equal(url, (await run(ada, ['postgres:info', db, '--dsn'])).stdout.trim());
    // The password is in no line the link printed.
    const password = (await store.datastores.get('postgres', db))?.password ?? '';
    assert.ok(!r.stdout.includes(password));
    // The running instance has it, and reaches the server by its host name.
    const env = await webEnv(app);
    assert.ok(env.includes(`DATABASE_URL=${url}`));
    const reach = await run(ada, [
      'run',
      app,
      `python3 -c "import os, socket, urllib.parse as u; p = u.urlparse(os.environ['DATABASE_URL']); socket.create_connection((p.hostname, p.port), 3); print('reached', p.hostname)"`,
    ]);
    assert.equal(reach.code, 0, reach.stderr + reach.stdout);
    assert.match(reach.stdout, new RegExp(`reached berth-postgres-${db}`));
    // A real client on the app's network, through the URL.
    const queried = Date.now();
    const q = await psqlFrom(app, { DATABASE_URL: url }, 'SELECT 40 + 2');
    figures.firstQuery = `${((Date.now() - queried) / 1000).toFixed(1)} s (a one-off container with psql)`;
    assert.equal(q.code, 0, q.out);
    assert.match(q.out, /^42$/m);
    const made = await psqlFrom(
      app,
      { DATABASE_URL: url },
      "CREATE TABLE t (n int PRIMARY KEY, s text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 1000) g",
    );
    assert.equal(made.code, 0, made.out);
    assert.equal((await run(ada, ['postgres:links', db])).stdout, `${app}\n`);
    assert.equal((await run(ada, ['postgres:app-links', app])).stdout, `${db} DATABASE_URL\n`);
    assert.equal((await run(ada, ['postgres:linked', db, app])).code, 0);
  });

  test('an app not linked cannot reach it, by name or by address', async () => {
    const url = (await store.config.get(app)).DATABASE_URL ?? '';
    const byName = await psqlFrom(other, { DATABASE_URL: url }, 'SELECT 1');
    assert.notEqual(byName.code, 0, byName.out);
    assert.match(byName.out, /could not translate host name|Name or service not known/);
    const ip = Object.values(
      (await docker.getContainer(`berth-postgres-${db}`).inspect()).NetworkSettings.Networks ?? {},
    ).map((n) => n.IPAddress);
    assert.ok(ip.length >= 2);
    for (const address of ip) {
      const byAddress = await psqlFrom(
        other,
        { DATABASE_URL: url.replace(`berth-postgres-${db}`, address ?? '') },
        'SELECT 1',
      );
      assert.notEqual(byAddress.code, 0, `${address}: ${byAddress.out}`);
      assert.match(byAddress.out, /timeout expired|could not connect|No route/i);
    }
  });

  test('a second service linked to the app gets DATABASE_AQUA_URL; a taken alias is refused', async () => {
    assert.equal((await run(ada, ['postgres:create', db2])).code, 0);
    const taken = await run(ada, ['postgres:link', db2, app, '--alias', 'DATABASE']);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /already has DATABASE_URL set/);
    const again = await run(ada, ['postgres:link', db, app]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already linked to .* as DATABASE_URL/);
    const r = await run(ada, ['postgres:link', db2, app, '--no-restart']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /as DATABASE_AQUA_URL/);
    const config = await store.config.get(app);
    assert.match(config.DATABASE_AQUA_URL ?? '', new RegExp(`@berth-postgres-${db2}:5432/`));
    assert.match(config.DATABASE_URL ?? '', new RegExp(`@berth-postgres-${db}:5432/`));
    assert.equal((await run(ada, ['postgres:unlink', db2, app, '--no-restart'])).code, 0);
    assert.equal((await store.config.get(app)).DATABASE_AQUA_URL, undefined);
    assert.equal((await run(ada, ['postgres:destroy', db2, '--force'])).code, 0);
  });

  test('destroy is refused while linked, naming the app; nothing goes', async () => {
    for (const argv of [
      ['postgres:destroy', db, '--force'],
      ['postgres:destroy', db],
    ]) {
      const r = await run(ada, argv);
      assert.equal(r.code, 1, argv.join(' '));
      assert.match(r.stderr, new RegExp(`is linked to ${app}`));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.ok(await store.datastores.get('postgres', db));
    assert.equal((await docker.getContainer(`berth-postgres-${db}`).inspect()).State.Running, true);
  });

  test('export | import: the dump brings the table back as it was', async () => {
    const before = await sqlVia(db, CHECKSUM);
    assert.match(before, /^[0-9a-f]{32}$/);
    const { exportDatastore } = await import('../../services/platform/datastores/data.ts');
    const { PassThrough } = await import('node:stream');
    const chunks: Buffer[] = [];
    const out = new PassThrough();
    out.on('data', (c: Buffer) => chunks.push(c));
    const ds = await store.datastores.get('postgres', db);
    assert.ok(ds);
    await exportDatastore({ docker }, postgres, ds, out, AbortSignal.timeout(60_000));
    dump = Buffer.concat(chunks);
    assert.equal(dump.subarray(0, 5).toString(), 'PGDMP');
    await sqlVia(db, "DELETE FROM t WHERE n > 500; INSERT INTO t VALUES (5000, 'later');");
    assert.notEqual(await sqlVia(db, CHECKSUM), before);
    const r = await run(ada, ['postgres:import', db], dump);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sqlVia(db, CHECKSUM), before);
  });

  test('connect on a terminal: psql with a TTY of the terminal size', async () => {
    const ds = await store.datastores.get('postgres', db);
    assert.ok(ds);
    const { connectDatastore } = await import('../../services/platform/datastores/data.ts');
    const { makeTerminal } = await import('../../services/core/terminal.ts');
    const { PassThrough } = await import('node:stream');
    const output = new PassThrough();
    let shown = '';
    output.on('data', (c: Buffer) => {
      shown += c.toString();
    });
    const stdin = new PassThrough();
    const terminal = { ...makeTerminal('xterm', { rows: 40, cols: 132 }), output };
    const done = connectDatastore(
      { docker },
      postgres,
      ds,
      { stdin, stdout: output, stderr: output, terminal },
      AbortSignal.timeout(30_000),
    );
    stdin.write("SELECT 'answer ' || 6 * 7;\n");
    stdin.write('\\! stty size\n');
    stdin.write('\\q\n');
    assert.equal(await done, 0);
    assert.match(shown, /answer 42/);
    assert.match(shown, /40 132/);
  });

  test('kill -9 of the server: Docker starts it again and every committed row is there', async () => {
    const checksum = await sqlVia(db, CHECKSUM);
    const container = docker.getContainer(`berth-postgres-${db}`);
    const before = await container.inspect();
    process.kill(before.State.Pid, 'SIGKILL');
    const started = Date.now();
    let status = '';
    while (Date.now() - started < 60_000) {
      status = (await run(ada, ['postgres:info', db, '--health'])).stdout.trim();
      const now = await container.inspect();
      if (status === 'ok' && now.State.Pid !== before.State.Pid) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(status, 'ok');
    figures.killedBackIn = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    assert.equal((await container.inspect()).RestartCount, before.RestartCount + 1);
    assert.equal(await sqlVia(db, CHECKSUM), checksum);
  });

  test('hostile input is refused in one line and changes nothing', async () => {
    const checksum = await sqlVia(db, CHECKSUM);
    const services = JSON.stringify(await store.datastores.list());
    // Only the containers of the names these cases use: other test files and
    // runs make and remove datastores on the same Engine meanwhile.
    const named = new Set([db, db2, 'okname', `${db}-old`]);
    const ours = async () =>
      (await docker.listContainers({ all: true, filters: { label: [LABELS.datastore] } })).filter(
        (c) => named.has(c.Labels[LABELS.datastoreName] ?? ''),
      ).length;
    const containers = await ours();
    const cases: [string[], RegExp][] = [
      [['postgres:create', 'Shop'], /invalid service name "Shop"/],
      [['postgres:create', '../etc'], /invalid service name/],
      [['postgres:create', 'a;rm -rf'], /invalid service name/],
      [['postgres:create', `x${'y'.repeat(40)}`], /invalid service name/],
      [['postgres:create', 'okname', '--image-version', '99'], /has no version "99"/],
      [['postgres:create', 'okname', '--image-version', '15;rm'], /has no version/],
      [['postgres:create', 'okname', '--password', "abc'def0123456789"], /invalid password/],
      [['postgres:create', 'okname', '--password', 'abcdef0123456789\nx'], /invalid password/],
      [['postgres:create', 'okname', '--password', 'short'], /invalid password/],
      [['postgres:create', 'okname', '--memory', 'lots'], /invalid memory size/],
      [['postgres:create', db], /already exists/],
      [['postgres:link', db2, app], /no PostgreSQL service named/],
      [['postgres:unlink', db, other], /is not linked to/],
      [['postgres:link', db, other, '--alias', 'lower'], /invalid alias/],
      [['postgres:link', db, other, '--alias', 'BERTH_DB'], /invalid alias/],
      [['postgres:link', db, other, '--alias', 'A B'], /invalid alias/],
      [['postgres:info', db, '--dsn', '--status'], /at most one/],
      [['postgres:link', db, '../etc'], /invalid app name/],
      [['postgres:link', db, 'ghost-app'], /app "ghost-app" does not exist/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(ada, argv);
      assert.notEqual(r.code, 0, argv.join(' '));
      assert.match(r.stderr, message, argv.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `${argv.join(' ')}: ${r.stderr}`);
      // A password is never repeated back.
      if (argv.includes('--password')) assert.ok(!r.stderr.includes('abcdef0123'), r.stderr);
    }
    // A volume of the name on the Engine (an earlier service's data) is left as it is.
    const leftover = `${db}-old`;
    await docker.createVolume({
      Name: `berth-postgres-${leftover}`,
      Labels: { [LABELS.datastore]: 'postgres', [LABELS.datastoreName]: leftover },
    });
    const refused = await run(ada, ['postgres:create', leftover]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /a volume named berth-postgres-.*-old is already on the Docker Engine/,
    );
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    await docker.getVolume(`berth-postgres-${leftover}`).inspect();
    assert.equal(await store.datastores.get('postgres', leftover), undefined);
    await docker.getVolume(`berth-postgres-${leftover}`).remove();
    const garbage = await run(ada, ['postgres:import', db], Buffer.from('DROP TABLE t;\n'));
    assert.equal(garbage.code, 1);
    assert.match(
      garbage.stderr,
      /import into PostgreSQL service .* refused, nothing changed: .*pg_restore/,
    );
    assert.equal(garbage.stderr.trim().split('\n').length, 1, garbage.stderr);
    // A real dump cut short is refused the same way, and one past the bound.
    const cut = await run(ada, ['postgres:import', db], dump.subarray(0, dump.length - 200));
    assert.equal(cut.code, 1);
    assert.match(cut.stderr, /refused, nothing changed: .*pg_restore/);
    const { importDatastore } = await import('../../services/platform/datastores/data.ts');
    const ds = await store.datastores.get('postgres', db);
    assert.ok(ds);
    await assert.rejects(
      importDatastore(
        { docker },
        postgres,
        ds,
        Readable.from([dump]),
        AbortSignal.timeout(30_000),
        1000,
      ),
      /refused, nothing changed: it is larger than 1000 bytes/,
    );
    assert.equal(await sqlVia(db, CHECKSUM), checksum);
    assert.equal(JSON.stringify(await store.datastores.list()), services);
    assert.equal(await ours(), containers);
    assert.equal((await store.config.get(other)).DATABASE_URL, undefined);
  });

  test('unlink: the var goes, the app rolls out without it, the service leaves its network', async () => {
    const r = await run(ada, ['postgres:unlink', db, app]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await store.config.get(app)).DATABASE_URL, undefined);
    assert.ok(!(await webEnv(app)).some((e) => e.startsWith('DATABASE_URL=')));
    const networks = Object.keys(
      (await docker.getContainer(`berth-postgres-${db}`).inspect()).NetworkSettings.Networks ?? {},
    );
    assert.deepEqual(networks, [`berth.datastore.postgres.${db}`]);
    assert.equal((await run(ada, ['postgres:linked', db, app])).code, 1);
  });

  test('apps:rename: the link moves with the app, whose new instances reach the service', async () => {
    assert.equal((await run(ada, ['postgres:link', db, app])).code, 0);
    const r = await run(ada, ['apps:rename', app, renamed]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(await store.datastores.links('postgres', db), [
      { app: renamed, alias: 'DATABASE' },
    ]);
    const url = (await store.config.get(renamed)).DATABASE_URL ?? '';
    const q = await psqlFrom(renamed, { DATABASE_URL: url }, 'SELECT count(*) FROM t');
    assert.equal(q.code, 0, q.out);
    assert.match(q.out, /^1000$/m);
    const networks = Object.keys(
      (await docker.getContainer(`berth-postgres-${db}`).inspect()).NetworkSettings.Networks ?? {},
    ).sort();
    assert.deepEqual(networks, [`berth.datastore.postgres.${db}`, `berth.${renamed}`]);
  });

  test('apps:destroy keeps the service and its data, and unlinks it', async () => {
    const checksum = await sqlVia(db, CHECKSUM);
    const r = await run(ada, ['apps:destroy', renamed, '--force']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.ok(await store.datastores.get('postgres', db));
    assert.deepEqual(await store.datastores.links('postgres', db), []);
    assert.equal((await docker.getContainer(`berth-postgres-${db}`).inspect()).State.Running, true);
    await docker.getVolume(`berth-postgres-${db}`).inspect();
    assert.equal(await sqlVia(db, CHECKSUM), checksum);
  });

  test('stop, start, destroy: the container, its network and its volume go', async () => {
    assert.equal((await run(ada, ['postgres:stop', db])).code, 0);
    assert.equal((await run(ada, ['postgres:info', db, '--status'])).stdout, 'exited\n');
    const started = await run(ada, ['postgres:start', db]);
    assert.equal(started.code, 0, started.stderr);
    assert.match((await run(ada, ['postgres:logs', db, '-n', '20'])).stdout, /ready to accept/);
    const cancelled = await run(ada, ['postgres:destroy', db], 'nope\n');
    assert.equal(cancelled.code, 2);
    assert.ok(await store.datastores.get('postgres', db));
    const r = await run(ada, ['postgres:destroy', db], `${db}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await store.datastores.get('postgres', db), undefined);
    const filters = { label: [`${LABELS.datastoreName}=${db}`] };
    assert.equal((await docker.listContainers({ all: true, filters })).length, 0);
    assert.equal((await docker.listNetworks({ filters })).length, 0);
    assert.equal(((await docker.listVolumes({ filters })).Volumes ?? []).length, 0);
  });
});
