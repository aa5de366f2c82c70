// The platform's certificate by ACME HTTP-01 against Pebble (Debian's, a
// real ACME CA) through a real router process: letsencrypt:enable --platform
// gets the bare BERTH_DOMAIN a certificate chained to Pebble's root, the
// renewer (as the web service configures it) renews it by itself like an
// app's, letsencrypt:list shows it, and letsencrypt:disable --platform
// removes it. A certificate left from an earlier BERTH_DOMAIN is not ordered
// again and again. An app's default host <app>.<BERTH_DOMAIN> gets one with
// the app's letsencrypt:enable (BERTH_ACME_DEFAULT_HOSTS, on by default),
// which goes with the app when it is renamed or destroyed.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import acme from 'acme-client';
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/log.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import { APP_HOOKS } from '../../services/platform/app-hooks.ts';
import { renameApp } from '../../services/platform/apps/apps.ts';
import { acmeOptions } from '../../services/platform/certs/acme.ts';
import { readCertFile } from '../../services/platform/certs/cert-files.ts';
import { startRenewer } from '../../services/platform/certs/renewer.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { type Pebble, startPebble } from '../harness/pebble.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { startRouter, type TestRouter } from '../harness/router.ts';
import { tempDir } from '../harness/tmp.ts';

const DOMAIN = 'platform.berth.test';
const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const ada = userActor('ada', 'admin');
const VALIDITY_S = 24;
const dataDir = await tempDir('berth-acme-platform');
let router: TestRouter;
let pebble: Pebble;
let config: ReturnType<typeof loadConfig>;
let run: ReturnType<typeof commandRunner>;
const configEnv = () => ({
  BERTH_DATA_DIR: dataDir,
  BERTH_DOMAIN: DOMAIN,
  BERTH_ACME_DIRECTORY_URL: pebble.directoryUrl,
  BERTH_ACME_SELF_CHECK: 'off',
});

before(async () => {
  router = await startRouter({ redisUrl: await sharedRedisUrl(), prefix, domain: DOMAIN });
  pebble = await startPebble({ httpPort: router.port, validitySeconds: VALIDITY_S });
  // Pebble's own listener has a certificate of the test's making.
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: await readFile(pebble.listenerCaFile) });
  config = loadConfig(configEnv());
  run = commandRunner(store, config);
  await store.users.create('ada', 'admin');
});
after(async () => {
  await pebble?.stop();
  await router?.stop();
});

const served = async (domain = DOMAIN) => {
  const pair = await readCertFile(dataPaths(dataDir), domain);
  assert.ok(pair, `${domain} has a certificate file`);
  return new X509Certificate(pair.chain);
};

describe('the platform certificate from Pebble', () => {
  test('letsencrypt:enable --platform gets BERTH_DOMAIN a certificate chained to the root', async (t) => {
    const t0 = performance.now();
    const r = await run(ada, ['letsencrypt:enable', '--platform']);
    const ms = Math.round(performance.now() - t0);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Getting a certificate for platform\.berth\.test \(the status page\)/);
    assert.match(r.stdout, /-----> platform\.berth\.test: certificate until /);
    const cert = await served();
    assert.equal(cert.checkHost(DOMAIN), DOMAIN);
    const pair = await readCertFile(dataPaths(dataDir), DOMAIN);
    const [, intermediate] = (pair?.chain ?? '').split(/(?<=-----END CERTIFICATE-----\n)/);
    assert.ok(intermediate);
    const root = new X509Certificate(await readFile(await pebble.rootFile()));
    assert.ok(new X509Certificate(intermediate).verify(root.publicKey), 'chains to the root');
    const list = JSON.parse((await run(ada, ['letsencrypt:list', '--format', 'json'])).stdout);
    assert.deepEqual(
      list.map((c: { app?: string; domain: string; platform: boolean }) => [c.domain, c.platform]),
      [[DOMAIN, true]],
    );
    assert.match(
      (await run(ada, ['letsencrypt:list'])).stdout,
      /\(platform\)\s+platform\.berth\.test/,
    );
    t.diagnostic(`letsencrypt:enable --platform: ${ms} ms`);
  });

  test('the renewer renews it a third of its lifetime before it ends; a stale one is left alone', async (t) => {
    const before = await store.certs.get(DOMAIN);
    assert.ok(before?.notAfter && before.notBefore);
    // A certificate from an earlier BERTH_DOMAIN, already due: never ordered.
    await store.certs.set(
      'old.berth.test',
      {
        source: 'acme',
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 1000),
      },
      { platform: true },
    );
    const subscriber = redis.duplicate();
    // What the renewer logs: the stale certificate once per pass, not once a second.
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const renewer = startRenewer(acmeOptions(config, store), {
      subscriber,
      log: createLogger('certs', { level: 'warn', destination }),
    });
    t.after(async () => {
      await renewer.stop();
      subscriber.disconnect();
    });
    const deadline = Date.parse(before.notAfter) + 10_000;
    let after = before;
    while (after.serial === before.serial && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      after = (await store.certs.get(DOMAIN)) ?? after;
    }
    assert.notEqual(after.serial, before.serial, 'renewed: a new serial');
    assert.equal((await served()).serialNumber, after.serial, 'the file was replaced');
    const lifetime = Date.parse(before.notAfter) - Date.parse(before.notBefore);
    const lateMs =
      Date.parse(after.lastRenewalAt ?? '') - (Date.parse(before.notAfter) - lifetime / 3);
    assert.ok(lateMs >= 0, 'not before a third of the lifetime was left');
    const stale = await store.certs.get('old.berth.test');
    assert.equal(stale?.serial, null, 'the stale one was not ordered');
    assert.equal(stale?.lastError, null);
    const staleWarnings = lines.filter((l) => l.includes('old.berth.test')).length;
    // One pass at start, one per certificate change (the renewal), a few at most.
    assert.ok(
      staleWarnings >= 1 && staleWarnings <= 4,
      `${staleWarnings} warnings in ${lines.length} lines`,
    );
    assert.match(
      (await run(ada, ['letsencrypt:auto-renew'])).stdout,
      /No certificate is due/,
      'auto-renew leaves it out too',
    );
    t.diagnostic(
      `lifetime ${Math.round(lifetime / 1000)} s; renewed ${Math.round(lateMs)} ms after the third-left point`,
    );
  });

  test('letsencrypt:disable --platform removes it', async () => {
    const r = await run(ada, ['letsencrypt:disable', '--platform']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Removed the ACME certificate of platform\.berth\.test/);
    assert.equal(await readCertFile(dataPaths(dataDir), DOMAIN), undefined);
    assert.equal(await store.certs.get(DOMAIN), undefined);
  });
});

describe("an app's default host", () => {
  test('letsencrypt:enable APP certifies <app>.<BERTH_DOMAIN> too; rename and destroy take it away', async () => {
    await store.apps.create({ name: 'shop', owner: 'ada' });
    await store.domains.add('shop', 'shop.example.test');
    const host = `shop.${DOMAIN}`;
    const r = await run(ada, ['letsencrypt:enable', 'shop']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /-----> shop\.platform\.berth\.test: certificate until /);
    assert.match(r.stdout, /-----> shop\.example\.test: certificate until /);
    assert.equal((await served(host)).checkHost(host), host);
    const list = JSON.parse((await run(ada, ['letsencrypt:list', '--format', 'json'])).stdout);
    assert.deepEqual(
      list
        .filter((c: { domain: string }) => c.domain !== 'old.berth.test')
        .map((c: { app?: string; domain: string }) => [c.app, c.domain]),
      [
        ['shop', 'shop.example.test'],
        ['shop', host],
      ],
    );
    const report = JSON.parse(
      (await run(ada, ['certs:report', 'shop', '--format', 'json'])).stdout,
    );
    assert.equal(report.domains[0].domain, host);
    assert.equal(report.domains[0].certificate.source, 'acme');

    // Renamed: the old default host is served no more, so its certificate goes.
    const shop = await store.apps.get('shop');
    assert.ok(shop);
    await renameApp(shop, 'store', {
      store,
      files: dataPaths(dataDir),
      docker: undefined,
      base: DOMAIN,
      hooks: APP_HOOKS,
    });
    assert.equal(await store.certs.get(host), undefined);
    assert.equal(await readCertFile(dataPaths(dataDir), host), undefined);
    assert.ok(await store.certs.get('shop.example.test'), 'the custom domain keeps its own');

    const again = await run(ada, ['letsencrypt:enable', 'store']);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(await readCertFile(dataPaths(dataDir), `store.${DOMAIN}`));
    const destroyed = await run(ada, ['apps:destroy', 'store', '--force']);
    assert.equal(destroyed.code, 0, destroyed.stderr);
    assert.equal(await store.certs.get(`store.${DOMAIN}`), undefined);
    assert.equal(await readCertFile(dataPaths(dataDir), `store.${DOMAIN}`), undefined);
    assert.deepEqual(
      (await store.certs.list()).map((c) => c.domain),
      ['old.berth.test'],
      'only the stale certificate of the earlier test is left',
    );
  });

  test('BERTH_ACME_DEFAULT_HOSTS=off leaves the default host out', async () => {
    await store.apps.create({ name: 'blog', owner: 'ada' });
    const off = commandRunner(
      store,
      loadConfig({ ...configEnv(), BERTH_ACME_DEFAULT_HOSTS: 'off' }),
    );
    const r = await off(ada, ['letsencrypt:enable', 'blog']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /has no domain of its own, and its default host gets no certificate/);
    assert.equal(await store.certs.get(`blog.${DOMAIN}`), undefined);
  });
});
