// The status page at the bare BERTH_DOMAIN (issues 6 and 7): a real router
// process forwards it to the real web app on its loopback port, with the
// forwarded headers apps get, so the web app knows the scheme and host the
// browser used. Signing in through the router sets a Secure cookie under
// HTTPS only; with a platform certificate the router serves it by SNI and
// redirects plain HTTP (the ACME challenge path excepted), and auth:login's
// link follows.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../../services/core/actor.ts';
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/log.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import { createLoginLink } from '../../services/platform/accounts/sign-in.ts';
import { FALLBACK_NAME } from '../../services/platform/certs/fallback-cert.ts';
import {
  addPlatformCert,
  removePlatformCert,
} from '../../services/platform/certs/platform-cert.ts';
import { build } from '../../services/web/server.ts';
import { makeCert } from '../harness/certs.ts';
import { commandRunner } from '../harness/commands.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import {
  handshake,
  httpsRequest,
  request,
  startBackend,
  startRouter,
  type TestRouter,
} from '../harness/router.ts';
import { tempDir } from '../harness/tmp.ts';

const DOMAIN = 'berth.test';
const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
await store.checkSchema();
const paths = dataPaths(await tempDir('berth-status-page'));
const web = build({ store, log: createLogger('web', { level: 'silent' }), domain: DOMAIN });
// As services/web/service.ts listens: loopback only.
await web.listen({ host: '127.0.0.1', port: 0 });
const webPort = (web.server.address() as AddressInfo).port;
let router: TestRouter;

before(async () => {
  await mkdir(paths.certs, { recursive: true });
  await store.users.create('alice', 'admin');
  router = await startRouter({
    redisUrl: await sharedRedisUrl(),
    prefix,
    domain: DOMAIN,
    env: { BERTH_DATA_DIR: paths.root, BERTH_WEB_PORT: String(webPort) },
  });
});
after(async () => {
  await router?.stop();
  await web.close();
});

/** Polls until the check holds (certificate changes reach the router asynchronously). */
async function until(check: () => Promise<boolean>, ms = 3000): Promise<void> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > ms) throw new Error(`not so after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** auth:login's link for alice, as the router's ports make it. */
const link = () =>
  createLoginLink(
    store,
    { webPort, domain: DOMAIN, httpPort: router.port, httpsPort: router.httpsPort },
    ROOT,
    { user: 'alice' },
  );

describe('the status page at the bare domain', () => {
  test('HTTP to the bare domain reaches the web app, with the request id; pages need a session', async () => {
    const health = await request(router.port, DOMAIN, { path: '/healthz' });
    assert.equal(health.status, 200, health.body);
    assert.equal((JSON.parse(health.body) as { status: string }).status, 'ok');
    assert.ok(health.headers['x-request-id'], 'the router gave it a request id');
    // Any spelling of the host: case, a port, a trailing dot.
    for (const host of ['Berth.Test', `berth.test:${router.port}`, 'berth.test.']) {
      const page = await request(router.port, host);
      assert.equal(page.status, 401, host);
      assert.match(page.body, /auth:login/);
    }
    // An app's host is still the app's (none here: the router's 404 page), not the status page.
    const other = await request(router.port, `shop.${DOMAIN}`);
    assert.equal(other.status, 404);
    assert.doesNotMatch(other.body, /auth:login/);
  });

  test('signing in through the router over HTTP: the link is the router URL, the cookie not Secure', async () => {
    const l = await link();
    assert.ok(l.url.startsWith(`http://${DOMAIN}:${router.port}/auth/login/`), l.url);
    assert.match(l.note, /plain HTTP.*letsencrypt:enable --platform/);
    // The link's page, with the button that signs in (the GET uses nothing up).
    const shown = await request(router.port, DOMAIN, { path: new URL(l.url).pathname });
    assert.equal(shown.status, 200, shown.body);
    assert.match(shown.body, /<form method="post" action="\/auth\/login\//);
    // A client's own X-Forwarded-Proto is overwritten by the router: no Secure cookie over HTTP.
    const r = await request(router.port, DOMAIN, {
      method: 'POST',
      path: new URL(l.url).pathname,
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' },
    });
    assert.equal(r.status, 303, r.body);
    assert.equal(r.headers.location, '/');
    const cookie = String(r.headers['set-cookie']);
    assert.match(cookie, /^berth_session=/);
    assert.match(cookie, /HttpOnly/);
    assert.doesNotMatch(cookie, /Secure/);
    const page = await request(router.port, DOMAIN, {
      headers: { cookie: cookie.split(';')[0] ?? '' },
    });
    assert.equal(page.status, 200, page.body);
  });

  test('with a platform certificate: served by SNI, HTTP redirected (not the ACME path), a Secure cookie, an https link', async (t) => {
    const cert = await makeCert([DOMAIN]);
    await addPlatformCert(store, paths, DOMAIN, { key: cert.key, chain: cert.cert });
    await until(async () => (await handshake(router.httpsPort, DOMAIN)).serial === cert.serial);
    const t0 = performance.now();
    await until(async () => (await request(router.port, DOMAIN)).status === 308);
    t.diagnostic(`redirecting ${Math.round(performance.now() - t0)} ms after the SNI switch`);

    const redirect = await request(router.port, `${DOMAIN}:80`, { path: '/apps/x?y=1' });
    assert.equal(redirect.headers.location, `https://${DOMAIN}:${router.httpsPort}/apps/x?y=1`);
    const challenge = await request(router.port, DOMAIN, {
      path: '/.well-known/acme-challenge/no-such-token-here',
    });
    assert.equal(challenge.status, 404, 'the challenge path is answered, not redirected');
    assert.match(challenge.body, /no such ACME challenge/);

    const l = await link();
    assert.ok(l.url.startsWith(`https://${DOMAIN}:${router.httpsPort}/auth/login/`), l.url);
    const r = await httpsRequest(router.httpsPort, DOMAIN, new URL(l.url).pathname, {}, 'POST');
    assert.equal(r.status, 303, r.body);
    const cookie = String(r.headers['set-cookie']);
    // __Host-: a browser keeps it only Secure, Path=/ and without Domain, so
    // no app under the domain can set one for the status page (issue 16).
    assert.match(cookie, /^__Host-berth_session=/);
    assert.match(cookie, /; Secure/);
    assert.match(cookie, /; Path=\/;/);
    assert.doesNotMatch(cookie, /domain=/i);
    assert.match(cookie, /SameSite=Strict/);
    const page = await httpsRequest(router.httpsPort, DOMAIN, '/', {
      cookie: cookie.split(';')[0] ?? '',
    });
    assert.equal(page.status, 200, page.body);
    assert.match(page.body, /Sign out/);

    // Removed: the fallback certificate again, and plain HTTP served as it is.
    await removePlatformCert(store, paths, DOMAIN);
    await until(async () => (await handshake(router.httpsPort, DOMAIN)).cn === FALLBACK_NAME);
    await until(async () => (await request(router.port, DOMAIN)).status === 401);
    assert.ok((await link()).url.startsWith(`http://${DOMAIN}:${router.port}/`));
  });

  test('after certs:add --platform, clients without SNI are served that certificate too, where the redirect sends them (issue 16)', async (t) => {
    const run = commandRunner(
      store,
      loadConfig({ BERTH_DOMAIN: DOMAIN, BERTH_DATA_DIR: paths.root }),
    );
    const cert = await makeCert([DOMAIN]);
    const added = await run(ROOT, ['certs:add', '--platform'], `${cert.cert}${cert.key}`);
    assert.equal(added.code, 0, added.stderr);
    // Every router process (fresh connections land on either).
    const everywhere = (check: () => Promise<boolean>) => async () => {
      for (let i = 0; i < 8; i++) if (!(await check())) return false;
      return true;
    };
    await until(everywhere(async () => (await request(router.port, DOMAIN)).status === 308));
    assert.equal((await handshake(router.httpsPort, DOMAIN)).serial, cert.serial, 'by SNI');
    // No SNI: what openssl s_client sends for a name without a dot (the
    // default BERTH_DOMAIN, localhost) and any client given an IP address.
    // Before the fix the redirect sent them to the fallback certificate.
    const t0 = performance.now();
    await until(everywhere(async () => (await handshake(router.httpsPort)).serial === cert.serial));
    t.diagnostic(`served without SNI ${Math.round(performance.now() - t0)} ms after the redirect`);

    // A repeated Host is refused, not redirected (RFC 9112 3.2).
    const twice = await new Promise<string>((resolve, reject) => {
      const s = net.connect(router.port, '127.0.0.1', () =>
        s.write(
          `GET / HTTP/1.1\r\nHost: ${DOMAIN}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
        ),
      );
      let text = '';
      s.on('data', (d) => {
        text += d;
      });
      s.on('close', () => resolve(text));
      s.on('error', reject);
    });
    assert.match(twice, /^HTTP\/1\.1 400 /);

    const removed = await run(ROOT, ['certs:remove', '--platform']);
    assert.equal(removed.code, 0, removed.stderr);
    await until(everywhere(async () => (await handshake(router.httpsPort)).cn === FALLBACK_NAME));
    await until(everywhere(async () => (await request(router.port, DOMAIN)).status === 401));
  });

  test('with the web app down the bare domain gets the router 502 page; the router keeps running', async () => {
    await web.close();
    const r = await request(router.port, DOMAIN);
    assert.equal(r.status, 502);
    assert.match(r.body, /the status page is not running/);
    assert.equal(router.child.exitCode, null);
  });
});

describe('a status page response under way when the web app goes', () => {
  test('the client sees the cut at once, so a browser reconnects its event stream', async (t) => {
    // A web app that opens an event stream, sends one event, then dies (its
    // connection closes mid-body, as when the web service is killed).
    const dying = await startBackend('web', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: line\ndata: one\n\n');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const own = await startRouter({
      redisUrl: await sharedRedisUrl(),
      prefix,
      domain: DOMAIN,
      env: {
        BERTH_DATA_DIR: paths.root,
        BERTH_WEB_PORT: dying.address.split(':')[1] ?? '',
        BERTH_ROUTER_PROCESSES: '1',
      },
    });
    t.after(() => own.stop());
    const t0 = performance.now();
    const ended = await new Promise<string>((resolve) => {
      const req = http.get(
        { host: '127.0.0.1', port: own.port, path: '/', headers: { host: DOMAIN }, agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve('ended as if complete'));
          res.on('error', (e) => resolve(`cut: ${e.message}`));
          res.on('aborted', () => resolve('cut: aborted'));
        },
      );
      req.on('error', (e) => resolve(`cut: ${e.message}`));
      // Before the fix the router kept the client waiting for good.
      setTimeout(() => resolve('still open after 5 s'), 5000).unref();
    });
    assert.match(ended, /^cut: /);
    assert.ok(performance.now() - t0 < 2000, `cut after ${Math.round(performance.now() - t0)} ms`);
  });
});

describe('BERTH_STATUS_HOST: the status page on a host of its own (issue 16)', () => {
  // A name on another registered domain than the apps': their pages are
  // another site, so cookies they set never reach the status page.
  const STATUS = 'status.example';
  let own: TestRouter;
  let ownWeb: ReturnType<typeof build>;
  let ownWebPort: number;

  before(async () => {
    ownWeb = build({
      store,
      log: createLogger('web', { level: 'silent' }),
      domain: DOMAIN,
      statusHost: STATUS,
    });
    await ownWeb.listen({ host: '127.0.0.1', port: 0 });
    ownWebPort = (ownWeb.server.address() as AddressInfo).port;
    own = await startRouter({
      redisUrl: await sharedRedisUrl(),
      prefix,
      domain: DOMAIN,
      env: {
        BERTH_DATA_DIR: paths.root,
        BERTH_WEB_PORT: String(ownWebPort),
        BERTH_STATUS_HOST: STATUS,
        BERTH_ROUTER_PROCESSES: '1',
      },
    });
  });
  after(async () => {
    await own?.stop();
    await ownWeb?.close();
  });

  test('only that host reaches the status page; the bare domain is no longer it', async () => {
    const page = await request(own.port, STATUS);
    assert.equal(page.status, 401, page.body);
    assert.match(page.body, /auth:login/);
    const bare = await request(own.port, DOMAIN);
    assert.equal(bare.status, 404, bare.body);
    assert.match(bare.body, new RegExp(`no app is served at ${DOMAIN.replace('.', '\\.')}`));
    assert.doesNotMatch(bare.body, /auth:login/);
  });

  test("auth:login's link is at that host, and signing in there works", async () => {
    const l = await createLoginLink(
      store,
      { webPort: ownWebPort, domain: DOMAIN, statusHost: STATUS, httpPort: own.port },
      ROOT,
      { user: 'alice' },
    );
    assert.ok(l.url.startsWith(`http://${STATUS}:${own.port}/auth/login/`), l.url);
    const r = await request(own.port, STATUS, { method: 'POST', path: new URL(l.url).pathname });
    assert.equal(r.status, 303, r.body);
    const cookie = String(r.headers['set-cookie']).split(';')[0] ?? '';
    const home = await request(own.port, STATUS, { headers: { cookie } });
    assert.equal(home.status, 200, home.body);
  });

  test('the web app itself answers no other name (another proxy in front forwarding more)', async () => {
    const base = `127.0.0.1:${ownWebPort}`;
    const elsewhere = await request(ownWebPort, `shop.${DOMAIN}`);
    assert.equal(elsewhere.status, 421, elsewhere.body);
    assert.match(elsewhere.body, /shop\.berth\.test does not serve the status page/i);
    assert.match(elsewhere.body, /BERTH_E_WRONG_HOST/);
    const api = await request(ownWebPort, DOMAIN, { path: '/api/v1/apps' });
    assert.equal(api.status, 421);
    assert.equal(JSON.parse(api.body).error.code, 'BERTH_E_WRONG_HOST');
    // The loopback port itself is the admin's, as before.
    assert.equal((await request(ownWebPort, base)).status, 401);
    assert.equal((await request(ownWebPort, base, { path: '/healthz' })).status, 200);
  });
});
