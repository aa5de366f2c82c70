// registry:login|logout|set|report through the real dispatcher against a real
// Redis: Dokku's grammar, admins only for --global, a password never printed
// back, hostile servers, repositories and tags refused with nothing changed,
// and the settings' file kept private.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { loadConfig } from '../../services/core/config.ts';
import { Store } from '../../services/core/store/index.ts';
import { registryTls } from '../../services/platform/registry/ca.ts';
import { settingsFile } from '../../services/platform/registry/settings.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const store = new Store(await redisClient(prefix), prefix);
const config = loadConfig({
  BERTH_DOMAIN: 'berth.test',
  BERTH_DATA_DIR: await tempDir(),
  BERTH_SWARM_REGISTRY: '10.0.0.5:5000',
});
const dir = config.swarm.registryDir as string;
const run = commandRunner(store, config);
const root = userActor('root', 'admin');
const bob = userActor('bob');
const eve = userActor('eve');
for (const u of [root, bob, eve]) if (u.kind === 'user') await store.users.create(u.user, u.role);
await store.apps.create({ name: 'shop', owner: 'bob' });

const json = async (argv: string[]) => {
  const r = await run(bob, [...argv, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, string>;
};

describe('registry:*', () => {
  test('registry:set and registry:report: the app, the global and the computed values', async () => {
    let r = await run(bob, ['registry:set', 'shop', 'server', 'ghcr.io/']);
    assert.equal(r.code, 0, r.stderr);
    r = await run(bob, ['registry:set', 'shop', 'image-repo', 'team/shop']);
    assert.equal(r.code, 0, r.stderr);
    r = await run(root, ['registry:set', '--global', 'push-extra-tags', 'stable,prod']);
    assert.equal(r.code, 0, r.stderr);
    const report = await json(['registry:report', 'shop']);
    assert.equal(report.server, 'ghcr.io');
    assert.equal(report['computed-server'], 'ghcr.io');
    assert.equal(report['computed-image-repo'], 'team/shop');
    assert.equal(report['push-extra-tags'], '');
    assert.equal(report['global-push-extra-tags'], 'stable,prod');
    assert.equal(report['computed-push-extra-tags'], 'stable,prod');
    assert.equal(report['computed-push-on-release'], 'false');
    // One value alone, as Dokku's flags.
    r = await run(bob, ['registry:report', 'shop', '--registry-computed-image-repo']);
    assert.equal(r.stdout, 'team/shop\n');
    // docker.io is the default registry: no server; no value resets.
    r = await run(bob, ['registry:set', 'shop', 'server', 'docker.io']);
    assert.equal(r.code, 0, r.stderr);
    r = await run(bob, ['registry:set', 'shop', 'image-repo']);
    assert.equal(r.code, 0, r.stderr);
    const after = await json(['registry:report', 'shop']);
    // No server of its own: Berth's registry (BERTH_SWARM_REGISTRY).
    assert.equal(after['computed-server'], '10.0.0.5:5000');
    assert.equal(after['computed-image-repo'], 'berth/shop');
  });

  test('hostile or malformed values are refused in one line and change nothing', async () => {
    const before = await readFile(settingsFile(dir), 'utf8');
    for (const argv of [
      ['registry:set', 'shop', 'server', 'https://evil.example'],
      ['registry:set', 'shop', 'server', 'a.io/x;rm -rf /'],
      ['registry:set', 'shop', 'image-repo', '../../etc'],
      ['registry:set', 'shop', 'image-repo', 'Team/Shop'],
      ['registry:set', 'shop', 'push-extra-tags', 'ok,-bad'],
      ['registry:set', 'shop', 'push-on-release', 'yes'],
      ['registry:set', 'shop', 'colour', 'blue'],
      ['registry:set', '--global', 'image-repo', 'x/y'],
      ['registry:login', 'shop', 'ghcr.io\nx', 'me', 'pw'],
      ['registry:login', 'shop', 'ghcr.io', 'me:x', 'pw'],
    ]) {
      const r = await run(bob, argv);
      assert.notEqual(r.code, 0, argv.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.equal(await readFile(settingsFile(dir), 'utf8'), before);
  });

  test('registry:login keeps credentials without printing them; logout forgets them', async () => {
    let r = await run(bob, ['registry:login', 'shop', 'ghcr.io', 'bob', 's3cret-pw']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /s3cret-pw/);
    r = await run(
      bob,
      ['registry:login', 'shop', '--password-stdin', 'quay.io', 'bob'],
      'from-stdin\n',
    );
    assert.equal(r.code, 0, r.stderr);
    const report = await run(bob, ['registry:report', 'shop']);
    assert.match(report.stdout, /Registry logins: +ghcr\.io quay\.io/);
    assert.doesNotMatch(report.stdout, /s3cret-pw|from-stdin/);
    const kept = JSON.parse(await readFile(settingsFile(dir), 'utf8'));
    assert.deepEqual(kept.logins.apps.shop['quay.io'], { username: 'bob', password: 'from-stdin' });
    assert.equal((await stat(settingsFile(dir))).mode & 0o777, 0o600);
    r = await run(bob, ['registry:logout', 'shop', 'quay.io']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      (await run(bob, ['registry:report', 'shop'])).stdout,
      /Registry logins: +ghcr\.io\n/,
    );
  });

  test('--global is for admins; another user cannot touch an app that is not theirs', async () => {
    for (const argv of [
      ['registry:login', '--global', 'ghcr.io', 'x', 'y'],
      ['registry:logout', '--global', 'ghcr.io'],
      ['registry:set', '--global', 'server', 'ghcr.io'],
    ]) {
      assert.notEqual((await run(bob, argv)).code, 0, argv.join(' '));
    }
    assert.notEqual((await run(eve, ['registry:set', 'shop', 'server', 'evil.io'])).code, 0);
    assert.notEqual((await run(eve, ['registry:report', 'shop'])).code, 0);
    const r = await run(root, ['registry:login', '--global', 'ghcr.io', 'ci', 'tok']);
    assert.equal(r.code, 0, r.stderr);
    const global = await run(bob, ['registry:report', '--global']);
    assert.equal(global.code, 0, global.stderr);
    assert.match(global.stdout, /Registry global logins: +ghcr\.io/);
    assert.doesNotMatch(global.stdout, /tok/);
  });

  test("registry:report --global names the CA's file (admins), which signs the registry's certificate", async () => {
    const r = await run(root, ['registry:report', '--global', '--registry-own-ca-file']);
    assert.equal(r.code, 0, r.stderr);
    const ca = new X509Certificate(await readFile(r.stdout.trim(), 'utf8'));
    assert.equal(ca.ca, true);
    assert.equal(
      (await run(bob, ['registry:report', '--global', '--registry-own-ca-file'])).stdout,
      '\n',
    );
    const tls = await registryTls(dir, '10.0.0.5');
    const cert = new X509Certificate(await readFile(tls.cert, 'utf8'));
    assert.ok(cert.verify(ca.publicKey));
    assert.equal(cert.checkIP('10.0.0.5'), '10.0.0.5');
    assert.equal((await stat(`${dir}/ca.key`)).mode & 0o777, 0o600);
  });
});
