// HTTPS with a certificate from an ACME CA, end to end as an operator runs
// it: `npm start` with Pebble (Debian's) as BERTH_ACME_DIRECTORY_URL, an app
// pushed over SSH, `domains:add` and `letsencrypt:enable` over SSH, then
// curl verifying the router's HTTPS answer against Pebble's root for that
// host name. Pebble issues certificates living 30 s, so the web service
// renews by itself within the test, and the router serves the new one
// without a restart (the serial changes, the router's pids do not).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { berthWithApp } from '../harness/berth-app.ts';
import { startPebble } from '../harness/pebble.ts';
import { servicesOf } from '../harness/platform.ts';
import { freePort } from '../harness/ports.ts';
import { handshake } from '../harness/router.ts';

const run = promisify(execFile);
const DOMAIN = 'shop.example.test';
const VALIDITY_S = 30;

/** The serial of the certificate the router presents for DOMAIN. */
const servedSerial = async (port: number) => (await handshake(port, DOMAIN)).serial;

describe('HTTPS with a certificate from an ACME CA', () => {
  test('letsencrypt:enable gets a certificate curl verifies; it renews by itself and is served at once', async (t) => {
    const httpPort = await freePort();
    const pebble = await startPebble({ httpPort, validitySeconds: VALIDITY_S });
    t.after(() => pebble.stop());
    const b = await berthWithApp('tls', {
      BERTH_HTTP_PORT: String(httpPort),
      BERTH_ACME_DIRECTORY_URL: pebble.directoryUrl,
      BERTH_ACME_SELF_CHECK: 'off',
      // Pebble's own listener has a certificate of the test's making.
      NODE_EXTRA_CA_CERTS: pebble.extraCaCertsFile,
    });
    t.after(() => b.close());
    await b.push();
    const httpsPort = Number(b.platform.env.BERTH_HTTPS_PORT);
    const routers = await servicesOf(b.platform.env.BERTH_DATA_DIR ?? '', 'router');

    await b.command('domains:add', b.app, DOMAIN);
    const t0 = performance.now();
    const enabled = await b.command('letsencrypt:enable', b.app);
    const enableMs = Math.round(performance.now() - t0);
    assert.match(enabled, new RegExp(`${DOMAIN.replace(/\./g, '\\.')}: certificate until`));

    const root = await pebble.rootFile();
    const curl = () =>
      run('curl', [
        '-sS',
        '--fail',
        '--cacert',
        root,
        '--resolve',
        `${DOMAIN}:${httpsPort}:127.0.0.1`,
        `https://${DOMAIN}:${httpsPort}/`,
      ]);
    const first = await curl();
    assert.match(first.stdout, /^node-plain on v/, 'the app answers over verified HTTPS');
    const serial = await servedSerial(httpsPort);
    // Plain HTTP now redirects to HTTPS.
    const redirect = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{redirect_url}',
      '-H',
      `Host: ${DOMAIN}`,
      `http://127.0.0.1:${httpPort}/x`,
    ]);
    assert.equal(redirect.stdout, `308 https://${DOMAIN}:${httpsPort}/x`);

    const report = JSON.parse(await b.command('certs:report', b.app, '--format', 'json')) as {
      domains: { domain: string; certificate: { source: string; serial: string } | null }[];
    };
    const mine = report.domains.find((d) => d.domain === DOMAIN)?.certificate;
    assert.equal(mine?.source, 'acme');
    assert.equal(mine?.serial.toUpperCase(), serial.toUpperCase());

    // Renewal by the web service once a third of the 30 s is left; served at once.
    const t1 = performance.now();
    let renewed = serial;
    while (renewed === serial && performance.now() - t1 < VALIDITY_S * 1000 + 15_000) {
      await new Promise((r) => setTimeout(r, 250));
      renewed = await servedSerial(httpsPort);
    }
    assert.notEqual(renewed, serial, 'a new certificate is served');
    await curl(); // and it verifies too
    assert.deepEqual(
      await servicesOf(b.platform.env.BERTH_DATA_DIR ?? '', 'router'),
      routers,
      'no router restarted',
    );
    t.diagnostic(
      `letsencrypt:enable ${enableMs} ms; renewed and served ${Math.round((performance.now() - t1) / 1000)} s after the first was (lifetime ${VALIDITY_S} s); serial ${serial.slice(0, 8)}… → ${renewed.slice(0, 8)}…`,
    );
  });
});
