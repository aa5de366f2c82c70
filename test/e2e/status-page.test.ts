// The status page at the bare BERTH_DOMAIN, end to end as an operator meets
// it: `npm start` with BERTH_DOMAIN=berth.test and Pebble (Debian's) as the
// ACME CA; the admin's auth:login over SSH prints the router URL, curl
// (pointed at loopback with --resolve) gets the page and signs in through
// the router; letsencrypt:enable --platform over SSH gets the domain a
// certificate that curl verifies against Pebble's root, after which plain
// HTTP is redirected, auth:login prints the https URL and the session cookie
// is Secure; the web service renews the certificate by itself and the
// router serves the new one without a restart.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startPebble } from '../harness/pebble.ts';
import { platformKnownHosts, servicesOf, startPlatform } from '../harness/platform.ts';
import { freePort } from '../harness/ports.ts';
import { handshake } from '../harness/router.ts';
import { opensshArgs } from '../harness/ssh.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';

const run = promisify(execFile);
const DOMAIN = 'berth.test';
const VALIDITY_S = 30;

/** The serial of the certificate the router presents for DOMAIN. */
const servedSerial = async (port: number) => (await handshake(port, DOMAIN)).serial;

interface Curled {
  status: number;
  headers: string;
  body: string;
}

describe('the status page at the bare domain, with TLS from an ACME CA', () => {
  test('served by the router, signed in through it, then certified, redirected, Secure and renewed', async (t) => {
    const dir = await tempDir('berth-status-e2e');
    const httpPort = await freePort();
    const pebble = await startPebble({ httpPort, validitySeconds: VALIDITY_S });
    t.after(() => pebble.stop());
    const admin = await makeKeyPair(dir, 'admin');
    const p = await startPlatform({
      dataDir: path.join(dir, 'data'),
      env: {
        BERTH_DOMAIN: DOMAIN,
        BERTH_HTTP_PORT: String(httpPort),
        BERTH_ADMIN_PUBKEY: admin.publicPath,
        BERTH_ACME_DIRECTORY_URL: pebble.directoryUrl,
        BERTH_ACME_SELF_CHECK: 'off',
        // Pebble's own listener has a certificate of the test's making.
        NODE_EXTRA_CA_CERTS: pebble.extraCaCertsFile,
      },
    });
    t.after(async () => {
      await p.stop();
      await p.stopRedis();
    });
    const httpsPort = Number(p.env.BERTH_HTTPS_PORT);
    assert.ok(
      p.stderr.some(
        (l) => l.includes('status page (router)') && l.includes(`http://${DOMAIN}:${httpPort}/`),
      ),
      'the ready banner names the public URL',
    );
    const knownHosts = await platformKnownHosts(p, path.join(dir, 'known_hosts'));
    const ssh = async (...args: string[]) =>
      (
        await run('ssh', [
          ...opensshArgs({ port: p.env.BERTH_SSH_PORT ?? '', key: admin.privatePath, knownHosts }),
          'berth@127.0.0.1',
          ...args,
        ])
      ).stdout;
    // curl as a browser on this machine would be, the name pointed at loopback.
    const resolve = [
      '--resolve',
      `${DOMAIN}:${httpPort}:127.0.0.1`,
      '--resolve',
      `${DOMAIN}:${httpsPort}:127.0.0.1`,
    ];
    const curl = async (url: string, ...extra: string[]): Promise<Curled> => {
      const { stdout } = await run('curl', ['-sS', '-D', '-', ...resolve, ...extra, url]);
      const [head = '', ...rest] = stdout.split('\r\n\r\n');
      return {
        status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)?.[1] ?? 0),
        headers: head,
        body: rest.join('\r\n\r\n'),
      };
    };
    const loginUrl = (printed: string) => {
      const m = /^\s+(https?:\/\/\S+\/auth\/login\/\S+)$/m.exec(printed);
      assert.ok(m?.[1], printed);
      return m[1];
    };

    // Plain HTTP through the router: the web app, with its sign-in.
    const anonymous = await curl(`http://${DOMAIN}:${httpPort}/`);
    assert.equal(anonymous.status, 401, anonymous.body);
    assert.match(anonymous.body, /auth:login/);
    const plainLink = loginUrl(await ssh('auth:login'));
    assert.ok(plainLink.startsWith(`http://${DOMAIN}:${httpPort}/auth/login/`), plainLink);
    // Opening the link shows its button and uses nothing up; the button's POST signs in.
    const shown = await curl(plainLink);
    assert.equal(shown.status, 200, shown.body);
    assert.match(shown.body, /<form method="post" action="\/auth\/login\//);
    const plainSignIn = await curl(plainLink, '-X', 'POST');
    assert.equal(plainSignIn.status, 303, plainSignIn.body);
    assert.match(plainSignIn.headers, /^set-cookie: berth_session=[^;]+;.*HttpOnly/im);
    assert.doesNotMatch(plainSignIn.headers, /^set-cookie:.*Secure/im);

    // A certificate for the platform domain from the CA.
    const t0 = performance.now();
    const enabled = await ssh('letsencrypt:enable', '--platform');
    const enableMs = Math.round(performance.now() - t0);
    assert.match(enabled, /-----> berth\.test: certificate until /);
    const root = await pebble.rootFile();
    const health = await curl(`https://${DOMAIN}:${httpsPort}/healthz`, '--cacert', root);
    assert.equal(health.status, 200, 'verified HTTPS to the status page');
    const redirect = await curl(`http://${DOMAIN}:${httpPort}/apps?x=1`);
    assert.equal(redirect.status, 308);
    assert.match(
      redirect.headers,
      new RegExp(`^location: https://berth\\.test:${httpsPort}/apps\\?x=1\\r?$`, 'im'),
    );

    // Signing in over verified HTTPS: the link says https, the cookie is
    // Secure and __Host- (no app under the domain can set one for it).
    const secureLink = loginUrl(await ssh('auth:login'));
    assert.ok(secureLink.startsWith(`https://${DOMAIN}:${httpsPort}/auth/login/`), secureLink);
    const signIn = await curl(secureLink, '--cacert', root, '-X', 'POST');
    assert.equal(signIn.status, 303, signIn.body);
    const cookie = /^set-cookie: (__Host-berth_session=[^;]+);(.*)$/im.exec(signIn.headers);
    assert.ok(cookie?.[1] && cookie[2], signIn.headers);
    assert.match(cookie[2], /; Secure/);
    assert.doesNotMatch(cookie[2], /domain=/i);
    const page = await curl(
      `https://${DOMAIN}:${httpsPort}/`,
      '--cacert',
      root,
      '-H',
      `Cookie: ${cookie[1]}`,
    );
    assert.equal(page.status, 200, page.body);
    assert.match(page.body, /Sign out/);
    const report = JSON.parse(await ssh('certs:report', '--platform', '--format', 'json')) as {
      certificate: { source: string; serial: string };
    };
    assert.equal(report.certificate.source, 'acme');

    // Renewed by the web service once a third of the lifetime is left, served at once.
    const routers = await servicesOf(p.env.BERTH_DATA_DIR ?? '', 'router');
    const serial = await servedSerial(httpsPort);
    assert.equal(serial.toUpperCase(), report.certificate.serial.toUpperCase());
    const t1 = performance.now();
    let renewed = serial;
    while (renewed === serial && performance.now() - t1 < VALIDITY_S * 1000 + 15_000) {
      await new Promise((r) => setTimeout(r, 250));
      renewed = await servedSerial(httpsPort);
    }
    assert.notEqual(renewed, serial, 'a new certificate is served');
    assert.equal(
      (await curl(`https://${DOMAIN}:${httpsPort}/healthz`, '--cacert', root)).status,
      200,
    );
    assert.deepEqual(
      await servicesOf(p.env.BERTH_DATA_DIR ?? '', 'router'),
      routers,
      'no router restarted',
    );
    t.diagnostic(
      `ready ${Math.round(p.readyMs)} ms; letsencrypt:enable --platform ${enableMs} ms; renewed and served ${Math.round((performance.now() - t1) / 1000)} s after (lifetime ${VALIDITY_S} s)`,
    );
  });
});
