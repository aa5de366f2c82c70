// Certificates by ACME HTTP-01 against Pebble (Debian's, a real ACME CA)
// through a real router process: Pebble resolves test domains to 127.0.0.1
// and fetches the challenge from the router, which answers it from Redis.
// letsencrypt:enable gets a certificate that chains to Pebble's root; the
// renewer renews a short-lived one by itself (the serial changes); a failed
// order keeps the served certificate and records its error and next attempt.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import acme from 'acme-client';
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/log.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import {
  acmeOptions,
  obtainCertificate,
  retryDelayMs,
} from '../../services/platform/certs/acme.ts';
import { certFile, readCertFile } from '../../services/platform/certs/cert-files.ts';
import { startRenewer } from '../../services/platform/certs/renewer.ts';
import { SELF_CHECK_LIMIT_MS } from '../../services/platform/certs/self-check.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { type Pebble, startPebble } from '../harness/pebble.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { startRouter, type TestRouter } from '../harness/router.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const ada = userActor('ada', 'admin');
const VALIDITY_S = 24;
let router: TestRouter;
let pebble: Pebble;
let run: ReturnType<typeof commandRunner>;
const dataDir = await tempDir('berth-acme');

before(async () => {
  router = await startRouter({ redisUrl: await sharedRedisUrl(), prefix });
  pebble = await startPebble({ httpPort: router.port, validitySeconds: VALIDITY_S });
  // Pebble's own listener has a certificate of the test's making: trusted for this
  // process's ACME client as NODE_EXTRA_CA_CERTS trusts it for Berth's services.
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: await readFile(pebble.listenerCaFile) });
  run = commandRunner(
    store,
    loadConfig({
      BERTH_DATA_DIR: dataDir,
      BERTH_DOMAIN: 'berth.test',
      BERTH_ACME_DIRECTORY_URL: pebble.directoryUrl,
      BERTH_ACME_SELF_CHECK: 'off',
      // Apps' default hosts: test/integration/acme-platform.test.ts.
      BERTH_ACME_DEFAULT_HOSTS: 'off',
    }),
  );
  await store.users.create('ada', 'admin');
});
after(async () => {
  await pebble?.stop();
  await router?.stop();
});

/** The certificate a domain's file holds. */
async function served(domain: string) {
  const pair = await readCertFile(dataPaths(dataDir), domain);
  assert.ok(pair, `${domain} has a certificate file`);
  return new X509Certificate(pair.chain);
}

// Issue 18: with the self-check on, a domain whose DNS did not point here
// yet printed "Answering the CA's HTTP-01 check" and then nothing for over
// 4 minutes (acme-client's own check). Berth's is bounded and says why.
describe('the HTTP-01 self-check (BERTH_ACME_SELF_CHECK on)', () => {
  /** obtainCertificate with the self-check on; its progress lines, error and time. */
  async function order(domain: string, o: { port?: number; dns?: boolean; limitMs?: number }) {
    const lines: string[] = [];
    const config = loadConfig({
      BERTH_DATA_DIR: dataDir,
      BERTH_DOMAIN: 'berth.test',
      BERTH_ACME_DIRECTORY_URL: pebble.directoryUrl,
      BERTH_ACME_DEFAULT_HOSTS: 'off',
    });
    const t0 = performance.now();
    const error = await obtainCertificate(
      {
        ...acmeOptions(config, store),
        onProgress: (l) => lines.push(l),
        ...(o.port ? { selfCheckPort: o.port } : {}),
        ...(o.dns ? { selfCheckDnsServer: pebble.dnsServer } : {}),
        ...(o.limitMs ? { selfCheckLimitMs: o.limitMs } : {}),
      },
      domain,
    ).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    return { lines, error, ms: performance.now() - t0 };
  }

  test('a domain that points here: checked through the router, then issued', async () => {
    await store.apps.create({ name: 'checked', owner: 'ada' });
    await store.domains.add('checked', 'checked.example.test');
    const r = await order('checked.example.test', { port: router.port, dns: true });
    assert.equal(r.error, undefined, `${r.error?.message}\n${r.lines.join('\n')}`);
    assert.match(
      r.lines.join('\n'),
      /Checking that http:\/\/checked\.example\.test:\d+\/\.well-known\/acme-challenge\/ gives the answer from here, as the CA will fetch it \(up to 30 s\)\n.*checked\.example\.test gives the answer \(\d+\.\d s\); asking the CA to check/,
    );
  });

  test('a domain that resolves nowhere, or to another server: bounded, a line per try, and the reason', async (t) => {
    await store.domains.add('checked', 'checked.berth-nowhere.invalid');
    await store.domains.add('checked', 'elsewhere.example.test');
    // Another web server where DNS points (pebble-challtestsrv answers 127.0.0.1): not Berth's router.
    const other = http.createServer((_req, res) => res.writeHead(404).end('not here\n'));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    t.after(() => other.close());
    const [nowhere, elsewhere] = await Promise.all([
      // The system's resolver, as in production; the default limit.
      order('checked.berth-nowhere.invalid', { port: router.port }),
      order('elsewhere.example.test', {
        port: (other.address() as AddressInfo).port,
        dns: true,
        limitMs: 8000,
      }),
    ]);
    t.diagnostic(
      `nowhere: ${Math.round(nowhere.ms)} ms; elsewhere: ${Math.round(elsewhere.ms)} ms`,
    );
    assert.ok(nowhere.ms < SELF_CHECK_LIMIT_MS + 5000, `gave up after ${nowhere.ms} ms`);
    assert.match(
      nowhere.error?.message ?? '',
      /^no certificate for checked\.berth-nowhere\.invalid: DNS for checked\.berth-nowhere\.invalid does not point here yet: it does not resolve \((ENOTFOUND|EAI_AGAIN)\)\. Check the domain's A\/AAAA records .*, or retry later; the self-check gave up after \d+ s/,
    );
    assert.ok(
      nowhere.lines.filter((l) =>
        /: it does not resolve \(\w+\); trying again \(\d+ s of 30 s\)$/.test(l),
      ).length >= 3,
      nowhere.lines.join('\n'),
    );
    assert.ok(elsewhere.ms < 8000 + 5000, `gave up after ${elsewhere.ms} ms`);
    assert.match(
      elsewhere.error?.message ?? '',
      /DNS for elsewhere\.example\.test does not point here yet: it resolves to 127\.0\.0\.1, and a server there answered 404, not the answer\./,
    );
    assert.match(
      (await store.certs.get('elsewhere.example.test'))?.lastError ?? '',
      /does not point here yet/,
    );
    // The tests below list every certificate: this app's go.
    assert.equal((await run(ada, ['apps:destroy', 'checked', '--force'])).code, 0);
  });
});

describe('ACME certificates from Pebble', () => {
  test("letsencrypt:enable skips it in one line and certifies the app's exact hosts", async () => {
    await store.apps.create({ name: 'wild', owner: 'ada' });
    await store.domains.add('wild', '*.wild.example.test');
    await store.domains.add('wild', 'www.wild.example.test');
    const r = await run(ada, ['letsencrypt:enable', 'wild']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /-----> www\.wild\.example\.test: certificate until /);
    assert.equal(
      r.stderr,
      " !     *.wild.example.test: skipped: Let's Encrypt's HTTP-01 challenge cannot certify a wildcard; add a wildcard certificate with certs:add APP < bundle.pem\n",
    );
    assert.equal(
      (await served('www.wild.example.test')).checkHost('www.wild.example.test'),
      'www.wild.example.test',
    );
    assert.equal(await store.certs.get('*.wild.example.test'), undefined);
    // Only a wildcard to certify: nothing was, exit 1 with the same line.
    await store.domains.remove('wild', 'www.wild.example.test');
    const only = await run(ada, ['letsencrypt:enable', 'wild']);
    assert.equal(only.code, 1);
    assert.match(only.stderr, /^ ! {5}\*\.wild\.example\.test: skipped: /);
    assert.equal((await run(ada, ['apps:destroy', 'wild', '--force'])).code, 0);
  });
  test('letsencrypt:enable gets a certificate for each domain, chained to the CA root', async (t) => {
    await store.apps.create({ name: 'shop', owner: 'ada' });
    await store.domains.add('shop', 'shop.example.test');
    await store.domains.add('shop', 'www.shop.example.test');
    const t0 = performance.now();
    const r = await run(ada, ['letsencrypt:enable', 'shop']);
    const ms = Math.round(performance.now() - t0);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Answering the CA's HTTP-01 check for shop\.example\.test/);
    assert.match(r.stdout, /-----> www\.shop\.example\.test: certificate until /);
    const cert = await served('shop.example.test');
    assert.equal(cert.checkHost('shop.example.test'), 'shop.example.test');
    const meta = await store.certs.get('shop.example.test');
    assert.equal(meta?.source, 'acme');
    assert.equal(meta?.serial, cert.serialNumber);
    assert.equal(meta?.lastError, null);
    // The chain ends at Pebble's root (its intermediate is in the file).
    const pair = await readCertFile(dataPaths(dataDir), 'shop.example.test');
    const [, intermediate] = (pair?.chain ?? '').split(/(?<=-----END CERTIFICATE-----\n)/);
    assert.ok(intermediate);
    const root = new X509Certificate(await readFile(await pebble.rootFile()));
    assert.ok(cert.verify(new X509Certificate(intermediate).publicKey));
    assert.ok(new X509Certificate(intermediate).verify(root.publicKey), 'chains to the root');
    const mode = (await import('node:fs')).statSync(
      certFile(dataPaths(dataDir), 'shop.example.test'),
    ).mode;
    assert.equal(mode & 0o777, 0o600, 'the key is readable by Berth only');
    assert.equal(
      await redis.keys(`${prefix}acme-challenge:*`).then((k) => k.length),
      0,
      'challenges cleaned up',
    );
    const list = JSON.parse((await run(ada, ['letsencrypt:list', '--format', 'json'])).stdout);
    assert.deepEqual(
      list.map((c: { app: string; domain: string }) => [c.app, c.domain]),
      [
        ['shop', 'shop.example.test'],
        ['shop', 'www.shop.example.test'],
      ],
    );
    t.diagnostic(`letsencrypt:enable for 2 domains: ${ms} ms`);
  });

  test('the renewer renews a certificate a third of its lifetime before it ends, by itself', async (t) => {
    const before = await store.certs.get('shop.example.test');
    assert.ok(before?.notAfter && before.notBefore);
    const subscriber = redis.duplicate();
    const renewer = startRenewer(
      {
        store,
        paths: dataPaths(dataDir),
        directoryUrl: pebble.directoryUrl,
        email: undefined,
        selfCheck: false,
      },
      { subscriber, log: createLogger('certs', { level: 'silent' }) },
    );
    t.after(async () => {
      await renewer.stop();
      subscriber.disconnect();
    });
    const lifetime = Date.parse(before.notAfter) - Date.parse(before.notBefore);
    const renewAt = Date.parse(before.notAfter) - lifetime / 3;
    const deadline = Date.parse(before.notAfter) + 10_000;
    let after = before;
    while (after.serial === before.serial && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      after = (await store.certs.get('shop.example.test')) ?? after;
    }
    assert.notEqual(after.serial, before.serial, 'renewed: a new serial');
    assert.equal(
      (await served('shop.example.test')).serialNumber,
      after.serial,
      'the file was replaced',
    );
    const lateMs = Date.parse(after.lastRenewalAt ?? '') - renewAt;
    assert.ok(lateMs >= 0, 'not before a third of the lifetime was left');
    t.diagnostic(
      `lifetime ${Math.round(lifetime / 1000)} s; renewed ${Math.round(lateMs)} ms after the third-left point; serial ${before.serial?.slice(0, 8)}… → ${after.serial?.slice(0, 8)}…`,
    );
  });

  test('a failed order keeps the served certificate and records the error and the next attempt', async () => {
    const before = await store.certs.get('www.shop.example.test');
    await router.stop(); // Pebble's HTTP-01 check now finds nothing listening.
    // A new ACME account: the CA has no earlier authorization of it to reuse
    // (Pebble reuses valid ones at random), so every order must be checked.
    await rm(path.join(dataDir, 'acme'), { recursive: true, force: true });
    const r = await run(ada, ['letsencrypt:enable', 'shop']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /www\.shop\.example\.test: no certificate for www\.shop\.example\.test: .*connection refused/i,
    );
    const after = await store.certs.get('www.shop.example.test');
    assert.equal(after?.serial, before?.serial, 'the served certificate stays');
    assert.equal(after?.failures, 1);
    assert.match(after?.lastError ?? '', /connection refused/i);
    const wait = Date.parse(after?.nextAttemptAt ?? '') - Date.now();
    assert.ok(
      wait > retryDelayMs(1) - 60_000 && wait <= retryDelayMs(1),
      `next attempt in ${wait} ms`,
    );
    const listed = (await run(ada, ['letsencrypt:list'])).stdout;
    assert.match(listed, /www\.shop\.example\.test .*connection refused/i);
  });

  test('refusals: an app without a domain of its own, a busy order, an unknown app', async () => {
    await store.apps.create({ name: 'bare', owner: 'ada' });
    const r = await run(ada, ['letsencrypt:enable', 'bare']);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /has no domain of its own, and its default host gets no certificate \(BERTH_ACME_DEFAULT_HOSTS=off.*\); add one with "berth domains:add bare DOMAIN"/,
    );
    const release = await store.certs.lock('shop.example.test', 10_000);
    assert.ok(release);
    const busy = await run(ada, ['letsencrypt:enable', 'shop']);
    await release();
    assert.match(
      busy.stderr,
      /shop\.example\.test: a certificate for shop\.example\.test is being ordered already/,
    );
    assert.equal((await run(ada, ['letsencrypt:auto-renew', 'nope'])).code, 1);
  });
});

describe('an app with certificates destroyed', () => {
  test("takes its certificates' files (private keys) with it", async () => {
    const paths = dataPaths(dataDir);
    assert.ok(await readCertFile(paths, 'shop.example.test'));
    const r = await run(ada, ['apps:destroy', 'shop', '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readCertFile(paths, 'shop.example.test'), undefined);
    assert.equal(await readCertFile(paths, 'www.shop.example.test'), undefined);
    assert.equal(await store.certs.get('shop.example.test'), undefined);
  });
});
