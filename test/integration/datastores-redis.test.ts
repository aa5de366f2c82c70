// Redis services end to end, with the real Engine, Redis and the Redis
// image built from Debian's packages (kept between runs): create (its
// password in a file of mode 600, AOF every second, maxmemory from
// --memory), link to a deployed app that reaches it through REDIS_URL, an
// app not linked cannot, export | import of the key space, garbage refused,
// hostile input, enter, and expose on loopback (a non-admin refused any
// other address).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { LABELS } from '../../services/core/docker.ts';
import { exportDatastore } from '../../services/platform/datastores/data.ts';
import { imageRef } from '../../services/platform/datastores/image.ts';
import { kindVersion } from '../../services/platform/datastores/kinds.ts';
import { redis } from '../../services/platform/datastores/redis/kind.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { userActor } from '../harness/commands.ts';
import { removeDatastoreFromEngine } from '../harness/datastores.ts';
import { deployText, engineApp, oneOffOn } from '../harness/deploy.ts';
import { removeAppFromEngine } from '../harness/docker.ts';
import { freePort } from '../harness/ports.ts';

const { store, app, docker, ada, run } = await engineApp('dsr', { BERTH_DRAIN_TIMEOUT: '1s' });
const other = `${app}x`;
const db = `kv-${randomBytes(3).toString('hex')}`;
const image = imageRef(redis, kindVersion(redis, undefined));
const scheduler = schedulerNamed('docker-local', { docker });
const bob = userActor('bob', 'user');
const figures: Record<string, string> = {};
let dump = Buffer.alloc(0);

after(async () => {
  await removeDatastoreFromEngine(docker, 'redis', db);
  await removeAppFromEngine(docker, other);
  process.stderr.write(`# redis figures: ${JSON.stringify(figures)}\n`);
});

const deploy = (name: string, text: string) => deployText(store, scheduler, name, text);

/** A one-off of the Redis image on `appName`'s network running `command` (sh): its output and exit code. */
async function clientFrom(appName: string, env: Record<string, string>, command: string) {
  return oneOffOn(scheduler, appName, image, command, env);
}

// The key space's checksum, whatever the order of its keys: each key with its type and value.
const CHECKSUM = `local ks = redis.call('KEYS', '*') table.sort(ks) local out = {}
for _, k in ipairs(ks) do
  local t = redis.call('TYPE', k).ok local v = t
  if t == 'string' then v = redis.call('GET', k)
  elseif t == 'list' then v = table.concat(redis.call('LRANGE', k, 0, -1), '|')
  elseif t == 'hash' then v = table.concat(redis.call('HGETALL', k), '|') end
  out[#out + 1] = k .. '=' .. t .. '=' .. v
end
return #ks .. ' ' .. redis.sha1hex(table.concat(out, '\\n'))`;

/** redis-cli in the server's container (redis:enter), with these arguments: its output. */
async function cli(...args: string[]): Promise<string> {
  const r = await run(ada, [
    'redis:enter',
    db,
    '/usr/local/bin/berth-datastore',
    'client',
    ...args,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}
const checksum = () => cli('EVAL', CHECKSUM, '0');

/** A RESP exchange with the published port from the host: the replies, or the error. */
function fromHost(port: number, password: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let got = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write(`AUTH ${password}\r\nPING\r\nQUIT\r\n`));
    socket.on('data', (c) => {
      got += c.toString();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', (e) => resolve(`error: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
  });
}

before(async () => {
  await store.users.create('bob', 'user');
  await store.apps.create({ name: other, owner: 'ada' });
  await deploy(app, 'linked');
  await deploy(other, 'other');
});

describe('redis services', { concurrency: false }, () => {
  test('create: answering, its password in a file of mode 600 and in no environment, AOF on, maxmemory set', async () => {
    const started = Date.now();
    const r = await run(ada, ['redis:create', db, '--memory', '256m']);
    figures.create = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const name = `berth-redis-${db}`;
    const info = await docker.getContainer(name).inspect();
    assert.equal(info.State.Status, 'running');
    assert.equal((info.Config as { StopSignal?: string }).StopSignal, 'SIGTERM');
    assert.deepEqual(Object.keys(info.HostConfig.PortBindings ?? {}), []);
    assert.equal(info.Config.Labels?.[LABELS.app], undefined);
    const password = (await store.datastores.get('redis', db))?.password ?? '';
    assert.match(password, /^[0-9a-f]{32}$/);
    assert.ok(!JSON.stringify(info.Config).includes(password));
    const dsn = await run(ada, ['redis:info', db, '--dsn']);
    assert.equal(dsn.stdout, `redis://default:${password}@berth-redis-${db}:6379\n`);
    const shown = await run(ada, ['redis:info', db]);
    assert.ok(!shown.stdout.includes(password), shown.stdout);
    assert.match(shown.stdout, /Health: +ok/);
    assert.match(shown.stdout, /Version: +Redis 8/);
    assert.match(shown.stdout, /Exposed ports: +-/);
    const files = await run(ada, [
      'redis:enter',
      db,
      'stat',
      '-c',
      '%a %U %n',
      '/var/lib/redis/berth-password',
      '/var/lib/redis/redis.conf',
    ]);
    assert.equal(
      files.stdout,
      '600 redis /var/lib/redis/berth-password\n600 redis /var/lib/redis/redis.conf\n',
    );
    assert.equal(await cli('CONFIG', 'GET', 'appendonly'), 'appendonly\nyes');
    assert.equal(await cli('CONFIG', 'GET', 'appendfsync'), 'appendfsync\neverysec');
    assert.equal(await cli('CONFIG', 'GET', 'maxmemory-policy'), 'maxmemory-policy\nnoeviction');
    const maxmemory = Number((await cli('CONFIG', 'GET', 'maxmemory')).split('\n')[1]);
    assert.equal(maxmemory, Math.floor((256 * 1024 * 1024) / 10) * 7);
    // The server runs as redis, not root.
    assert.match(await cli('INFO', 'server'), /process_id:1\b/);
    const ps = await run(ada, ['redis:enter', db, 'stat', '-c', '%U', '/proc/1']);
    assert.equal(ps.stdout, 'redis\n');
  });

  test('link: the app gets REDIS_URL, rolls out, and a client on its network uses it', async () => {
    const started = Date.now();
    const r = await run(ada, ['redis:link', db, app]);
    figures.link = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Linked Redis service .* as REDIS_URL/);
    const url = (await store.config.get(app)).REDIS_URL ?? '';
    assert.equal(url, (await run(ada, ['redis:info', db, '--dsn'])).stdout.trim());
    const queried = Date.now();
    const q = await clientFrom(
      app,
      { REDIS_URL: url },
      'redis-cli -u "$REDIS_URL" --no-auth-warning PING',
    );
    figures.firstQuery = `${((Date.now() - queried) / 1000).toFixed(1)} s (a one-off container with redis-cli)`;
    assert.equal(q.code, 0, q.out);
    assert.match(q.out, /^PONG$/m);
    const made = await clientFrom(
      app,
      { REDIS_URL: url },
      `seq 1 1000 | sed 's/.*/SET key:& value-&/' | redis-cli -u "$REDIS_URL" --no-auth-warning >/dev/null && redis-cli -u "$REDIS_URL" --no-auth-warning RPUSH queue a b c && redis-cli -u "$REDIS_URL" --no-auth-warning HSET h f1 v1 f2 v2 && redis-cli -u "$REDIS_URL" --no-auth-warning DBSIZE`,
    );
    assert.equal(made.code, 0, made.out);
    assert.match(made.out, /^1002$/m);
    // Without the password: refused.
    const bare = await clientFrom(app, {}, `redis-cli -h berth-redis-${db} GET key:1`);
    assert.match(bare.out, /NOAUTH/);
  });

  test('20 redeploys of the app and a restart of the service: the key space as it was, reached through the same REDIS_URL', async () => {
    const before = await checksum();
    const started = Date.now();
    for (let i = 1; i <= 20; i++) {
      const r = await run(ada, ['config:set', app, `ROUND=${i}`]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
    }
    figures.redeploys = `20 in ${((Date.now() - started) / 1000).toFixed(1)} s`;
    const restarted = await run(ada, ['redis:restart', db]);
    assert.equal(restarted.code, 0, restarted.stderr);
    let after = '';
    for (let tries = 0; tries < 60 && after !== before; tries++) {
      after = await checksum().catch(() => '');
      if (after !== before) await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(after, before, 'the key space after the restart');
    const q = await clientFrom(
      app,
      { REDIS_URL: (await store.config.get(app)).REDIS_URL ?? '' },
      'redis-cli -u "$REDIS_URL" --no-auth-warning DBSIZE',
    );
    assert.equal(q.code, 0, q.out);
    assert.match(q.out, /^1002$/m);
  });

  test('an app not linked cannot reach it, by name or by address', async () => {
    const url = (await store.config.get(app)).REDIS_URL ?? '';
    const byName = await clientFrom(
      other,
      { REDIS_URL: url },
      'timeout 5 redis-cli -u "$REDIS_URL" --no-auth-warning PING',
    );
    assert.doesNotMatch(byName.out, /PONG/);
    assert.match(byName.out, /Name or service not known|Could not connect|Temporary failure/i);
    const addresses = Object.values(
      (await docker.getContainer(`berth-redis-${db}`).inspect()).NetworkSettings.Networks ?? {},
    ).map((n) => n.IPAddress ?? '');
    assert.ok(addresses.length >= 2);
    for (const address of addresses) {
      const byAddress = await clientFrom(
        other,
        { REDIS_URL: url.replace(`berth-redis-${db}`, address) },
        'timeout 5 redis-cli -u "$REDIS_URL" --no-auth-warning PING',
      );
      assert.doesNotMatch(byAddress.out, /PONG/, address);
    }
  });

  test('export | import: the RDB brings the key space back as it was', async () => {
    const before = await checksum();
    assert.match(before, /^1002 [0-9a-f]{40}$/);
    // Through the platform's export, to keep the bytes (the runner's stdout is text).
    const ds = await store.datastores.get('redis', db);
    assert.ok(ds);
    const chunks: Buffer[] = [];
    const out = new PassThrough();
    out.on('data', (c: Buffer) => chunks.push(c));
    const started = Date.now();
    await exportDatastore({ docker }, redis, ds, out, AbortSignal.timeout(60_000));
    figures.export = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    dump = Buffer.concat(chunks);
    assert.equal(dump.subarray(0, 5).toString(), 'REDIS');
    await cli('DEL', 'key:1', 'queue');
    await cli('SET', 'later', 'x');
    assert.notEqual(await checksum(), before);
    const imported = await run(ada, ['redis:import', db], dump);
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(await checksum(), before);
    // The link still works, and the service is a primary again (writes accepted).
    assert.match(await cli('INFO', 'replication'), /role:master/);
    assert.equal(await cli('SET', 'after-import', '1'), 'OK');
    await cli('DEL', 'after-import');
  });

  test('garbage, a cut dump and a dump too big are refused in one line, nothing changed', async () => {
    const before = await checksum();
    for (const [input, message] of [
      [Buffer.from('FLUSHALL\n'), /refused, nothing changed: berth: not a Redis dump/],
      [
        dump.subarray(0, dump.length - 100),
        /refused, nothing changed: berth: not a dump this Redis loads/,
      ],
      [Buffer.alloc(0), /refused, nothing changed: berth: not a Redis dump/],
    ] as const) {
      const r = await run(ada, ['redis:import', db], input);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.equal(await checksum(), before);
  });

  test('hostile input is refused in one line and changes nothing', async () => {
    const before = await checksum();
    const services = JSON.stringify(await store.datastores.list());
    const cases: [string[], RegExp][] = [
      [['redis:create', 'Shop'], /invalid service name "Shop"/],
      [['redis:create', 'a;rm -rf'], /invalid service name/],
      [['redis:create', 'okname', '--image-version', '6'], /has no version "6"/],
      [['redis:create', 'okname', '--password', 'abc def0123456789'], /invalid password/],
      [
        ['redis:create', 'okname', '--password', 'abcdef0123456789\nrequirepass x'],
        /invalid password/,
      ],
      [['redis:create', 'okname', '--password', 'abcdef0123456789"'], /invalid password/],
      [['redis:expose', db, '0.0.0.0:20000'], /publishing a service on 0.0.0.0.* is for admins/],
      [['redis:expose', db, '[::]:20000'], /publishing a service on ::, .*is for admins/],
      [['redis:expose', db, '10.1.2.3:20000'], /is for admins/],
      [['redis:expose', db, 'localhost:20000'], /invalid address/],
      [['redis:expose', db, '127.0.0.1:80'], /invalid port .*1024 to 65535/],
      [['redis:expose', db, '127.0.0.1:99999'], /invalid port/],
      [['redis:expose', db, '127.0.0.1:2000;x'], /invalid address/],
      [['redis:unexpose', db], /is not exposed/],
      [['redis:enter', `${db}x`], /no Redis service named/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(ada, argv);
      assert.notEqual(r.code, 0, argv.join(' '));
      assert.match(r.stderr, message, argv.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `${argv.join(' ')}: ${r.stderr}`);
      if (argv.includes('--password')) assert.ok(!r.stderr.includes('abcdef0123'), r.stderr);
    }
    for (const argv of [
      ['redis:enter', db, 'id'],
      ['redis:expose', db, '20000'],
      ['redis:connect', db],
    ]) {
      const r = await run(bob, argv);
      assert.equal(r.code, 1, argv.join(' '));
      assert.match(r.stderr, new RegExp(`no Redis service named "${db}"`));
    }
    assert.equal(await checksum(), before);
    assert.equal(JSON.stringify(await store.datastores.list()), services);
    assert.deepEqual(
      Object.keys(
        (await docker.getContainer(`berth-redis-${db}`).inspect()).HostConfig.PortBindings ?? {},
      ),
      [],
    );
  });

  test('enter: a shell in its container, as root; stdin read without a terminal', async () => {
    const r = await run(ada, ['redis:enter', db], 'id -un; ls /var/lib/redis/berth-password\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'root\n/var/lib/redis/berth-password\n');
    const failed = await run(ada, ['redis:enter', db, 'false']);
    assert.equal(failed.code, 1);
  });

  test('expose on loopback: reachable from the host with the password; unexpose closes it; links survive', async () => {
    const port = await freePort();
    const password = (await store.datastores.get('redis', db))?.password ?? '';
    const before = await checksum();
    const r = await run(ada, ['redis:expose', db, String(port)]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`published on 127.0.0.1:${port}`));
    const bindings = (await docker.getContainer(`berth-redis-${db}`).inspect()).HostConfig
      .PortBindings;
    assert.deepEqual(bindings, { '6379/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
    assert.equal(
      (await run(ada, ['redis:info', db, '--exposed-ports'])).stdout,
      `127.0.0.1:${port}->6379\n`,
    );
    assert.equal(await fromHost(port, password), '+OK\r\n+PONG\r\n+OK\r\n');
    assert.match(await fromHost(port, 'wrong-password-0000'), /WRONGPASS|invalid password/);
    // The data and the link came through the new container.
    assert.equal(await checksum(), before);
    const url = (await store.config.get(app)).REDIS_URL ?? '';
    const q = await clientFrom(
      app,
      { REDIS_URL: url },
      'redis-cli -u "$REDIS_URL" --no-auth-warning GET key:7',
    );
    assert.match(q.out, /^value-7$/m);
    // A port taken on the host: refused, the service as it was.
    const blocker = net.createServer().listen(await freePort(), '127.0.0.1');
    await new Promise((res) => blocker.once('listening', res));
    const taken = (blocker.address() as net.AddressInfo).port;
    const refused = await run(ada, ['redis:expose', db, `127.0.0.1:${taken}`]);
    blocker.close();
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /could not be published on 127.0.0.1:\d+ .*it serves as before/);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    assert.equal(
      (await run(ada, ['redis:info', db, '--exposed-ports'])).stdout,
      `127.0.0.1:${port}->6379\n`,
    );
    assert.equal(await fromHost(port, password), '+OK\r\n+PONG\r\n+OK\r\n');
    const closed = await run(ada, ['redis:unexpose', db]);
    assert.equal(closed.code, 0, closed.stderr);
    assert.match(await fromHost(port, password), /^error: ECONNREFUSED/);
    assert.equal((await run(ada, ['redis:info', db, '--exposed-ports'])).stdout, '-\n');
    assert.equal((await run(ada, ['redis:info', db, '--health'])).stdout, 'ok\n');
    assert.equal(await checksum(), before);
  });

  test('unlink and destroy: the var goes, then the container, its network and its volume', async () => {
    assert.equal((await run(ada, ['redis:unlink', db, app])).code, 0);
    assert.equal((await store.config.get(app)).REDIS_URL, undefined);
    const r = await run(ada, ['redis:destroy', db, '--force']);
    assert.equal(r.code, 0, r.stderr);
    const filters = { label: [`${LABELS.datastoreName}=${db}`] };
    assert.equal((await docker.listContainers({ all: true, filters })).length, 0);
    assert.equal(((await docker.listVolumes({ filters })).Volumes ?? []).length, 0);
  });
});
