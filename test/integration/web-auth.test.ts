// Signing in to the web app and API tokens (issue 7): one-time links,
// sessions, CSRF, bearer tokens and per-app visibility, against a real Redis,
// the real command dispatcher and the real fastify app (inject).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { ROOT } from '../../services/core/actor.ts';
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/log.ts';
import { Store } from '../../services/core/store/index.ts';
import { createLoginLink } from '../../services/platform/accounts/sign-in.ts';
import { build } from '../../services/web/server.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
await store.checkSchema();
// A second connection and a second web app: "two uses at once" race in Redis,
// as two browsers reaching two web processes would.
const store2 = new Store(await redisClient(prefix), prefix);
const silent = createLogger('web', { level: 'silent' });
const web = build({ store, log: silent, domain: 'berth.test' });
const web2 = build({ store: store2, log: silent, domain: 'berth.test' });
after(() => Promise.all([web.close(), web2.close()]));

const config = loadConfig({ BERTH_DOMAIN: 'berth.test', BERTH_WEB_PORT: '8080' });
const run = commandRunner(store);

await store.users.create('alice', 'user');
await store.users.create('bob', 'user');
await store.users.create('root-admin', 'admin');
const alice = userActor('alice');
const bob = userActor('bob');
const admin = userActor('root-admin', 'admin');
await store.apps.create({ name: 'shop', owner: 'alice' });
await store.apps.create({ name: 'blog', owner: 'bob' });
await store.apps.create({ name: 'wiki', owner: 'bob' });
await store.apps.addCollaborator('wiki', 'alice');
await store.releases.create('shop', {
  image: 'berth/shop:1',
  description: 'Deploy 3f2a1c9',
  by: 'alice',
  status: 'succeeded',
  config: { SECRET_KEY: 'hunter2' },
});

/** Every secret this file was shown; none may appear anywhere in Redis. */
const shownSecrets: string[] = [];

/** The path of the link `auth:login` printed. */
async function loginPath(actor = alice): Promise<string> {
  const r = await run(actor, ['auth:login']);
  assert.equal(r.code, 0, r.stderr);
  const m = /https?:\/\/[^/\s]+(\/auth\/login\/(\S+))/.exec(r.stdout);
  assert.ok(m?.[1] && m[2], r.stdout);
  shownSecrets.push(m[2]);
  return m[1];
}

const setCookie = (r: { headers: Record<string, unknown> }): string => {
  const h = r.headers['set-cookie'];
  return String(Array.isArray(h) ? h[0] : (h ?? ''));
};

/** Uses a sign-in link: the POST its page's button sends (a GET only shows the page). */
const useLink = (path: string, app = web, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: path, headers });

/** Signs in through a fresh link; returns the cookie header and the session's CSRF token. */
async function signIn(actor = alice, app = web) {
  const r = await useLink(await loginPath(actor), app);
  assert.equal(r.statusCode, 303, r.body);
  assert.equal(r.headers.location, '/');
  const pair = setCookie(r).split(';')[0] ?? '';
  shownSecrets.push(pair.split('=')[1] ?? '');
  const home = await app.inject({ url: '/', headers: { cookie: pair } });
  assert.equal(home.statusCode, 200, home.body);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(home.body)?.[1];
  assert.ok(csrf);
  return { cookie: pair, csrf, home: home.body };
}

async function newToken(actor = alice, extra: string[] = []) {
  const r = await run(actor, ['auth:token', '--format', 'json', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  const issued = JSON.parse(r.stdout) as { id: string; token: string; name: string };
  shownSecrets.push(issued.token);
  return issued;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('sign-in links', () => {
  test('auth:login prints a link at the bare domain that signs in once and only once', async () => {
    const r = await run(alice, ['auth:login']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Sign-in link for alice \(works once, for 5 minutes\)/);
    // Through the router, over plain HTTP while the domain has no certificate
    // (test/integration/router-status-page.test.ts follows it there).
    assert.match(r.stdout, /^ {7}http:\/\/berth\.test\/auth\/login\/\S+$/m);
    assert.match(r.stdout, /no certificate, so the link goes over plain HTTP/);
    const path = await loginPath();
    const first = await useLink(path);
    assert.equal(first.statusCode, 303);
    assert.equal(first.headers['cache-control'], 'no-store');
    const second = await useLink(path);
    assert.equal(second.statusCode, 410);
    assert.match(second.headers['content-type'] as string, /text\/html/);
    assert.match(second.body, /used already, has expired/);
    assert.match(second.body, /auth:login/);
    assert.equal(second.headers['set-cookie'], undefined);
  });

  test('of two uses at once through two web processes, exactly one signs in', async () => {
    for (let i = 0; i < 20; i++) {
      const path = await loginPath();
      const results = await Promise.all([useLink(path), useLink(path, web2)]);
      const codes = results.map((x) => x.statusCode).sort();
      assert.deepEqual(codes, [303, 410], `round ${i}`);
    }
  });

  test('over a real listener too, two browsers racing with one link: one session', async () => {
    const real = build({ store: store2, log: silent, domain: 'berth.test' });
    const base = await real.listen({ host: '127.0.0.1', port: 0 });
    try {
      const path = await loginPath();
      const answers = await Promise.all(
        [1, 2].map(() => fetch(`${base}${path}`, { method: 'POST', redirect: 'manual' })),
      );
      assert.deepEqual(answers.map((a) => a.status).sort(), [303, 410]);
      const won = answers.find((a) => a.status === 303);
      const cookie = (won?.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      shownSecrets.push(cookie.split('=')[1] ?? '');
      const home = await fetch(`${base}/`, { headers: { cookie } });
      assert.equal(home.status, 200);
      assert.match(await home.text(), /alice/);
    } finally {
      await real.close();
    }
  });

  test('a link expires (a short TTL here; users get 5 minutes)', async () => {
    const link = await createLoginLink(store, config, alice, { ttlMs: 50 });
    shownSecrets.push(link.url.split('/').pop() ?? '');
    assert.ok(link.url.startsWith('http://berth.test/auth/login/'));
    await sleep(150);
    const r = await useLink(new URL(link.url).pathname);
    assert.equal(r.statusCode, 410);
    // Its page says so at once, rather than offer a button that cannot work.
    assert.equal((await web.inject({ url: new URL(link.url).pathname })).statusCode, 410);
  });

  test('garbage and unknown links are refused the same way', async () => {
    for (const token of ['x', 'A'.repeat(43), '<script>', `${'A'.repeat(42)}%00`]) {
      for (const method of ['GET', 'POST'] as const) {
        const r = await web.inject({ method, url: `/auth/login/${encodeURIComponent(token)}` });
        assert.equal(r.statusCode, 410, `${method} ${token}`);
        assert.ok(!r.body.includes('<script>'));
      }
    }
  });

  test('root names the user; a user cannot sign in as another', async () => {
    assert.equal((await run(ROOT, ['auth:login'])).code, 2);
    const asRoot = await run(ROOT, ['auth:login', '--user', 'bob', '--format', 'json']);
    assert.equal(asRoot.code, 0, asRoot.stderr);
    const link = JSON.parse(asRoot.stdout) as { url: string; user: string };
    shownSecrets.push(link.url.split('/').pop() ?? '');
    assert.equal(link.user, 'bob');
    const other = await run(alice, ['auth:login', '--user', 'bob']);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /is for root on the server/);
    const nobody = await run(ROOT, ['auth:login', '--user', 'nobody']);
    assert.match(nobody.stderr, /user "nobody" does not exist/);
  });
});

describe('sign-in links survive scanners and other sites (issue 16)', () => {
  test("a GET or HEAD of a link (a mail scanner's) leaves it working; the page's button signs in", async () => {
    const path = await loginPath();
    // What a link scanner or a preview does before the user clicks.
    for (const method of ['HEAD', 'GET', 'GET'] as const) {
      const r = await web.inject({ method, url: path });
      assert.equal(r.statusCode, 200, `${method}: ${r.body}`);
      assert.equal(r.headers['set-cookie'], undefined, method);
      assert.equal(r.headers['cache-control'], 'no-store', method);
      assert.equal(r.headers['referrer-policy'], 'same-origin', method);
    }
    const page = await web.inject({ url: path });
    assert.match(page.body, /signs this browser in as <strong>alice<\/strong>/);
    const form =
      /<form method="post" action="([^"]+)"><button type="submit"[^>]*>Sign in as alice<\/button>/.exec(
        page.body,
      );
    assert.equal(form?.[1], path, page.body);
    // The button's POST is what uses the link up.
    const used = await useLink(path);
    assert.equal(used.statusCode, 303, used.body);
    assert.match(setCookie(used), /^berth_session=/);
    assert.equal((await web.inject({ url: path })).statusCode, 410);
    assert.equal((await useLink(path)).statusCode, 410);
  });

  test("another site's page cannot post a link and sign the visitor in as someone else", async () => {
    // Mallory's own link, posted from her page (an app on the same site, or
    // anywhere): the visitor would be signed in as her (login CSRF).
    const path = await loginPath(bob);
    const refusals: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'same-site', origin: 'http://berth.test', host: 'berth.test' },
      // A browser without Sec-Fetch-Site: by Origin.
      { origin: 'http://shop.berth.test' },
      { origin: 'null' },
    ];
    for (const headers of refusals) {
      const r = await useLink(path, web, headers);
      assert.equal(r.statusCode, 403, JSON.stringify(headers));
      assert.equal(r.headers['set-cookie'], undefined);
    }
    // The link was not used up by the refusals: its own button still works.
    const own = await useLink(path, web, {
      'sec-fetch-site': 'same-origin',
      origin: 'http://berth.test',
      host: 'berth.test',
    });
    assert.equal(own.statusCode, 303, own.body);
  });
});

describe('session cookies an app sets do not count (issue 16, item 13)', () => {
  // An app at <app>.berth.test can set a cookie for Domain=berth.test: the
  // browser then sends it to the status page beside (or instead of) the
  // status page's own. Mallory plants her own session's cookie that way.
  test('over HTTPS the cookie is __Host-berth_session: Secure, Path=/, no Domain', async () => {
    const https = { 'x-forwarded-proto': 'https' };
    const r = await useLink(await loginPath(), web, https);
    const cookie = setCookie(r);
    assert.match(cookie, /^__Host-berth_session=[A-Za-z0-9_-]{43}; /);
    const attributes = cookie.split('; ');
    for (const flag of ['Secure', 'Path=/', 'HttpOnly', 'SameSite=Strict']) {
      assert.ok(attributes.includes(flag), `${flag} in ${cookie}`);
    }
    assert.ok(!/domain=/i.test(cookie), cookie);
    const pair = cookie.split(';')[0] ?? '';
    shownSecrets.push(pair.split('=')[1] ?? '');
    const home = await web.inject({ url: '/', headers: { ...https, cookie: pair } });
    assert.equal(home.statusCode, 200);
    // The same value under the plain name is no session over HTTPS.
    const plain = `berth_session=${pair.split('=')[1]}`;
    assert.equal(
      (await web.inject({ url: '/', headers: { ...https, cookie: plain } })).statusCode,
      401,
    );
    // Signing out clears the __Host- cookie.
    const csrf = /name="_csrf" value="([^"]+)"/.exec(home.body)?.[1] ?? '';
    const out = await web.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { ...https, cookie: pair, 'x-csrf-token': csrf },
    });
    assert.match(setCookie(out), /^__Host-berth_session=; .*Max-Age=0/);
  });

  test("over HTTPS an app's planted berth_session neither signs the user in as the attacker nor out", async () => {
    const https = { 'x-forwarded-proto': 'https' };
    const mallory = (await signIn(bob)).cookie.split('=')[1] ?? '';
    const own = await useLink(await loginPath(), web, https);
    const pair = setCookie(own).split(';')[0] ?? '';
    shownSecrets.push(pair.split('=')[1] ?? '');
    for (const cookie of [
      `berth_session=${mallory}; ${pair}`,
      `${pair}; berth_session=${mallory}`,
    ]) {
      const r = await web.inject({ url: '/', headers: { ...https, cookie } });
      assert.equal(r.statusCode, 200, cookie);
      assert.match(r.body, /<span>alice<\/span>/);
      assert.ok(!r.body.includes('<span>bob</span>'));
    }
    // Alone, the planted cookie signs nobody in.
    const planted = await web.inject({
      url: '/',
      headers: { ...https, cookie: `berth_session=${mallory}` },
    });
    assert.equal(planted.statusCode, 401);
  });

  test('two session cookies (one planted for the parent domain) are refused, never the first taken', async () => {
    const mallory = (await signIn(bob)).cookie;
    const alices = (await signIn(alice)).cookie;
    for (const cookie of [`${mallory}; ${alices}`, `${alices}; ${mallory}`]) {
      for (const url of ['/', '/api/v1/apps']) {
        const r = await web.inject({ url, headers: { cookie } });
        assert.equal(r.statusCode, 401, `${url} ${cookie}`);
        assert.match(r.body, /carries 2 berth_session cookies, so none is trusted/);
        assert.match(r.body, /clear the cookies of this site/);
        assert.ok(!r.body.includes('bob'), r.body);
      }
    }
    // With the cookies cleared but hers, alice is signed in as herself again.
    const home = await web.inject({ url: '/', headers: { cookie: alices } });
    assert.equal(home.statusCode, 200);
    assert.match(home.body, /<span>alice<\/span>/);
  });
});

describe('sessions', () => {
  test('the cookie is HttpOnly, SameSite=Strict, Path=/, and Secure only under HTTPS', async () => {
    const plain = await useLink(await loginPath());
    const cookie = setCookie(plain);
    assert.match(cookie, /^berth_session=[A-Za-z0-9_-]{43}; /);
    for (const flag of ['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=43200']) {
      assert.ok(cookie.split('; ').includes(flag), `${flag} in ${cookie}`);
    }
    assert.ok(!/Secure/i.test(cookie), cookie);
    const tls = await useLink(await loginPath(), web, { 'x-forwarded-proto': 'https' });
    assert.ok(setCookie(tls).split('; ').includes('Secure'), setCookie(tls));
    // X-Forwarded-Proto counts only from a loopback peer (the router), never
    // from a client elsewhere (the web app listens on loopback; this is the
    // second line of defence).
    const spoofed = await web.inject({
      method: 'POST',
      url: await loginPath(),
      remoteAddress: '203.0.113.9',
      headers: { 'x-forwarded-proto': 'https' },
    });
    assert.equal(spoofed.statusCode, 303);
    assert.ok(!/Secure/i.test(setCookie(spoofed)), setCookie(spoofed));
  });

  test('signed in, the page lists only the apps the user may see', async () => {
    const { home } = await signIn(alice);
    assert.match(home, />shop</);
    assert.match(home, />wiki</);
    assert.ok(!home.includes('>blog<'));
  });

  test('without a session the page says how to sign in; a stale cookie is no session', async () => {
    for (const headers of [{}, { cookie: `berth_session=${'A'.repeat(43)}` }]) {
      const r = await web.inject({ url: '/', headers });
      assert.equal(r.statusCode, 401);
      assert.match(r.body, /auth:login/);
    }
  });

  test('sign-out needs the CSRF token and ends the session server-side', async () => {
    const { cookie, csrf } = await signIn(alice);
    const form = { 'content-type': 'application/x-www-form-urlencoded', cookie };
    for (const payload of ['', '_csrf=wrong', `_csrf=${'A'.repeat(43)}`]) {
      const refused = await web.inject({
        method: 'POST',
        url: '/auth/logout',
        headers: form,
        payload,
      });
      assert.equal(refused.statusCode, 403, payload);
      assert.match(refused.body, /CSRF/);
    }
    assert.equal((await web.inject({ url: '/', headers: { cookie } })).statusCode, 200);
    const hash = (await redis.keys(`${prefix}session:*`)).length;
    const out = await web.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: form,
      payload: `_csrf=${encodeURIComponent(csrf)}`,
    });
    assert.equal(out.statusCode, 200, out.body);
    assert.match(setCookie(out), /^berth_session=; .*Max-Age=0/);
    assert.equal((await redis.keys(`${prefix}session:*`)).length, hash - 1);
    // The browser could keep the cookie; the server no longer knows it.
    assert.equal((await web.inject({ url: '/', headers: { cookie } })).statusCode, 401);
  });

  test('the CSRF token works as a header too (scripts in the page)', async () => {
    const { cookie, csrf } = await signIn(alice);
    const r = await web.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { cookie, 'x-csrf-token': csrf },
    });
    assert.equal(r.statusCode, 200);
  });

  test('a session ends when its time is up (short here; 12 h for users)', async () => {
    // 2 s: long enough that a loaded machine (the full suite) still makes
    // the first request inside it; 100 ms failed there once.
    const ttl = 2000;
    const brief = build({ store, log: silent, domain: 'berth.test', sessionTtlMs: ttl });
    try {
      const r = await useLink(await loginPath(), brief);
      const signedIn = performance.now();
      const cookie = setCookie(r).split(';')[0] ?? '';
      assert.equal((await brief.inject({ url: '/', headers: { cookie } })).statusCode, 200);
      await sleep(ttl + 100 - (performance.now() - signedIn));
      assert.equal((await brief.inject({ url: '/', headers: { cookie } })).statusCode, 401);
    } finally {
      await brief.close();
    }
  });

  test('a session checks its expiry itself, whatever the key TTL says', async () => {
    const { cookie } = await signIn(alice);
    const later = new Store(redis, prefix, { now: () => new Date(Date.now() + 13 * 3_600_000) });
    const future = build({ store: later, log: silent, domain: 'berth.test' });
    try {
      assert.equal((await future.inject({ url: '/', headers: { cookie } })).statusCode, 401);
    } finally {
      await future.close();
    }
  });
});

describe('API tokens', () => {
  test('auth:token prints a token once; auth:tokens lists it without the secret', async () => {
    const r = await run(alice, ['auth:token', '--name', 'ci', '--expires', '7d']);
    assert.equal(r.code, 0, r.stderr);
    const secret = /^ {7}(berth_[A-Za-z0-9_-]{43})$/m.exec(r.stdout)?.[1];
    assert.ok(secret, r.stdout);
    shownSecrets.push(secret);
    const id = /API token ([0-9a-f]{16}) "ci" for alice/.exec(r.stdout)?.[1];
    assert.ok(id);
    const text = await run(alice, ['auth:tokens']);
    assert.match(text.stdout, new RegExp(`${id}\\s+ci\\s+alice`));
    assert.ok(!text.stdout.includes(secret));
    const listed = JSON.parse((await run(alice, ['auth:tokens', '--format', 'json'])).stdout);
    const mine = listed.find((t: { id: string }) => t.id === id);
    assert.deepEqual(Object.keys(mine).sort(), [
      'createdAt',
      'expiresAt',
      'id',
      'lastUsedAt',
      'name',
      'scope',
      'user',
    ]);
    assert.equal(mine.scope, 'write');
    assert.ok(Date.parse(mine.expiresAt) - Date.now() > 6.9 * 86_400_000);
    assert.equal(mine.lastUsedAt, null);
    // Used once, it says when.
    const api = await web.inject({ url: '/api/v1/apps', headers: bearer(secret) });
    assert.equal(api.statusCode, 200);
    const used = JSON.parse((await run(alice, ['auth:tokens', '--format', 'json'])).stdout);
    assert.ok(used.find((t: { id: string }) => t.id === id).lastUsedAt);
    // --read-only: said when issued and listed (web-api.test.ts tries what it may do).
    const reader = await run(alice, ['auth:token', '--name', 'dash', '--read-only']);
    assert.match(reader.stdout, /^-----> Read-only API token [0-9a-f]{16} "dash" for alice/);
    shownSecrets.push(/^ {7}(berth_[A-Za-z0-9_-]{43})$/m.exec(reader.stdout)?.[1] ?? '');
    const scopes = await run(alice, ['auth:tokens']);
    assert.match(scopes.stdout, /\sdash\s+alice\s+read\s/);
    assert.match(scopes.stdout, /\sci\s+alice\s+write\s/);
  });

  test("users see their own tokens; --all is for admins; others' ids are not found", async () => {
    const a = await newToken(alice, ['--name', 'alice-1']);
    const b = await newToken(bob, ['--name', 'bob-1']);
    const bobs = JSON.parse((await run(bob, ['auth:tokens', '--format', 'json'])).stdout);
    assert.ok(bobs.every((t: { user: string }) => t.user === 'bob'));
    assert.ok(bobs.some((t: { id: string }) => t.id === b.id));
    const all = await run(bob, ['auth:tokens', '--all']);
    assert.equal(all.code, 1);
    assert.match(all.stderr, /is for admins/);
    const everyone = JSON.parse(
      (await run(admin, ['auth:tokens', '--all', '--format', 'json'])).stdout,
    );
    const ids = everyone.map((t: { id: string }) => t.id);
    assert.ok(ids.includes(a.id) && ids.includes(b.id));
    const probe = await run(bob, ['auth:revoke', a.id]);
    assert.equal(probe.code, 1);
    assert.match(probe.stderr, new RegExp(`no API token ${a.id}`));
    assert.equal(
      (await web.inject({ url: '/api/v1/apps', headers: bearer(a.token) })).statusCode,
      200,
    );
  });

  test('a revoked, expired, unknown or malformed token is a 401 with the registry code', async () => {
    const t = await newToken(alice);
    assert.equal(
      (await web.inject({ url: '/api/v1/apps', headers: bearer(t.token) })).statusCode,
      200,
    );
    const revoked = await run(alice, ['auth:revoke', t.id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`revoked API token ${t.id} of alice`));

    const expiring = await newToken(alice, ['--expires', '1h']);
    const later = new Store(redis, prefix, { now: () => new Date(Date.now() + 2 * 3_600_000) });
    const future = build({ store: later, log: silent, domain: 'berth.test' });
    after(() => future.close());

    const cases: [string, typeof web, Record<string, string>, RegExp][] = [
      ['revoked', web, bearer(t.token), /unknown or was revoked/],
      ['expired', future, bearer(expiring.token), /has expired/],
      ['unknown', web, bearer(`berth_${'A'.repeat(43)}`), /unknown or was revoked/],
      ['garbage', web, bearer('hunter2'), /not a Berth API token/],
      ['not bearer', web, { authorization: 'Basic YWxpY2U6eA==' }, /must be "Bearer TOKEN"/],
      ['nothing', web, {}, /no API token and no session/],
    ];
    for (const [what, app, headers, message] of cases) {
      const r = await app.inject({ url: '/api/v1/apps', headers });
      assert.equal(r.statusCode, 401, what);
      assert.equal(r.headers['www-authenticate'], 'Bearer', what);
      const body = r.json();
      assert.equal(body.error.code, 'BERTH_E_UNAUTHENTICATED', what);
      assert.match(body.error.message, message, what);
      assert.match(body.error.hint, /auth:token/, what);
    }
    // A bearer token is judged alone: a good cookie beside a revoked token does not help.
    const { cookie } = await signIn(alice);
    const both = await web.inject({ url: '/api/v1/apps', headers: { ...bearer(t.token), cookie } });
    assert.equal(both.statusCode, 401);
  });

  test('durations and names are validated by one function each', async () => {
    for (const bad of ['30', '0d', '1s', '366d', '-1d', '1y', '30 d']) {
      const r = await run(alice, ['auth:token', `--expires=${bad}`]);
      assert.equal(r.code, 2, bad);
      assert.match(r.stderr, /invalid duration/, bad);
    }
    for (const good of ['90m', '12h', '365d']) {
      assert.equal((await run(alice, ['auth:token', '--expires', good])).code, 0, good);
    }
    const name = await run(alice, ['auth:token', '--name', '<b>x</b>']);
    assert.equal(name.code, 2);
    assert.match(name.stderr, /invalid token name/);
  });

  test("removing a user's last SSH key ends their tokens and sessions at once (issue 16)", async () => {
    const dir = await tempDir('berth-keys');
    const [one, two] = await Promise.all([makeKeyPair(dir, 'one'), makeKeyPair(dir, 'two')]);
    for (const key of [one, two]) {
      const added = await run(admin, ['ssh-keys:add', 'dave'], key.publicLine);
      assert.equal(added.code, 0, added.stderr);
    }
    const dave = userActor('dave');
    const tokens = [await newToken(dave), await newToken(dave, ['--read-only'])];
    const { cookie } = await signIn(dave);
    const works = async () => ({
      tokens: await Promise.all(
        tokens.map(
          async (t) =>
            (await web.inject({ url: '/api/v1/apps', headers: bearer(t.token) })).statusCode,
        ),
      ),
      session: (await web.inject({ url: '/', headers: { cookie } })).statusCode,
    });
    // One key of two: dave still has a way in, and keeps what he signed in with.
    const first = await run(admin, ['ssh-keys:remove', one.fingerprint]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, `removed key ${one.fingerprint} of user dave\n`);
    assert.deepEqual(await works(), { tokens: [200, 200], session: 200 });
    // The last key: his tokens and sessions stop with it, and the command says so.
    const last = await run(admin, ['ssh-keys:remove', two.fingerprint]);
    assert.equal(last.code, 0, last.stderr);
    assert.deepEqual(await works(), { tokens: [401, 401], session: 401 });
    assert.match(
      last.stdout,
      /it was dave's last key: revoked 2 API tokens and ended every web session of dave/,
    );
    assert.deepEqual(await store.apiTokens.list('dave'), []);
    // dave stays (he may own apps); a new key and a new link sign him in again.
    await run(admin, ['ssh-keys:add', 'dave'], two.publicLine);
    const again = await signIn(dave);
    assert.equal(
      (await web.inject({ url: '/', headers: { cookie: again.cookie } })).statusCode,
      200,
    );
  });

  test("ssh-keys:remove USER says the user's tokens and sessions went with them", async () => {
    await store.users.create('erin', 'user');
    const t = await newToken(userActor('erin'));
    const { cookie } = await signIn(userActor('erin'));
    const r = await run(admin, ['ssh-keys:remove', 'erin']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /removed user erin, their keys and API tokens; their web sessions have ended/,
    );
    assert.equal(
      (await web.inject({ url: '/api/v1/apps', headers: bearer(t.token) })).statusCode,
      401,
    );
    assert.equal((await web.inject({ url: '/', headers: { cookie } })).statusCode, 401);
  });

  test('removing a user ends their tokens and sessions', async () => {
    await store.users.create('carol', 'user');
    const carol = userActor('carol');
    const t = await newToken(carol);
    const { cookie } = await signIn(carol);
    await store.users.remove('carol');
    // Made again under the same name, it is someone else.
    await store.users.create('carol', 'user');
    assert.equal(
      (await web.inject({ url: '/api/v1/apps', headers: bearer(t.token) })).statusCode,
      401,
    );
    assert.equal((await web.inject({ url: '/', headers: { cookie } })).statusCode, 401);
    assert.deepEqual(await store.apiTokens.list('carol'), []);
  });
});

describe('the API sees what SSH sees', () => {
  test('GET /api/v1/apps lists the apps the actor may see, with their current release', async () => {
    const t = await newToken(alice);
    const r = await web.inject({ url: '/api/v1/apps', headers: bearer(t.token) });
    assert.equal(r.statusCode, 200);
    const { apps } = r.json();
    assert.deepEqual(
      apps.map((a: { name: string }) => a.name),
      ['shop', 'wiki'],
    );
    const shop = apps[0];
    assert.equal(shop.owner, 'alice');
    assert.equal(shop.release.version, 1);
    assert.equal(shop.release.description, 'Deploy 3f2a1c9');
    assert.ok(!JSON.stringify(r.json()).includes('hunter2'), 'config values are not listed');
    const ssh = JSON.parse((await run(alice, ['apps:list', '--format', 'json'])).stdout);
    assert.deepEqual(ssh, ['shop', 'wiki']);
    const all = await web.inject({
      url: '/api/v1/apps',
      headers: bearer((await newToken(admin)).token),
    });
    assert.deepEqual(
      all.json().apps.map((a: { name: string }) => a.name),
      ['blog', 'shop', 'wiki'],
    );
  });

  test("another user's app by URL is a 404 exactly like a missing one", async () => {
    const t = await newToken(alice);
    const get = (name: string) =>
      web.inject({ url: `/api/v1/apps/${name}`, headers: bearer(t.token) });
    const blog = await get('blog');
    const none = await get('nosuch');
    assert.equal(blog.statusCode, 404);
    assert.equal(none.statusCode, 404);
    assert.deepEqual(
      JSON.parse(blog.body.replaceAll('blog', 'NAME')),
      JSON.parse(none.body.replaceAll('nosuch', 'NAME')),
    );
    assert.equal(blog.json().error.code, 'BERTH_E_APP_NOT_FOUND');
    const wiki = await get('wiki');
    assert.equal(wiki.statusCode, 200);
    assert.equal(wiki.json().app.owner, 'bob');
    assert.deepEqual(wiki.json().app.collaborators, ['alice']);
    assert.equal(wiki.json().app.gitUrl, 'ssh://berth@berth.test:2222/wiki');
    // The browser session reaches the API too, with the same rights.
    const { cookie } = await signIn(alice);
    assert.equal(
      (await web.inject({ url: '/api/v1/apps/blog', headers: { cookie } })).statusCode,
      404,
    );
    assert.equal(
      (await web.inject({ url: '/api/v1/apps/shop', headers: { cookie } })).statusCode,
      200,
    );
  });

  test('an unknown endpoint is a JSON 404 with the registry code', async () => {
    const r = await web.inject({ url: '/api/v1/nothing' });
    assert.equal(r.statusCode, 404);
    assert.equal(r.json().error.code, 'BERTH_E_API_NOT_FOUND');
  });
});

/** Every key under the prefix with its whole content, as text. */
async function dumpAll(client: Redis): Promise<string> {
  const parts: string[] = [];
  for (const key of await client.keys(`${prefix}*`)) {
    const type = await client.type(key);
    const value =
      type === 'string'
        ? await client.get(key)
        : type === 'hash'
          ? await client.hgetall(key)
          : type === 'set'
            ? await client.smembers(key)
            : type === 'zset'
              ? await client.zrange(key, '0', '-1')
              : type;
    parts.push(key, JSON.stringify(value));
  }
  return parts.join('\n');
}

test('no secret shown to a user is stored in Redis in clear', async () => {
  // One of each kind still alive at the end, so their records are there to scan.
  await newToken(alice);
  await signIn(alice);
  await loginPath();
  const everything = await dumpAll(redis);
  assert.ok(everything.includes(`${prefix}token:`) && everything.includes(`${prefix}session:`));
  assert.ok(everything.includes(`${prefix}login:`));
  assert.ok(shownSecrets.length > 30);
  for (const secret of shownSecrets) {
    assert.ok(secret.length >= 43, secret);
    assert.ok(!everything.includes(secret), `a secret is stored in clear: ${secret.slice(0, 12)}…`);
    // Nor its base64url body without the berth_ prefix.
    assert.ok(!everything.includes(secret.replace(/^berth_/, '')));
  }
});

test('help lists the auth commands', async () => {
  const r = await run(alice, ['help', 'auth']);
  for (const c of ['auth:login', 'auth:token', 'auth:tokens', 'auth:revoke']) {
    assert.match(r.stdout, new RegExp(c));
  }
  assert.match((await run(alice, ['help'])).stdout, /auth +sign in to the web app/);
});
