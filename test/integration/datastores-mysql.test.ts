// MySQL (MariaDB) services end to end, with the real Engine, Redis and the
// MariaDB image built from Debian's packages (kept between runs): create,
// link to a deployed app that reaches its database through DATABASE_URL
// (mysql://), an app not linked cannot, export | import of a table, garbage
// and cut dumps refused with nothing changed, hostile input, and expose on
// loopback (a non-admin refused any other address).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { LABELS } from '../../services/core/docker.ts';
import { imageRef } from '../../services/platform/datastores/image.ts';
import { kindVersion } from '../../services/platform/datastores/kinds.ts';
import { mysql } from '../../services/platform/datastores/mysql/kind.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { userActor } from '../harness/commands.ts';
import { removeDatastoreFromEngine } from '../harness/datastores.ts';
import { deployText, engineApp, oneOffOn } from '../harness/deploy.ts';
import { removeAppFromEngine } from '../harness/docker.ts';
import { freePort } from '../harness/ports.ts';

const { store, app, docker, ada, run } = await engineApp('dsm', { BERTH_DRAIN_TIMEOUT: '1s' });
const other = `${app}x`;
const db = `shop-${randomBytes(3).toString('hex')}`;
const image = imageRef(mysql, kindVersion(mysql, undefined));
const scheduler = schedulerNamed('docker-local', { docker });
const bob = userActor('bob', 'user');
const figures: Record<string, string> = {};
let dump = '';

after(async () => {
  await removeDatastoreFromEngine(docker, 'mysql', db);
  await removeAppFromEngine(docker, other);
  process.stderr.write(`# mysql figures: ${JSON.stringify(figures)}\n`);
});

const deploy = (name: string, text: string) => deployText(store, scheduler, name, text);

// The mariadb client takes no URL: the one-off takes DATABASE_URL apart.
const FROM_URL =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: sh's parameter expansions, not a template
  'u=${DATABASE_URL#mysql://}; user=${u%%:*}; u=${u#*:}; pass=${u%%@*}; u=${u#*@}; host=${u%%:*}; u=${u#*:}; port=${u%%/*}; name=${u#*/}; ' +
  'exec timeout 10 mariadb --connect-timeout=3 -h "$host" -P "$port" -u "$user" -p"$pass" -N "$name"';

/** SQL from a one-off of the MariaDB image on `appName`'s network, through DATABASE_URL. */
async function sqlFrom(appName: string, url: string, sql: string) {
  return oneOffOn(scheduler, appName, image, `echo "${sql}" | sh -c '${FROM_URL}'`, {
    DATABASE_URL: url,
  });
}

/** SQL through mysql:connect (stdin, no terminal): its output. */
async function sqlVia(sql: string): Promise<string> {
  const r = await run(ada, ['mysql:connect', db], `${sql}\n`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}
const checksum = async () =>
  (await sqlVia("SELECT MD5(GROUP_CONCAT(n, ':', s ORDER BY n)) AS sum FROM t;")).split('\n')[1];

before(async () => {
  await store.users.create('bob', 'user');
  await store.apps.create({ name: other, owner: 'ada' });
  await deploy(app, 'linked');
  await deploy(other, 'other');
});

describe('mysql services', { concurrency: false }, () => {
  test('create: MariaDB answering, its password in no environment, mysql:// DSN', async () => {
    const started = Date.now();
    const r = await run(ada, ['mysql:create', db]);
    figures.create = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const info = await docker.getContainer(`berth-mysql-${db}`).inspect();
    assert.equal(info.State.Status, 'running');
    assert.equal((info.Config as { StopSignal?: string }).StopSignal, 'SIGTERM');
    assert.equal(info.Config.Labels?.[LABELS.app], undefined);
    const password = (await store.datastores.get('mysql', db))?.password ?? '';
    assert.ok(!JSON.stringify(info.Config).includes(password));
    const dsn = await run(ada, ['mysql:info', db, '--dsn']);
    assert.equal(
      dsn.stdout,
      `mysql://mysql:${password}@berth-mysql-${db}:3306/${db.replaceAll('-', '_')}\n`,
    );
    const shown = await run(ada, ['mysql:info', db]);
    assert.ok(!shown.stdout.includes(password), shown.stdout);
    assert.match(shown.stdout, /Health: +ok/);
    assert.match(shown.stdout, /Version: +MySQL \(MariaDB\) 11\.8/);
    // The server runs as mysql; root logs in over the socket only.
    assert.equal(
      (await run(ada, ['mysql:enter', db, 'stat', '-c', '%U', '/proc/1'])).stdout,
      'mysql\n',
    );
    assert.match(
      await sqlVia("SELECT CONCAT(User, '@', Host, ' ', plugin) FROM mysql.user ORDER BY User;"),
      /mysql@% mysql_native_password[\s\S]*root@localhost/,
    );
  });

  test('link: the app gets DATABASE_URL and a client on its network uses it', async () => {
    const started = Date.now();
    const r = await run(ada, ['mysql:link', db, app]);
    figures.link = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Linked MySQL \(MariaDB\) service .* as DATABASE_URL/);
    const url = (await store.config.get(app)).DATABASE_URL ?? '';
    assert.match(url, /^mysql:\/\/mysql:/);
    const queried = Date.now();
    const q = await sqlFrom(app, url, 'SELECT 40 + 2');
    figures.firstQuery = `${((Date.now() - queried) / 1000).toFixed(1)} s (a one-off container with mariadb)`;
    assert.equal(q.code, 0, q.out);
    assert.match(q.out, /^42$/m);
    const made = await sqlFrom(
      app,
      url,
      "CREATE TABLE t (n INT PRIMARY KEY, s VARCHAR(40)); INSERT INTO t SELECT seq, CONCAT('row ', seq) FROM seq_1_to_1000; SELECT COUNT(*) FROM t",
    );
    assert.equal(made.code, 0, made.out);
    assert.match(made.out, /^1000$/m);
    // The user is allowed its database only.
    const elsewhere = await sqlFrom(app, url, 'SELECT COUNT(*) FROM mysql.user');
    assert.notEqual(elsewhere.code, 0, elsewhere.out);
    assert.match(elsewhere.out, /denied/);
  });

  test('an app not linked cannot reach it, by name or by address', async () => {
    const url = (await store.config.get(app)).DATABASE_URL ?? '';
    const byName = await sqlFrom(other, url, 'SELECT 1');
    assert.notEqual(byName.code, 0, byName.out);
    const addresses = Object.values(
      (await docker.getContainer(`berth-mysql-${db}`).inspect()).NetworkSettings.Networks ?? {},
    ).map((n) => n.IPAddress ?? '');
    assert.ok(addresses.length >= 2);
    for (const address of addresses) {
      const byAddress = await sqlFrom(other, url.replace(`berth-mysql-${db}`, address), 'SELECT 1');
      assert.notEqual(byAddress.code, 0, `${address}: ${byAddress.out}`);
      assert.match(byAddress.out, /Can't connect|timed out|Lost connection/i, address);
    }
  });

  test('export | import: the dump brings the table back as it was', async () => {
    const before = await checksum();
    assert.match(before ?? '', /^[0-9a-f]{32}$/);
    const started = Date.now();
    const r = await run(ada, ['mysql:export', db]);
    figures.export = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    assert.equal(r.code, 0, r.stderr);
    dump = r.stdout;
    assert.match(dump.split('\n').slice(0, 3).join('\n'), /^-- MariaDB dump/m);
    await sqlVia("DELETE FROM t WHERE n > 500; INSERT INTO t VALUES (5000, 'later');");
    assert.notEqual(await checksum(), before);
    const imported = await run(ada, ['mysql:import', db], dump);
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(await checksum(), before);
  });

  test('garbage and a cut dump are refused in one line, nothing changed', async () => {
    const before = await checksum();
    const databases = await sqlVia('SHOW DATABASES;');
    for (const [input, message] of [
      ['DROP TABLE t;\n', /refused, nothing changed: berth: not a dump of mariadb-dump/],
      [
        dump.slice(0, Math.floor(dump.length / 2)),
        /refused, nothing changed: berth: the dump does not load: ERROR/,
      ],
      [
        `${dump.split('\n').slice(0, 3).join('\n')}\nDROP TABLE t;\n`,
        /refused, nothing changed: berth: the dump does not load: ERROR 1051/,
      ],
    ] as const) {
      const r = await run(ada, ['mysql:import', db], input);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.equal(await checksum(), before);
    // No scratch database is left.
    assert.equal(await sqlVia('SHOW DATABASES;'), databases);
  });

  test('hostile input is refused in one line and changes nothing', async () => {
    const services = JSON.stringify(await store.datastores.list());
    const cases: [string[], RegExp][] = [
      [['mysql:create', 'Shop'], /invalid service name "Shop"/],
      [['mysql:create', 'a`b'], /invalid service name/],
      [['mysql:create', 'okname', '--image-version', '8.0'], /has no version "8.0"/],
      [
        ['mysql:create', 'okname', '--password', "abcdef0123456789'; DROP USER x"],
        /invalid password/,
      ],
      [['mysql:create', 'okname', '--password', 'abcdef0123456789\\'], /invalid password/],
      [['mysql:expose', db, '0.0.0.0:20000'], /is for admins/],
      [['mysql:expose', db, '192.168.1.1:20000'], /is for admins/],
      [['mysql:expose', db, '1023'], /invalid port .*1024 to 65535/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(ada, argv);
      assert.notEqual(r.code, 0, argv.join(' '));
      assert.match(r.stderr, message, argv.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `${argv.join(' ')}: ${r.stderr}`);
      if (argv.includes('--password')) assert.ok(!r.stderr.includes('abcdef0123'), r.stderr);
    }
    const r = await run(bob, ['mysql:enter', db]);
    assert.match(r.stderr, /no MySQL \(MariaDB\) service named/);
    assert.equal(JSON.stringify(await store.datastores.list()), services);
  });

  test('expose on loopback: the server greets a client on the host; unexpose closes it', async () => {
    const port = await freePort();
    const r = await run(ada, ['mysql:expose', db, `127.0.0.1:${port}`]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const greeting = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.setTimeout(5000, () => socket.destroy());
      socket.once('data', (c) => {
        resolve(c.toString('latin1'));
        socket.destroy();
      });
      socket.on('error', (e) => resolve(`error: ${(e as NodeJS.ErrnoException).code}`));
    });
    assert.match(greeting, /MariaDB/);
    const url = (await store.config.get(app)).DATABASE_URL ?? '';
    assert.match((await sqlFrom(app, url, 'SELECT COUNT(*) FROM t')).out, /^1000$/m);
    assert.equal((await run(ada, ['mysql:unexpose', db])).code, 0);
    const refused = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.on('connect', () => resolve('connected'));
      socket.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? ''));
    });
    assert.equal(refused, 'ECONNREFUSED');
  });

  test('unlink and destroy', async () => {
    assert.equal((await run(ada, ['mysql:unlink', db, app])).code, 0);
    assert.equal((await run(ada, ['mysql:destroy', db, '--force'])).code, 0);
    const filters = { label: [`${LABELS.datastoreName}=${db}`] };
    assert.equal(((await docker.listVolumes({ filters })).Volumes ?? []).length, 0);
  });
});
