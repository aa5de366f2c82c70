// The store against a real redis-server: every repository's happy path, the
// atomicity that the Lua scripts promise, input refused before Redis sees it,
// and the durability acceptance test (an acknowledged write survives kill -9).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { domainToASCII } from 'node:url';
import { Redis } from 'ioredis';
import { BerthError, type ErrorCode } from '../../services/core/errors.ts';
import {
  checkDurability,
  keyLayout,
  LUA_LAYOUT,
  type NewRelease,
  openStore,
  SCHEMA_VERSION,
  Store,
} from '../../services/core/store/index.ts';
import { freePort } from '../harness/ports.ts';
import { privateRedis, redisClient, testPrefix } from '../harness/redis.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
await store.checkSchema();
// A second connection, so that "concurrent" means two clients racing in Redis.
const redis2 = await redisClient(prefix);
const store2 = new Store(redis2, prefix);

const fails = (code: ErrorCode) => (e: unknown) => {
  assert.ok(e instanceof BerthError, `expected ${code}, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  return true;
};

/** Every key under a prefix, via SCAN. */
async function keysUnder(client: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', '1000');
    found.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return found.sort();
}

/** The full content under the prefix, to assert that a refused call changed nothing. */
async function snapshot(client: Redis = redis, p: string = prefix): Promise<string> {
  const out: Record<string, unknown> = {};
  for (const key of await keysUnder(client, `${p}*`)) {
    const type = await client.type(key);
    if (type === 'string') out[key] = await client.get(key);
    else if (type === 'hash') out[key] = Object.entries(await client.hgetall(key)).sort();
    else if (type === 'set') out[key] = (await client.smembers(key)).sort();
    else if (type === 'zset') out[key] = await client.zrange(key, '0', '-1', 'WITHSCORES');
    else out[key] = type;
  }
  return JSON.stringify(out);
}

/** A fresh ed25519 public key line, made without spawning ssh-keygen. */
function newKey(comment = 'test@berth'): { line: string; blob: Buffer } {
  const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const blob = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw.subarray(-32))]);
  return { line: `ssh-ed25519 ${blob.toString('base64')} ${comment}`, blob };
}

let seq = 0;
/** A unique name, so tests sharing this file's prefix do not collide. */
const unique = (base: string) => `${base}-${++seq}`;

async function userAndApp(): Promise<{ user: string; app: string }> {
  const user = unique('owner');
  await store.users.create(user);
  const app = unique('app');
  await store.apps.create({ name: app, owner: user });
  return { user, app };
}

describe('apps', () => {
  test('create, get, list, branch, owner and collaborators', async () => {
    const { user, app } = await userAndApp();
    const got = await store.apps.require(app);
    assert.equal(got.owner, user);
    assert.equal(got.deployBranch, 'main');
    assert.deepEqual(got.collaborators, []);
    assert.ok(!Number.isNaN(Date.parse(got.createdAt)));
    assert.ok(await store.apps.exists(app));
    assert.equal(await store.apps.get('no-such-app'), undefined);
    await assert.rejects(store.apps.require('no-such-app'), fails('BERTH_E_APP_NOT_FOUND'));
    assert.ok((await store.apps.names()).includes(app));
    assert.deepEqual(
      (await store.apps.list()).find((a) => a.name === app),
      got,
    );

    await store.apps.setDeployBranch(app, 'release/v2');
    assert.equal((await store.apps.require(app)).deployBranch, 'release/v2');
    await assert.rejects(store.apps.setDeployBranch(app, '../x'), fails('BERTH_E_INVALID_NAME'));

    const other = unique('collab');
    await store.users.create(other);
    assert.equal(await store.apps.addCollaborator(app, other), true);
    assert.equal(await store.apps.addCollaborator(app, other), false);
    assert.equal(
      await store.apps.addCollaborator(app, user),
      false,
      'the owner is no collaborator',
    );
    await assert.rejects(store.apps.addCollaborator(app, 'ghost'), fails('BERTH_E_USER_NOT_FOUND'));
    assert.deepEqual((await store.apps.require(app)).collaborators, [other]);

    await store.apps.setOwner(app, other);
    const moved = await store.apps.require(app);
    assert.equal(moved.owner, other);
    assert.deepEqual(moved.collaborators, [], 'the new owner stops being a collaborator');
    assert.equal(await store.apps.removeCollaborator(app, other), false);
  });

  test('a taken name or an unknown owner is refused and changes nothing', async () => {
    const { user, app } = await userAndApp();
    const before = await snapshot();
    await assert.rejects(
      store.apps.create({ name: app, owner: user }),
      fails('BERTH_E_APP_EXISTS'),
    );
    await assert.rejects(
      store.apps.create({ name: unique('a'), owner: 'ghost' }),
      fails('BERTH_E_USER_NOT_FOUND'),
    );
    assert.equal(await snapshot(), before);
  });

  test('concurrent creates of one name from two clients: exactly one wins', async () => {
    const owner = unique('racer');
    await store.users.create(owner);
    const name = unique('contested');
    const attempts = Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? store : store2).apps.create({ name, owner }),
    );
    const results = await Promise.allSettled(attempts);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') fails('BERTH_E_APP_EXISTS')(r.reason);
  });
});

describe('users and SSH keys', () => {
  test('create, get, list, role', async () => {
    const name = unique('user');
    const created = await store.users.create(name, 'admin');
    assert.deepEqual(await store.users.get(name), created);
    assert.equal(created.role, 'admin');
    await assert.rejects(store.users.create(name), fails('BERTH_E_USER_EXISTS'));
    await store.users.setRole(name, 'user');
    assert.equal((await store.users.get(name))?.role, 'user');
    assert.ok((await store.users.list()).some((u) => u.name === name));
    await assert.rejects(
      store.users.setRole(name, 'root' as 'admin'),
      fails('BERTH_E_INVALID_NAME'),
    );
    await assert.rejects(store.users.setRole('ghost', 'admin'), fails('BERTH_E_USER_NOT_FOUND'));
  });

  test('addKey, O(1) lookup by fingerprint, identify, list, remove', async () => {
    const user = unique('keyholder');
    await store.users.create(user);
    const { line, blob } = newKey('alice@laptop');
    const added = await store.users.addKey(user, line);
    assert.match(added.fingerprint, /^SHA256:/);
    assert.equal(added.comment, 'alice@laptop');
    assert.deepEqual(await store.users.findKey(added.fingerprint), added);
    assert.equal(await redis.hget(store.keys.sshKey(added.fingerprint), 'user'), user);

    const who = await store.users.identify(blob);
    assert.equal(who?.user.name, user);
    assert.equal(who?.key.fingerprint, added.fingerprint);
    assert.equal(await store.users.identify(newKey().blob), undefined);

    const second = await store.users.addKey(user, newKey().line);
    const mine = await store.users.listKeys(user);
    assert.deepEqual(
      mine.map((k) => k.fingerprint).sort(),
      [added.fingerprint, second.fingerprint].sort(),
    );
    assert.ok((await store.users.listKeys()).length >= 2);

    const stranger = unique('stranger');
    await store.users.create(stranger);
    await assert.rejects(
      store.users.removeKey(added.fingerprint, stranger),
      fails('BERTH_E_KEY_NOT_FOUND'),
    );
    assert.equal((await store.users.removeKey(added.fingerprint, user)).user, user);
    assert.equal(await store.users.findKey(added.fingerprint), undefined);
    await assert.rejects(store.users.removeKey(added.fingerprint), fails('BERTH_E_KEY_NOT_FOUND'));
    assert.deepEqual(
      (await store.users.listKeys(user)).map((k) => k.fingerprint),
      [second.fingerprint],
    );
  });

  test('a key belongs to one user: a second registration is refused, even in a race', async () => {
    const [a, b] = [unique('ka'), unique('kb')];
    await store.users.create(a);
    await store.users.create(b);
    const { line } = newKey();
    const results = await Promise.allSettled([
      store.users.addKey(a, line),
      store2.users.addKey(b, line),
      store.users.addKey(b, line),
      store2.users.addKey(a, line),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    for (const r of results) if (r.status === 'rejected') fails('BERTH_E_KEY_EXISTS')(r.reason);
    const before = await snapshot();
    await assert.rejects(store.users.addKey(a, line), (e: unknown) => {
      fails('BERTH_E_KEY_EXISTS')(e);
      assert.match((e as BerthError).toLine(), /already registered to user "k[ab]-\d+" \(SHA256:/);
      return true;
    });
    await assert.rejects(
      store.users.addKey(a, 'ssh-ed25519 garbage'),
      fails('BERTH_E_KEY_INVALID'),
    );
    await assert.rejects(
      store.users.addKey('ghost', newKey().line),
      fails('BERTH_E_USER_NOT_FOUND'),
    );
    assert.equal(await snapshot(), before);
  });

  test('removing a user removes its keys and collaborations; an owner of apps is refused', async () => {
    const { user: owner, app } = await userAndApp();
    const user = unique('leaver');
    await store.users.create(user);
    const key = await store.users.addKey(user, newKey().line);
    await store.apps.addCollaborator(app, user);

    const before = await snapshot();
    await assert.rejects(store.users.remove(owner), (e: unknown) => {
      fails('BERTH_E_USER_HAS_APPS')(e);
      assert.match((e as BerthError).message, new RegExp(app));
      return true;
    });
    assert.equal(await snapshot(), before);

    await store.users.remove(user);
    assert.equal(await store.users.get(user), undefined);
    assert.equal(await store.users.findKey(key.fingerprint), undefined);
    assert.deepEqual((await store.apps.require(app)).collaborators, []);
    assert.deepEqual(await keysUnder(redis, `${prefix}user:${user}*`), []);
    assert.deepEqual(
      await keysUnder(redis, store.keys.sshKey(key.fingerprint).replace(/[*?[\]]/g, '\\$&')),
      [],
    );
    await assert.rejects(store.users.remove(user), fails('BERTH_E_USER_NOT_FOUND'));
  });
});

describe('config vars', () => {
  test('set, get, unset; any text but NUL round-trips', async () => {
    const { app } = await userAndApp();
    const exotic = 'line one\nline two\t"quoted" \'single\' $HOME `cmd` = ; é ü 日本 🚢 \\ \r end';
    await store.config.set(app, { DATABASE_URL: 'postgres://u:p@h/db', EXOTIC: exotic, EMPTY: '' });
    assert.deepEqual(await store.config.get(app), {
      DATABASE_URL: 'postgres://u:p@h/db',
      EXOTIC: exotic,
      EMPTY: '',
    });
    assert.equal(await store.config.unset(app, ['EMPTY', 'NOT_SET']), 1);
    assert.deepEqual(Object.keys(await store.config.get(app)).sort(), ['DATABASE_URL', 'EXOTIC']);

    const before = await snapshot();
    await assert.rejects(
      store.config.set(app, { A: 'x', B: 'nul\0byte' }),
      fails('BERTH_E_INVALID_NAME'),
    );
    await assert.rejects(
      store.config.set(app, { BERTH_SECRET: 'x' }),
      fails('BERTH_E_INVALID_NAME'),
    );
    await assert.rejects(store.config.set(app, { 'A B': 'x' }), fails('BERTH_E_INVALID_NAME'));
    await assert.rejects(
      store.config.set(app, { BIG: 'x'.repeat(200_000) }),
      fails('BERTH_E_INVALID_NAME'),
    );
    await assert.rejects(store.config.set('no-app', { A: 'x' }), fails('BERTH_E_APP_NOT_FOUND'));
    await assert.rejects(store.config.get('no-app'), fails('BERTH_E_APP_NOT_FOUND'));
    assert.equal(await snapshot(), before);
  });

  test('a NUL refusal does not quote the secret value', async () => {
    const { app } = await userAndApp();
    await assert.rejects(store.config.set(app, { TOKEN: 'hunter2\0' }), (e: unknown) => {
      fails('BERTH_E_INVALID_NAME')(e);
      assert.doesNotMatch((e as BerthError).toLine(), /hunter2/);
      return true;
    });
  });
});

describe('releases', () => {
  test('versions, inheritance of image and formation, config snapshot, status', async () => {
    const { user, app } = await userAndApp();
    assert.equal(await store.releases.latest(app), undefined);
    await store.config.set(app, { FOO: 'one' });
    const v1 = await store.releases.create(app, {
      image: 'berth/app:v1',
      formation: { web: 2, worker: 1 },
      description: 'Deploy 3f2a1c9',
      by: user,
    });
    assert.equal(v1.version, 1);
    assert.equal(v1.status, 'pending');
    assert.deepEqual(v1.config, { FOO: 'one' });
    assert.deepEqual(v1.formation, { web: 2, worker: 1 });
    await store.releases.setStatus(app, 1, 'succeeded');

    await store.config.set(app, { FOO: 'two', BAR: 'x\ny "z" /' });
    const v2 = await store.releases.create(app, {
      description: 'Set FOO, BAR config vars',
      by: user,
    });
    assert.equal(v2.version, 2);
    assert.equal(v2.image, 'berth/app:v1', 'image inherited');
    assert.deepEqual(v2.formation, { web: 2, worker: 1 }, 'formation inherited');
    assert.deepEqual(v2.config, { FOO: 'two', BAR: 'x\ny "z" /' });
    await store.releases.setStatus(app, 2, 'succeeded');

    const v3 = await store.releases.create(app, {
      image: 'berth/app:broken',
      description: 'Deploy bad',
      by: user,
    });
    await store.releases.setStatus(app, 3, 'failed');
    const v4 = await store.releases.create(app, {
      formation: { web: 3 },
      description: 'Scale',
      by: user,
    });
    assert.equal(v4.image, 'berth/app:v1', 'a failed release is not the base');
    assert.deepEqual(v4.formation, { web: 3 });

    assert.deepEqual((await store.releases.get(app, 3))?.status, 'failed');
    assert.equal(await store.releases.get(app, 99), undefined);
    assert.equal((await store.releases.latest(app))?.version, 4);
    assert.equal((await store.releases.current(app))?.version, 2);
    assert.deepEqual(
      (await store.releases.list(app)).map((r) => r.version),
      [4, 3, 2, 1],
    );
    assert.deepEqual(
      (await store.releases.list(app, { limit: 2 })).map((r) => r.version),
      [4, 3],
    );
    assert.deepEqual(await store.releases.get(app, 1), { ...v1, status: 'succeeded' });
    assert.equal(v3.image, 'berth/app:broken');

    await assert.rejects(
      store.releases.setStatus(app, 99, 'failed'),
      fails('BERTH_E_RELEASE_NOT_FOUND'),
    );
    await assert.rejects(store.releases.get('no-app', 1), fails('BERTH_E_APP_NOT_FOUND'));
    const before = await snapshot();
    await assert.rejects(
      store.releases.create('no-app', { description: 'x', by: user }),
      fails('BERTH_E_APP_NOT_FOUND'),
    );
    const refused: NewRelease[] = [
      { image: 'bad image', description: 'x', by: user },
      { formation: { web: -1 }, description: 'x', by: user },
      { formation: { 'We b': 1 }, description: 'x', by: user },
      { description: 'two\nlines', by: user },
      { description: 'x', by: 'Not A User' },
    ];
    for (const bad of refused) {
      await assert.rejects(store.releases.create(app, bad), fails('BERTH_E_INVALID_NAME'));
    }
    assert.equal(await snapshot(), before);
  });

  test('concurrent creates get distinct consecutive versions', async () => {
    const { user, app } = await userAndApp();
    const made = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 ? store : store2).releases.create(app, {
          image: `img:${i}`,
          description: `r${i}`,
          by: user,
        }),
      ),
    );
    const versions = made.map((r) => r.version).sort((a, b) => a - b);
    assert.deepEqual(
      versions,
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    assert.equal((await store.releases.list(app)).length, 30);
  });
});

describe('domains and certificates', () => {
  test('add, owner, list, all, remove; IDN canonical form', async () => {
    const { app } = await userAndApp();
    const d = `${app}.example.com`;
    assert.equal(await store.domains.add(app, d.toUpperCase()), d);
    assert.equal(await store.domains.add(app, d), d, 'adding it again is a no-op');
    const idn = await store.domains.add(app, `Bücher-${app}.example`);
    assert.equal(idn, domainToASCII(`bücher-${app}.example`));
    assert.match(idn, /^xn--/);
    assert.equal(await store.domains.owner(d), app);
    assert.equal(await store.domains.owner('nobody.example.com'), undefined);
    assert.deepEqual(await store.domains.list(app), [d, idn].sort());
    assert.equal((await store.domains.all()).get(d), app);
    await store.domains.remove(app, d);
    assert.equal(await store.domains.owner(d), undefined);
    await assert.rejects(store.domains.remove(app, d), fails('BERTH_E_DOMAIN_NOT_FOUND'));
  });

  test('a taken domain raises BERTH_E_DOMAIN_TAKEN and changes nothing, even in a race', async () => {
    const { app: first } = await userAndApp();
    const { app: second } = await userAndApp();
    const d = `shop-${first}.example.org`;
    await store.domains.add(first, d);
    const before = await snapshot();
    await assert.rejects(store.domains.add(second, d), (e: unknown) => {
      fails('BERTH_E_DOMAIN_TAKEN')(e);
      assert.equal((e as BerthError).params.app, first);
      return true;
    });
    await assert.rejects(store.domains.remove(second, d), fails('BERTH_E_DOMAIN_NOT_FOUND'));
    await assert.rejects(
      store.domains.add('no-app', 'free.example.org'),
      fails('BERTH_E_APP_NOT_FOUND'),
    );
    assert.equal(await snapshot(), before);

    const contested = `race-${first}.example.org`;
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? store : store2).domains.add(i % 2 ? first : second, contested),
      ),
    );
    const winner = await store.domains.owner(contested);
    assert.ok(winner === first || winner === second);
    for (const [i, r] of results.entries()) {
      // The winner's own repeats succeed as no-ops; every attempt of the other app fails.
      if ((i % 2 ? first : second) === winner) assert.equal(r.status, 'fulfilled');
      else assert.ok(r.status === 'rejected' && fails('BERTH_E_DOMAIN_TAKEN')(r.reason));
    }
    const loser = winner === first ? second : first;
    assert.ok(!(await store.domains.list(loser)).includes(contested));
  });

  test('certificate metadata: set, patch, list, platform domains, removal with the domain', async () => {
    const { app } = await userAndApp();
    const d = await store.domains.add(app, `tls-${app}.example.net`);
    const set = await store.certs.set(d, {
      source: 'acme',
      issuer: "(STAGING) Let's Encrypt",
      serial: '03ab',
      notBefore: new Date('2030-01-01T00:00:00Z'),
      notAfter: '2030-04-01T00:00:00.000Z',
      lastRenewalAt: new Date('2030-01-01T00:00:00Z'),
    });
    assert.deepEqual(set, {
      domain: d,
      source: 'acme',
      issuer: "(STAGING) Let's Encrypt",
      serial: '03ab',
      notBefore: '2030-01-01T00:00:00.000Z',
      notAfter: '2030-04-01T00:00:00.000Z',
      lastRenewalAt: '2030-01-01T00:00:00.000Z',
      lastError: null,
      nextAttemptAt: null,
      failures: null,
    });
    const failed = await store.certs.patch(d, {
      lastError: 'urn:ietf:params:acme:error:connection\n  timeout',
      nextAttemptAt: new Date('2030-03-02T00:00:00Z'),
    });
    assert.equal(failed.lastError, 'urn:ietf:params:acme:error:connection timeout');
    assert.equal(failed.serial, '03ab');
    const cleared = await store.certs.patch(d, { lastError: null });
    assert.equal(cleared.lastError, null);
    assert.deepEqual(await store.certs.get(d), cleared);
    assert.ok((await store.certs.list()).some((c) => c.domain === d));

    await assert.rejects(
      store.certs.set('nobody.example.net', { source: 'manual' }),
      fails('BERTH_E_DOMAIN_UNKNOWN'),
    );
    await assert.rejects(
      store.certs.patch('nobody.example.net', { lastError: 'x' }),
      fails('BERTH_E_CERT_NOT_FOUND'),
    );
    await assert.rejects(
      store.certs.set(d, { source: 'magic' as 'acme' }),
      fails('BERTH_E_INVALID_NAME'),
    );
    await assert.rejects(store.certs.patch(d, { notAfter: 'soon' }), fails('BERTH_E_INVALID_NAME'));
    const platform = `status-${app}.example.net`;
    assert.equal(
      (await store.certs.set(platform, { source: 'acme' }, { platform: true })).domain,
      platform,
    );
    assert.equal(await store.certs.remove(platform), true);
    assert.equal(await store.certs.remove(platform), false);

    await store.domains.remove(app, d);
    assert.equal(await store.certs.get(d), undefined, 'removing the domain removes its metadata');
    assert.ok(!(await store.certs.list()).some((c) => c.domain === d));
  });
});

describe('apps.destroy', () => {
  test('removes every key of the app and nothing of its neighbours', async () => {
    const { user } = await userAndApp();
    // "shop" and "shop-2": a sloppy key pattern for one would match the other.
    const name = unique('shop');
    const neighbour = `${name}-2`;
    const baseline = await snapshot();
    for (const app of [name, neighbour]) {
      await store.apps.create({ name: app, owner: user });
      await store.config.set(app, { A: '1' });
      await store.releases.create(app, {
        image: 'img:1',
        formation: { web: 1 },
        description: 'd',
        by: user,
      });
      await store.releases.create(app, { description: 'config', by: user });
      const d = await store.domains.add(app, `${app}.example.com`);
      await store.certs.set(d, { source: 'manual', issuer: 'ACME CA' });
    }
    const collaborator = unique('helper');
    await store.users.create(collaborator);
    await store.apps.addCollaborator(name, collaborator);
    const neighbourBefore = JSON.stringify(await keysUnder(redis, `${prefix}app:${neighbour}*`));

    await store.apps.destroy(name);
    assert.deepEqual(await keysUnder(redis, `${prefix}app:${name}`), []);
    assert.deepEqual(await keysUnder(redis, `${prefix}app:${name}:*`), []);
    assert.deepEqual(await keysUnder(redis, `${prefix}cert:${name}.*`), []);
    assert.equal(await store.domains.owner(`${name}.example.com`), undefined);
    assert.ok(!(await redis.sismember(store.keys.certs, `${name}.example.com`)));
    assert.ok(!(await store.apps.names()).includes(name));
    assert.equal(await store.apps.get(name), undefined);
    assert.equal(
      JSON.stringify(await keysUnder(redis, `${prefix}app:${neighbour}*`)),
      neighbourBefore,
    );
    assert.equal((await store.releases.list(neighbour)).length, 2);
    assert.equal(await store.domains.owner(`${neighbour}.example.com`), neighbour);

    await store.apps.destroy(neighbour);
    await store.users.remove(collaborator);
    assert.equal(await snapshot(), baseline, 'everything the two apps wrote is gone');
    await assert.rejects(store.apps.destroy(name), fails('BERTH_E_APP_NOT_FOUND'));
    // The name is free again, with a fresh history.
    await store.apps.create({ name, owner: user });
    assert.equal((await store.releases.create(name, { description: 'x', by: user })).version, 1);
    await store.apps.destroy(name);
  });
});

// Invalid as app names; all but the last also as user names.
const BAD_NAMES = [
  '',
  '../etc/passwd',
  'app:evil',
  'a*',
  'UPPER',
  'with space',
  'new\nline',
  'crlf\r\nFLUSHALL',
  'nul\0byte',
  `a${'b'.repeat(100)}`,
  '-dash',
  '日本',
  'xn--reserved',
];
const BAD_USERS = BAD_NAMES.slice(0, -1);
const BAD_DOMAINS = [
  '',
  '../etc/passwd',
  'app:evil.example.com',
  '*.com',
  '*.*.example.com',
  'a.*.example.com',
  'with space.example.com',
  'new\nline.example.com',
  'crlf\r\nFLUSHALL',
  'nul\0.example.com',
  `${'a'.repeat(64)}.example.com`,
  '-dash.example.com',
  '127.0.0.1',
  'a..b',
];
const BAD_ENV_KEYS = ['', '1ABC', 'A-B', 'A B', 'A=B', 'BERTH_X', 'berth_x', 'A\nB', 'A\0'];

describe('hostile input', () => {
  test('invalid names are refused with BERTH_E_INVALID_NAME and nothing is written', async () => {
    const { user, app } = await userAndApp();
    const before = await snapshot();
    const calls: (() => Promise<unknown>)[] = [];
    for (const bad of BAD_NAMES) {
      calls.push(
        () => store.apps.create({ name: bad, owner: user }),
        () => store.apps.get(bad),
        () => store.apps.destroy(bad),
        () => store.config.set(bad, { A: '1' }),
        () => store.releases.create(bad, { description: 'x', by: user }),
        () => store.domains.add(bad, 'fine.example.com'),
      );
    }
    for (const bad of BAD_USERS) {
      calls.push(
        () => store.apps.create({ name: unique('ok'), owner: bad }),
        () => store.apps.addCollaborator(app, bad),
        () => store.users.create(bad),
        () => store.users.remove(bad),
        () => store.users.addKey(bad, newKey().line),
        () => store.users.removeKey(bad),
        () => store.releases.create(app, { description: 'x', by: bad }),
      );
    }
    for (const bad of BAD_DOMAINS) {
      calls.push(
        () => store.domains.add(app, bad),
        () => store.certs.set(bad, { source: 'manual' }, { platform: true }),
      );
    }
    for (const bad of BAD_ENV_KEYS) {
      calls.push(
        () => store.config.set(app, { [bad]: '1' }),
        () => store.config.unset(app, [bad]),
      );
    }
    for (const call of calls) await assert.rejects(call(), fails('BERTH_E_INVALID_NAME'));
    assert.equal(await snapshot(), before);
  });

  test('validation happens before any Redis call', async () => {
    // A client that cannot reach anything: a Redis call would fail with a connection error.
    const offline = new Redis({
      port: await freePort(),
      lazyConnect: true,
      enableOfflineQueue: false,
    });
    const cut = new Store(offline, prefix);
    try {
      for (const bad of BAD_NAMES) {
        await assert.rejects(
          cut.apps.create({ name: bad, owner: 'someone' }),
          fails('BERTH_E_INVALID_NAME'),
        );
        await assert.rejects(cut.users.addKey('someone', bad), fails('BERTH_E_KEY_INVALID'));
      }
      for (const bad of BAD_DOMAINS) {
        await assert.rejects(cut.domains.add('app', bad), fails('BERTH_E_INVALID_NAME'));
      }
      await assert.rejects(cut.apps.get('fine'), (e: unknown) => !(e instanceof BerthError));
    } finally {
      offline.disconnect();
    }
  });
});

describe('records read back are validated', () => {
  test('a record of the wrong shape is BERTH_E_STORE_CORRUPT', async () => {
    const { user, app } = await userAndApp();
    await redis.hset(store.keys.app(app), 'createdAt', 'yesterday');
    await assert.rejects(store.apps.get(app), fails('BERTH_E_STORE_CORRUPT'));
    await redis.hset(store.keys.app(app), 'createdAt', new Date().toISOString());
    await store.releases.create(app, { description: 'x', by: user });
    await redis.hset(store.keys.release(app, 1), 'formation', '{"web": "many"}');
    await assert.rejects(store.releases.get(app, 1), (e: unknown) => {
      fails('BERTH_E_STORE_CORRUPT')(e);
      assert.match((e as BerthError).message, /release:1 is malformed: formation/);
      return true;
    });
    await redis.hset(store.keys.user(user), 'role', 'superuser');
    await assert.rejects(store.users.get(user), fails('BERTH_E_STORE_CORRUPT'));
    await redis.hset(store.keys.user(user), 'role', 'user');
  });
});

describe('layout', () => {
  test('the Lua layout and keys.ts agree', async () => {
    const k = keyLayout(prefix);
    const lua = `${LUA_LAYOUT}
return {K.schema, K.apps, K.app('a'), K.collaborators('a'), K.config('a'), K.releaseSeq('a'),
  K.releases('a'), K.release('a', 7), K.appDomains('a'), K.builds('a'), K.routes('a'),
  K.routesChannel, K.domains, K.globalDomains, K.cert('d.example'), K.certs,
  K.users, K.user('u'), K.userKeys('u'), K.sshKey('SHA256:x'), K.loginLink('h'), K.session('h'),
  K.apiToken('i'), K.userTokens('u'), K.apiTokens, K.userQuotas('u'), K.userBuildUsage('u'),
  K.networks, K.datastores('postgres'), K.datastoreLinks('postgres', 'db'),
  K.hooks('a'), K.deliveries('a'), K.deliveryOrder('a'), K.events, K.eventOnce('a', 'w'),
  K.globalSettings, K.globalConfig, K.storageEntries}`;
    assert.deepEqual(await redis.eval(lua, 0, prefix), [
      k.schema,
      k.apps,
      k.app('a'),
      k.collaborators('a'),
      k.config('a'),
      k.releaseSeq('a'),
      k.releases('a'),
      k.release('a', 7),
      k.appDomains('a'),
      k.builds('a'),
      k.routes('a'),
      k.routesChannel,
      k.domains,
      k.globalDomains,
      k.cert('d.example'),
      k.certs,
      k.users,
      k.user('u'),
      k.userKeys('u'),
      k.sshKey('SHA256:x'),
      k.loginLink('h'),
      k.session('h'),
      k.apiToken('i'),
      k.userTokens('u'),
      k.apiTokens,
      k.userQuotas('u'),
      k.userBuildUsage('u'),
      k.networks,
      k.datastores('postgres'),
      k.datastoreLinks('postgres', 'db'),
      k.hooks('a'),
      k.deliveries('a'),
      k.deliveryOrder('a'),
      k.events,
      k.eventOnce('a', 'w'),
      k.globalSettings,
      k.globalConfig,
      k.storageEntries,
    ]);
  });

  test('two prefixes on one Redis do not see each other', async () => {
    const otherPrefix = testPrefix();
    const other = new Store(await redisClient(otherPrefix), otherPrefix);
    await other.checkSchema();
    const user = unique('twin');
    const app = unique('twin-app');
    await store.users.create(user);
    await store.apps.create({ name: app, owner: user });
    await store.domains.add(app, `${app}.example.com`);
    assert.equal(await other.apps.get(app), undefined);
    assert.equal(await other.domains.owner(`${app}.example.com`), undefined);
    await assert.rejects(
      other.apps.create({ name: app, owner: user }),
      fails('BERTH_E_USER_NOT_FOUND'),
    );
    await other.users.create(user);
    await other.apps.create({ name: app, owner: user });
    await other.domains.add(app, `${app}.example.com`);
    await other.apps.destroy(app);
    assert.equal((await store.apps.require(app)).name, app);
    assert.equal(await store.domains.owner(`${app}.example.com`), app);
    assert.deepEqual(await keysUnder(redis, `${otherPrefix}app:*`), []);
  });

  test('the schema version is claimed once and checked', async () => {
    assert.equal(await redis.get(store.keys.schema), String(SCHEMA_VERSION));
    const futurePrefix = testPrefix();
    const client = await redisClient(futurePrefix);
    await client.set(`${futurePrefix}schema`, '999');
    await assert.rejects(
      new Store(client, futurePrefix).checkSchema(),
      fails('BERTH_E_STORE_SCHEMA'),
    );
    assert.throws(() => new Store(client, 'bad prefix*'));
  });
});

describe('durability', () => {
  test('openStore reports a Redis that does not answer', async () => {
    const config = { redisUrl: `redis://127.0.0.1:${await freePort()}`, redisPrefix: prefix };
    await assert.rejects(openStore(config), fails('BERTH_E_REDIS_UNAVAILABLE'));
  });

  test('an acknowledged write survives kill -9 of Redis', async () => {
    const server = await privateRedis();
    const durablePrefix = testPrefix();
    // onError: the kill below resets this client's socket before it is disconnected.
    const before = await openStore(
      { redisUrl: server.url, redisPrefix: durablePrefix },
      { onError: () => {} },
    );
    await before.users.create('alice', 'admin');
    const key = await before.users.addKey('alice', newKey().line);
    await before.apps.create({ name: 'survivor', owner: 'alice' });
    const [, , release] = await Promise.all([
      before.config.set('survivor', { SECRET: 's3cr3t' }),
      before.domains.add('survivor', 'survivor.example.com'),
      before.releases.create('survivor', { image: 'img:1', description: 'Deploy', by: 'alice' }),
    ]);
    // Acknowledged; now crash Redis before it could do anything else.
    server.kill9();
    before.redis.disconnect();
    await server.restart();

    const after = await openStore({ redisUrl: server.url, redisPrefix: durablePrefix });
    try {
      assert.equal((await after.apps.require('survivor')).owner, 'alice');
      assert.equal((await after.users.findKey(key.fingerprint))?.user, 'alice');
      assert.deepEqual(await after.config.get('survivor'), { SECRET: 's3cr3t' });
      assert.equal(await after.domains.owner('survivor.example.com'), 'survivor');
      assert.deepEqual(await after.releases.get('survivor', 1), release);
      // This Redis holds nothing but what the store wrote: every key is under the prefix.
      const all = await keysUnder(after.redis, '*');
      assert.ok(all.length > 5);
      assert.deepEqual(
        all.filter((k) => !k.startsWith(durablePrefix)),
        [],
      );
      assert.equal(await checkDurability(after.redis), undefined);
      await after.redis.config('SET', 'appendonly', 'no');
      assert.match((await checkDurability(after.redis)) ?? '', /appendonly no/);
    } finally {
      await after.close();
    }
  });

  test('an acknowledged write survives kill -9 of Redis while its disk is busy', async () => {
    // Redis as npm start runs it. Under "appendfsync everysec", Redis 7.0
    // holds new changes back for up to 2 s while its fsync of the last second
    // is still running, and replies anyway: a kill -9 then lost acknowledged
    // writes in 3 of 8 tries here (infra/bootstrap/redis-server.ts). The busy
    // disk is made for real: 160 MB of dirty AOF just before the writes.
    const server = await privateRedis();
    const client = () => {
      const c = new Redis(server.url, { maxRetriesPerRequest: 1 });
      c.on('error', () => {});
      return c;
    };
    const blob = Buffer.alloc(32 * 1024 * 1024, 'x');
    const lost: string[] = [];
    for (let round = 0; round < 6; round++) {
      const redis = client();
      for (let i = 0; i < 4; i++) await redis.set(`blob${i}`, blob);
      await new Promise((r) => setTimeout(r, 1100)); // the next background fsync has begun
      await redis.set('blob4', blob);
      const keys = Array.from({ length: 50 }, (_, i) => `acked:${round}:${i}`);
      await Promise.all(keys.map((k) => redis.set(k, '1')));
      server.kill9();
      redis.disconnect();
      await server.restart();
      const again = client();
      const kept = (await Promise.all(keys.map((k) => again.exists(k)))).filter(Boolean).length;
      if (kept < keys.length) lost.push(`round ${round}: ${keys.length - kept} of ${keys.length}`);
      await again.del('blob0', 'blob1', 'blob2', 'blob3', 'blob4');
      again.disconnect();
    }
    assert.deepEqual(lost, [], 'acknowledged writes lost to kill -9');
  });
});
