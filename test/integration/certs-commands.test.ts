// certs:* through the real dispatcher, real Redis and a data directory of
// the test's own: PEM bundles and Dokku's tar in, one-line refusals that
// change nothing, removal, the report, and the HTTPS switches.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { loadConfig } from '../../services/core/config.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import { certFile } from '../../services/platform/certs/cert-files.ts';
import { makeCert, opensslCert } from '../harness/certs.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { prefixSnapshot, redisClient, testPrefix } from '../harness/redis.ts';
import { filesSnapshot, tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const config = loadConfig({
  BERTH_DOMAIN: 'berth.test',
  BERTH_DATA_DIR: await tempDir('berth-certs'),
});
const paths = dataPaths(config.dataDir);
// What `npm start` makes (infra/bootstrap/data-dir.ts).
await mkdir(paths.certs, { recursive: true });
const run = commandRunner(store, config);
const bob = userActor('bob');
const eve = userActor('eve');
await store.users.create('bob', 'user');
await store.users.create('eve', 'user');

const DAY = 86_400_000;
let appSeq = 0;
async function app(domains: string[]): Promise<string> {
  const name = `certs${++appSeq}`;
  await store.apps.create({ name, owner: 'bob' });
  for (const d of domains) await store.domains.add(name, d);
  return name;
}

/** Everything a refusal must leave as it was: the prefix's keys and values, and the files. */
const snapshot = async () =>
  JSON.stringify([await prefixSnapshot(redis, prefix), await filesSnapshot(paths.certs)]);

const oneLine = (s: string) => s.endsWith('\n') && s.trim().split('\n').length === 1;

describe('certs:add', () => {
  test('a PEM bundle (key first) is installed for every domain of the app it names', async () => {
    const name = await app(['shop.example.test', 'www.shop.example.test', 'api.other.test']);
    const c = await makeCert(['shop.example.test', 'www.shop.example.test']);
    const r = await run(bob, ['certs:add', name], `${c.key}\n${c.cert}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /Added the certificate for shop\.example\.test, www\.shop\.example\.test to certs1/,
    );
    assert.match(r.stdout, new RegExp(`serial ${c.serial}`));
    for (const d of ['shop.example.test', 'www.shop.example.test']) {
      const meta = await store.certs.get(d);
      assert.equal(meta?.source, 'manual');
      assert.equal(meta?.serial, c.serial);
      const file = certFile(paths, d);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.match(await readFile(file, 'utf8'), /BEGIN PRIVATE KEY[\s\S]*BEGIN CERTIFICATE/);
    }
    assert.equal(await store.certs.get('api.other.test'), undefined, 'a domain it does not name');
  });

  test("Dokku's tar of server.crt and server.key (made by openssl and tar), plain and gzipped", async () => {
    const dir = await tempDir('berth-certs-tar');
    for (const [i, gz] of [false, true].entries()) {
      const domain = `tar${i}.example.test`;
      const name = await app([domain]);
      const c = await opensslCert(dir, [domain]);
      const tarFile = path.join(dir, 'cert.tar');
      await promisify(execFile)('tar', ['-cf', tarFile, '-C', dir, 'server.crt', 'server.key']);
      const tar = await readFile(tarFile);
      const r = await run(bob, ['certs:add', name], gz ? gzipSync(tar) : tar);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await store.certs.get(domain))?.serial, c.serial);
    }
  });

  test('a wildcard certificate covers the domains it matches', async () => {
    const name = await app(['a.wild.test', 'b.wild.test', 'wild.test']);
    const c = await makeCert(['*.wild.test']);
    const r = await run(bob, ['certs:add', name], `${c.cert}${c.key}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /for a\.wild\.test, b\.wild\.test to/);
    assert.equal(await store.certs.get('wild.test'), undefined);
  });

  test('refusals are one line each and change nothing', async () => {
    const name = await app(['refuse.example.test']);
    const good = await makeCert(['refuse.example.test']);
    const other = await makeCert(['refuse.example.test']);
    const expired = await makeCert(['refuse.example.test'], {
      notBefore: new Date(Date.now() - 100 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    const future = await makeCert(['refuse.example.test'], {
      notBefore: new Date(Date.now() + DAY),
      notAfter: new Date(Date.now() + 100 * DAY),
    });
    const elsewhere = await makeCert(['elsewhere.example.test']);
    await run(bob, ['certs:add', name], `${good.cert}${good.key}`);
    const before = await snapshot();
    const cases: [string, string | Buffer, number, RegExp][] = [
      [
        'wrong key',
        `${good.cert}${other.key}`,
        2,
        /the private key does not match the certificate/,
      ],
      [
        'expired',
        `${expired.cert}${expired.key}`,
        2,
        /refuse\.example\.test is not usable: it expired on /,
      ],
      ['not yet valid', `${future.cert}${future.key}`, 2, /it is valid only from /],
      [
        'names no domain of the app',
        `${elsewhere.cert}${elsewhere.key}`,
        1,
        /names elsewhere\.example\.test; none of them is a domain of app "certs\d+" \(certs\d+\.berth\.test, refuse\.example\.test\)/,
      ],
      ['garbage', 'hello world\n', 2, /not a certificate: neither PEM text nor a tar archive/],
      ['binary garbage', Buffer.from([0, 1, 2, 255, 254, 10]), 2, /neither PEM text nor a tar/],
      ['nothing', '', 2, /nothing was given/],
      ['a key alone', good.key, 2, /holds no PEM certificate/],
      ['two keys', `${good.cert}${good.key}${other.key}`, 2, /exactly one PEM private key/],
      [
        'a broken PEM certificate',
        `-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n${good.key}`,
        2,
        /the certificate cannot be read/,
      ],
      ['gzip that is not', Buffer.from([0x1f, 0x8b, 1, 2, 3]), 2, /gzip data that does not unpack/],
    ];
    for (const [what, input, code, message] of cases) {
      const r = await run(bob, ['certs:add', name], input);
      assert.equal(r.code, code, `${what}: ${r.stderr}`);
      assert.ok(oneLine(r.stderr), `${what}: ${r.stderr}`);
      assert.match(r.stderr, message, what);
      assert.equal(r.stdout, '', what);
    }
    // A tar without server.key.
    const dir = await tempDir('berth-certs-tar');
    await writeFile(path.join(dir, 'server.crt'), good.cert);
    await promisify(execFile)('tar', ['-cf', path.join(dir, 'x.tar'), '-C', dir, 'server.crt']);
    const noKey = await run(bob, ['certs:add', name], await readFile(path.join(dir, 'x.tar')));
    assert.equal(noKey.code, 2);
    assert.match(
      noKey.stderr,
      /needs server\.crt and server\.key at its top \(it has server\.crt\)/,
    );
    // Someone without access to the app.
    const stranger = await run(eve, ['certs:add', name], `${good.cert}${good.key}`);
    assert.equal(stranger.code, 1);
    assert.match(stranger.stderr, /does not exist/);
    assert.equal(await snapshot(), before);
  });

  test('an app without custom domains: the refusal names its default host and says to add one', async () => {
    const name = await app([]);
    const c = await makeCert(['lonely.example.test']);
    const r = await run(bob, ['certs:add', name], `${c.cert}${c.key}`);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /\(certs\d+\.berth\.test\) — add the domain first with "berth domains:add certs\d+ DOMAIN"/,
    );
  });

  test("a wildcard certificate for BERTH_DOMAIN's subdomains serves the default host too", async () => {
    const name = await app(['own.example.test']);
    const c = await makeCert(['*.berth.test']);
    const r = await run(bob, ['certs:add', name], `${c.cert}${c.key}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`Added the certificate for ${name}\\.berth\\.test to ${name}`),
    );
    assert.equal((await store.certs.get(`${name}.berth.test`))?.serial, c.serial);
    const removed = await run(bob, ['certs:remove', name]);
    assert.match(removed.stdout, new RegExp(`of ${name}\\.berth\\.test from`));
    assert.equal(await store.certs.get(`${name}.berth.test`), undefined);
    await assert.rejects(stat(certFile(paths, `${name}.berth.test`)), { code: 'ENOENT' });
  });
});

describe('certs:remove and certs:report', () => {
  test('report, then remove one domain, then the rest; nothing left is refused', async () => {
    const name = await app(['r1.example.test', 'r2.example.test', 'r3.example.test']);
    const c = await makeCert(['r1.example.test', 'r2.example.test']);
    assert.equal((await run(bob, ['certs:add', name], `${c.cert}${c.key}`)).code, 0);

    const text = await run(bob, ['certs:report', name]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Redirect to HTTPS:\s+on/);
    assert.match(text.stdout, /HSTS:\s+off \(max-age 31536000\)/);
    assert.match(
      text.stdout,
      /=====> r1\.example\.test\n\s+Source:\s+manual\n\s+Issuer:\s+r1\.example\.test\n\s+Serial:\s+[0-9A-F]+/,
    );
    assert.match(text.stdout, /Days left:\s+8[89]\n/);
    assert.match(text.stdout, /Last error:\s+none/);
    assert.match(text.stdout, /=====> r3\.example\.test\n\s+Certificate:\s+none/);
    const data = JSON.parse((await run(bob, ['certs:report', name, '--format', 'json'])).stdout);
    assert.deepEqual(data.https, { httpsRedirect: true, hsts: false, hstsMaxAge: 31536000 });
    assert.deepEqual(
      data.domains.map((d: { domain: string; certificate: { serial: string } | null }) => [
        d.domain,
        d.certificate?.serial ?? null,
      ]),
      [
        [`${name}.berth.test`, null],
        ['r1.example.test', c.serial],
        ['r2.example.test', c.serial],
        ['r3.example.test', null],
      ],
    );

    const notMine = await run(bob, ['certs:remove', name, 'r1.example.test', 'elsewhere.test']);
    assert.equal(notMine.code, 1);
    assert.match(notMine.stderr, /domain elsewhere\.test is not a domain of app/);
    const none = await run(bob, ['certs:remove', name, 'r3.example.test']);
    assert.match(none.stderr, /no certificate is recorded for r3\.example\.test/);
    assert.ok(await store.certs.get('r1.example.test'), 'a refused remove removes nothing');

    const one = await run(bob, ['certs:remove', name, 'R1.Example.Test']);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /Removed the certificate of r1\.example\.test from/);
    await assert.rejects(stat(certFile(paths, 'r1.example.test')), { code: 'ENOENT' });
    assert.equal(await store.certs.get('r1.example.test'), undefined);

    const rest = await run(bob, ['certs:remove', name]);
    assert.equal(rest.code, 0, rest.stderr);
    assert.match(rest.stdout, /of r2\.example\.test from/);
    const again = await run(bob, ['certs:remove', name]);
    assert.equal(again.code, 1);
    assert.ok(oneLine(again.stderr));
    assert.match(again.stderr, /has no certificate added with certs:add/);
  });

  test('without certs:remove, ACME certificates are left alone', async () => {
    const name = await app(['acme.example.test']);
    await store.certs.set('acme.example.test', { source: 'acme', lastError: 'rate limited' });
    assert.match((await run(bob, ['certs:remove', name])).stderr, /has no certificate added/);
    const text = (await run(bob, ['certs:report', name])).stdout;
    assert.match(text, /Source:\s+acme\n\s+Issuer:\s+\(none issued yet\)/);
    assert.match(text, /Last error:\s+rate limited/);
  });
});

describe('certs:set', () => {
  test('redirect, hsts and hsts-max-age; no value is the default; apps:rename keeps them', async () => {
    const name = await app([]);
    const set = (...a: string[]) => run(bob, ['certs:set', name, ...a]);
    assert.match((await set('redirect', 'off')).stdout, /redirect is off for certs\d+/);
    assert.equal((await set('hsts', 'on')).code, 0);
    assert.equal((await set('hsts-max-age', '600')).code, 0);
    assert.deepEqual(await store.apps.httpsSettings(name), {
      httpsRedirect: false,
      hsts: true,
      hstsMaxAge: 600,
    });
    for (const [args, message] of [
      [['redirect', 'maybe'], /invalid switch "maybe": use on or off/],
      [['hsts-max-age', '1.5'], /invalid HSTS max-age "1.5"/],
      [['hsts-max-age', '99999999999'], /invalid HSTS max-age/],
      [['colour', 'blue'], /certs:set takes redirect, hsts, hsts-max-age, not "colour"/],
    ] as const) {
      const r = await set(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.ok(oneLine(r.stderr));
      assert.match(r.stderr, message);
    }
    await store.apps.rename(name, `${name}x`);
    assert.deepEqual((await store.apps.httpsSettings(`${name}x`)).hstsMaxAge, 600);
    const back = await run(bob, ['certs:set', `${name}x`, 'redirect']);
    assert.match(back.stdout, /redirect is on for certs\d+x \(the default\)/);
    assert.equal((await store.apps.httpsSettings(`${name}x`)).httpsRedirect, true);
    await store.apps.destroy(`${name}x`);
    assert.equal(await redis.exists(store.keys.app(`${name}x`)), 0);
  });

  test('a change is published on P routes for the router', async () => {
    const name = await app([]);
    const sub = redis.duplicate();
    await sub.subscribe(store.keys.routesChannel);
    const got = new Promise<string>((resolve) => sub.on('message', (_c, m: string) => resolve(m)));
    await run(bob, ['certs:set', name, 'hsts', 'on']);
    assert.equal(await got, name);
    sub.disconnect();
  });

  test('help certs lists the commands', async () => {
    const r = await run(bob, ['help', 'certs']);
    for (const c of ['certs:add', 'certs:remove', 'certs:report', 'certs:set']) {
      assert.match(r.stdout, new RegExp(c));
    }
  });
});
