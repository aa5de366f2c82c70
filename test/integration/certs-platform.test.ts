// The platform's own certificate (the bare BERTH_DOMAIN's, where the router
// serves the status page) through the real dispatcher, real Redis and a data
// directory of the test's own: certs:add|report|remove --platform for admins
// only, one-line refusals that change nothing, and the app form unchanged.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { loadConfig } from '../../services/core/config.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import { certFile } from '../../services/platform/certs/cert-files.ts';
import { makeCert } from '../harness/certs.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { prefixSnapshot, redisClient, testPrefix } from '../harness/redis.ts';
import { filesSnapshot, tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const config = loadConfig({
  BERTH_DOMAIN: 'berth.test',
  BERTH_DATA_DIR: await tempDir('berth-certs-platform'),
});
const paths = dataPaths(config.dataDir);
await mkdir(paths.certs, { recursive: true });
const run = commandRunner(store, config);
const ada = userActor('ada', 'admin');
const bob = userActor('bob');
await store.users.create('ada', 'admin');
await store.users.create('bob', 'user');
await store.apps.create({ name: 'shop', owner: 'bob' });

/** Everything a refusal must leave as it was: the prefix's keys and values, and the files. */
const snapshot = async () =>
  JSON.stringify([await prefixSnapshot(redis, prefix), await filesSnapshot(paths.certs)]);

const oneLine = (s: string) => s.endsWith('\n') && s.trim().split('\n').length === 1;

describe('certs:* --platform', () => {
  test('refusals change nothing: not an admin, a certificate for another name, an app beside --platform, no target', async () => {
    const mine = await makeCert(['berth.test']);
    const other = await makeCert(['other.test']);
    const before = await snapshot();
    const cases: [ReturnType<typeof userActor>, string[], string, number, RegExp][] = [
      [bob, ['certs:add', '--platform'], mine.key + mine.cert, 1, /only admins|admin/i],
      [ada, ['certs:add', '--platform'], other.key + other.cert, 2, /does not name berth\.test/],
      [
        ada,
        ['certs:add', 'shop', '--platform'],
        mine.key + mine.cert,
        2,
        /takes no other argument \(got "shop"\)/,
      ],
      [ada, ['certs:add'], mine.key + mine.cert, 2, /name the app, or give --platform/],
      [ada, ['certs:remove', '--platform'], '', 1, /no certificate is recorded for berth\.test/],
      [bob, ['certs:report', '--platform'], '', 1, /admin/i],
      [ada, ['letsencrypt:disable', 'shop', '--platform'], '', 2, /takes no other argument/],
    ];
    for (const [actor, argv, stdin, code, message] of cases) {
      const r = await run(actor, argv, stdin);
      assert.equal(r.code, code, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, argv.join(' '));
      assert.ok(oneLine(r.stderr), r.stderr);
      assert.equal(r.stdout, '');
    }
    assert.equal(await snapshot(), before);
  });

  test('an admin adds, reports and removes the certificate of BERTH_DOMAIN', async () => {
    const cert = await makeCert(['berth.test']);
    const added = await run(ada, ['certs:add', '--platform'], cert.key + cert.cert);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /Added the certificate for berth\.test to the status page/);
    assert.ok((await readFile(certFile(paths, 'berth.test'), 'utf8')).includes(cert.cert.trim()));
    const meta = await store.certs.get('berth.test');
    assert.equal(meta?.source, 'manual');
    assert.equal(meta?.serial, cert.serial);

    const text = await run(ada, ['certs:report', '--platform']);
    assert.match(text.stdout, /berth\.test \(BERTH_DOMAIN: the status page\)/);
    assert.match(text.stdout, /Redirect to HTTPS:\s+on/);
    assert.match(text.stdout, new RegExp(`Serial:\\s+${cert.serial}`));
    const report = JSON.parse(
      (await run(ada, ['certs:report', '--platform', '--format', 'json'])).stdout,
    );
    assert.equal(report.domain, 'berth.test');
    assert.equal(report.httpsRedirect, true);
    assert.equal(report.certificate.source, 'manual');
    assert.ok(report.certificate.daysLeft >= 88);

    // An app's commands are untouched by it.
    const app = await run(bob, ['certs:report', 'shop', '--format', 'json']);
    assert.equal(app.code, 0, app.stderr);
    assert.deepEqual(JSON.parse(app.stdout).domains, [
      { domain: 'shop.berth.test', certificate: null },
    ]);
    // Not an ACME certificate: letsencrypt:disable --platform leaves it.
    assert.match(
      (await run(ada, ['letsencrypt:disable', '--platform'])).stdout,
      /has no ACME certificate/,
    );

    const removed = await run(ada, ['certs:remove', '--platform']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(await store.certs.get('berth.test'), undefined);
    assert.deepEqual(await readdir(paths.certs), []);
  });

  test('letsencrypt:enable --platform refuses a localhost BERTH_DOMAIN before asking any CA', async () => {
    const local = commandRunner(
      store,
      loadConfig({ BERTH_DOMAIN: 'localhost', BERTH_DATA_DIR: config.dataDir }),
    );
    const r = await local(ada, ['letsencrypt:enable', '--platform']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /BERTH_DOMAIN is localhost, which no CA certifies/);
    assert.equal(await store.certs.get('localhost'), undefined);
  });

  test('help shows the --platform forms', async () => {
    for (const c of [
      'certs:add',
      'certs:remove',
      'certs:report',
      'letsencrypt:enable',
      'letsencrypt:disable',
    ]) {
      const r = await run(ada, [c, '--help']);
      assert.match(r.stdout, /--platform/, c);
    }
  });
});
