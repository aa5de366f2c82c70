import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BerthError } from '../../services/core/errors.ts';
import { Store } from '../../services/core/store/index.ts';
import { addSshKey, ensureAdminKeys } from '../../services/platform/accounts/ssh-keys.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';

const dir = await tempDir();
const [k1, k2, k3, k4] = await Promise.all(
  ['one', 'two', 'three', 'four'].map((n) => makeKeyPair(dir, n)),
);
const fresh = async () => {
  const prefix = testPrefix();
  return new Store(await redisClient(prefix), prefix);
};

describe('addSshKey', () => {
  test('the first user on a fresh Berth is an admin, later ones are plain users', async () => {
    const store = await fresh();
    const first = await addSshKey(store, { user: 'alice', publicKey: k1?.publicLine ?? '' });
    assert.deepEqual([first.user, first.role, first.createdUser], ['alice', 'admin', true]);
    assert.equal(first.key.fingerprint, k1?.fingerprint);
    const second = await addSshKey(store, { user: 'bob', publicKey: k2?.publicLine ?? '' });
    assert.equal(second.role, 'user');
    const again = await addSshKey(store, { user: 'alice', publicKey: k3?.publicLine ?? '' });
    assert.deepEqual([again.role, again.createdUser], ['admin', false]);
    assert.equal((await store.users.listKeys('alice')).length, 2);
  });

  test('a refused key leaves no new user behind', async () => {
    const store = await fresh();
    await addSshKey(store, { user: 'alice', publicKey: k1?.publicLine ?? '' });
    await assert.rejects(
      addSshKey(store, { user: 'mallory', publicKey: k1?.publicLine ?? '' }),
      (e: unknown) => e instanceof BerthError && e.code === 'BERTH_E_KEY_EXISTS',
    );
    await assert.rejects(
      addSshKey(store, { user: 'eve', publicKey: 'ssh-ed25519 AAAAnotakey' }),
      (e: unknown) => e instanceof BerthError && e.code === 'BERTH_E_KEY_INVALID',
    );
    assert.deepEqual(
      (await store.users.list()).map((u) => u.name),
      ['alice'],
    );
  });
});

describe('ensureAdminKeys (BERTH_ADMIN_PUBKEY)', () => {
  test('adds the file’s keys to the admin user once; a second start changes nothing', async () => {
    const store = await fresh();
    const file = `# admins\n${k1?.publicLine}\n\n${k2?.publicLine}\n`;
    const first = await ensureAdminKeys(store, file);
    assert.equal(first.length, 2);
    assert.equal((await store.users.get('admin'))?.role, 'admin');
    assert.deepEqual(await ensureAdminKeys(store, file), []);
    assert.equal((await store.users.listKeys('admin')).length, 2);
  });

  test('a key held by a plain user is reported, not moved', async () => {
    const store = await fresh();
    await addSshKey(store, { user: 'root', publicKey: k3?.publicLine ?? '' });
    await addSshKey(store, { user: 'carol', publicKey: k4?.publicLine ?? '' });
    const report = await ensureAdminKeys(store, k4?.publicLine ?? '');
    assert.match(report[0] ?? '', /belongs to user "carol", who is not an admin/);
    assert.equal((await store.users.findKey(k4?.fingerprint ?? ''))?.user, 'carol');
  });

  test('an empty file is an error', async () => {
    const store = await fresh();
    await assert.rejects(ensureAdminKeys(store, '\n# nothing\n'), /has no key/);
  });
});
