// The apps page (/) and the app page (/apps/:app) with their JSON twins
// (issue 7), against a real Redis and the real fastify app (inject), signed in
// through one-time links as a browser is.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { type Actor, ROOT } from '../../services/core/actor.ts';
import { createLogger } from '../../services/core/log.ts';
import { Store } from '../../services/core/store/index.ts';
import { emptyCounts } from '../../services/core/store/metrics.ts';
import { issueToken } from '../../services/platform/accounts/api-tokens.ts';
import { createLoginLink } from '../../services/platform/accounts/sign-in.ts';
import { setRoutes } from '../../services/platform/routes/routes.ts';
import { build } from '../../services/web/server.ts';
import { userActor } from '../harness/commands.ts';
import { MANY_APPS_SECRET, seedApps } from '../harness/many-apps.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { bareCells, useSignInLink } from '../harness/web.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
await store.checkSchema();
const silent = createLogger('web', { level: 'silent' });
// An Engine that never answers: the app page must say so, not hang.
const deafEngine = () => new Promise<Docker>(() => {});
const web = build({
  store,
  log: silent,
  domain: 'berth.test',
  engine: deafEngine,
  engineTimeoutMs: 150,
});
after(() => web.close());

const linkConfig = { webPort: 8080, domain: 'berth.test' };

/** A session cookie for the user, through a one-time link. */
async function signIn(user: string, app = web, s = store): Promise<{ cookie: string }> {
  const link = await createLoginLink(s, linkConfig, ROOT as Actor, { user });
  const r = await useSignInLink(app, new URL(link.url).pathname);
  assert.equal(r.statusCode, 303, r.body);
  return { cookie: String(r.headers['set-cookie']).split(';')[0] ?? '' };
}

const HOSTILE = '<script>alert(1)</script>';
const SECRET = 'sk_live_Zq8-very-secret-value';

await store.users.create('alice', 'user');
await store.users.create('bob', 'user');
await store.users.create('boss', 'admin');
await store.apps.create({ name: 'shop', owner: 'alice' });
await store.apps.create({ name: 'wiki', owner: 'bob' });
await store.apps.create({ name: 'blog', owner: 'bob' });
await store.apps.create({ name: 'fresh', owner: 'alice' });
await store.apps.create({ name: 'halted', owner: 'alice' });
await store.apps.create({ name: 'broken', owner: 'alice' });
await store.apps.addCollaborator('wiki', 'alice');

// shop: v1 running with a hostile commit message and a secret config value.
await store.config.set('shop', { STRIPE_KEY: SECRET });
await store.releases.create('shop', {
  image: 'berth/shop:1',
  description: `Deploy 3f2a1c9 ${HOSTILE}`,
  by: 'alice',
  status: 'succeeded',
  formation: { web: 2, worker: 1 },
});
await setRoutes(redis, prefix, 'shop', 1, ['10.0.0.2:5000', '10.0.0.3:5000']);
await store.domains.add('shop', 'shop.example.com');
await store.certs.set('shop.example.com', {
  source: 'acme',
  issuer: `Evil CA ${HOSTILE}`,
  notAfter: '2031-01-01T00:00:00.000Z',
  lastError: `order failed: <img src=x onerror=alert(2)>`,
});
// halted: deployed, then ps:stop.
await store.releases.create('halted', {
  image: 'berth/halted:1',
  description: 'Deploy aaaaaaa',
  by: 'alice',
  status: 'succeeded',
  formation: { web: 1 },
});
await setRoutes(redis, prefix, 'halted', 1, []);
await store.apps.setDeploySetting('halted', 'stopped', ['_all_']);
// broken: v1 running, v2 failed with a hostile error line.
await store.releases.create('broken', {
  image: 'berth/broken:1',
  description: 'Deploy bbbbbbb',
  by: 'alice',
  status: 'succeeded',
  formation: { web: 1 },
});
await setRoutes(redis, prefix, 'broken', 1, ['10.0.0.9:5000']);
await store.releases.create('broken', {
  image: 'berth/broken:2',
  description: 'Deploy ccccccc',
  by: 'alice',
  status: 'failed',
});
await store.releases.setStatus('broken', 2, 'failed', `web.1 exited: ${HOSTILE}`);

const alice = await signIn('alice');
const bob = await signIn('bob');
const boss = await signIn('boss');

/** The row of one app on the apps page. */
const rowOf = (body: string, app: string): string => {
  const m = new RegExp(`<tr><td><a href="/apps/${app}">${app}</a>.*?</tr>`, 's').exec(
    bareCells(body),
  );
  assert.ok(m, `no row for ${app}`);
  return m[0];
};

describe('the apps page', () => {
  test('a user sees the apps they own or collaborate on; an admin sees all', async () => {
    const mine = await web.inject({ url: '/', headers: alice });
    assert.equal(mine.statusCode, 200);
    const names = (body: string) =>
      [...body.matchAll(/<a href="\/apps\/([^"]+)">/g)].map((m) => m[1]);
    assert.deepEqual(names(mine.body), ['broken', 'fresh', 'halted', 'shop', 'wiki']);
    assert.deepEqual(names((await web.inject({ url: '/', headers: bob })).body), ['blog', 'wiki']);
    assert.deepEqual(names((await web.inject({ url: '/', headers: boss })).body), [
      'blog',
      'broken',
      'fresh',
      'halted',
      'shop',
      'wiki',
    ]);
    assert.equal((await web.inject({ url: '/' })).statusCode, 401);
  });

  test('each app: status, current release, last deploy, URLs, instance counts', async () => {
    const body = (await web.inject({ url: '/', headers: alice })).body;
    const shop = rowOf(body, 'shop');
    assert.match(shop, /s-running">running</);
    assert.match(shop, /<td>v1<\/td>/);
    assert.match(shop, /href="http:\/\/shop\.berth\.test\/"/);
    assert.match(shop, /href="http:\/\/shop\.example\.com\/"/);
    assert.match(shop, /web=2 worker=1/);
    assert.match(rowOf(body, 'halted'), />stopped</);
    assert.match(rowOf(body, 'fresh'), />not deployed</);
    const broken = rowOf(body, 'broken');
    assert.match(broken, /s-failed">failed</);
    assert.match(broken, /<td>v1<\/td>/, 'v1 is still the current release');
    assert.match(broken, /v2 <span class="status s-failed">failed<\/span>/);
    assert.match(rowOf(body, 'wiki'), />not deployed</);
  });

  test('a pending release is deploying; web instances with nothing routed are crashed', async () => {
    await store.apps.create({ name: 'moving', owner: 'bob' });
    await store.releases.create('moving', {
      image: 'berth/moving:1',
      description: 'Deploy 1',
      by: 'bob',
      status: 'pending',
    });
    await store.apps.create({ name: 'down', owner: 'bob' });
    await store.releases.create('down', {
      image: 'berth/down:1',
      description: 'Deploy 1',
      by: 'bob',
      status: 'succeeded',
      formation: { web: 1 },
    });
    await setRoutes(redis, prefix, 'down', 1, []);
    const body = (await web.inject({ url: '/', headers: bob })).body;
    assert.match(rowOf(body, 'moving'), />deploying</);
    assert.match(rowOf(body, 'down'), />crashed</);
  });

  test('HTML in commit messages is shown escaped', async () => {
    const body = (await web.inject({ url: '/', headers: alice })).body;
    assert.ok(!body.includes('<script>'), 'no raw <script>');
    assert.match(body, /Deploy 3f2a1c9 &lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  });

  test('GET /api/v1/apps carries the same status, URLs and counts', async () => {
    const r = await web.inject({ url: '/api/v1/apps', headers: alice });
    assert.equal(r.statusCode, 200);
    const apps = r.json().apps as { name: string; status: string; urls: string[] }[];
    const by = Object.fromEntries(apps.map((a) => [a.name, a]));
    assert.equal(by.shop?.status, 'running');
    assert.deepEqual(by.shop?.urls, ['http://shop.berth.test', 'http://shop.example.com']);
    assert.equal(by.halted?.status, 'stopped');
    assert.equal(by.broken?.status, 'failed');
    assert.equal(by.fresh?.status, 'not deployed');
    assert.equal(by.blog, undefined);
    assert.ok(!r.body.includes(SECRET));
  });
});

describe('the app page', () => {
  test('another user’s app by URL is the same 404 as a missing app', async () => {
    const hidden = await web.inject({ url: '/apps/blog', headers: alice });
    const missing = await web.inject({ url: '/apps/nosuchapp', headers: alice });
    assert.equal(hidden.statusCode, 404);
    assert.equal(missing.statusCode, 404);
    assert.equal(hidden.body.replaceAll('blog', 'X'), missing.body.replaceAll('nosuchapp', 'X'));
    for (const path of ['', '/releases', '/domains']) {
      const a = await web.inject({ url: `/api/v1/apps/blog${path}`, headers: alice });
      const b = await web.inject({ url: `/api/v1/apps/nosuchapp${path}`, headers: alice });
      assert.equal(a.statusCode, 404, path);
      assert.equal(b.statusCode, 404, path);
      assert.equal(a.json().error.code, b.json().error.code);
    }
    // A collaborator and an admin may look.
    assert.equal((await web.inject({ url: '/apps/wiki', headers: alice })).statusCode, 200);
    assert.equal((await web.inject({ url: '/apps/shop', headers: boss })).statusCode, 200);
  });

  test('processes, releases, domains, certificates and config keys, values never', async () => {
    const r = await web.inject({ url: '/apps/shop', headers: alice });
    assert.equal(r.statusCode, 200);
    const body = bareCells(r.body);
    assert.match(body, /<td>web<\/td><td>2<\/td>/);
    assert.match(body, /<td>worker<\/td><td>1<\/td>/);
    assert.match(body, /router sends requests to 2 web instances/);
    assert.match(
      body,
      /<td><a href="\/apps\/shop\/releases\/1">v1<\/a><\/td><td>Deploy 3f2a1c9 &lt;script&gt;/,
    );
    assert.match(
      body,
      /shop\.example\.com<\/a><\/td><td>custom<\/td><td>acme \(Evil CA &lt;script&gt;/,
    );
    assert.match(body, /2031-01-01 00:00 UTC/);
    assert.match(body, /order failed: &lt;img src=x onerror=alert\(2\)&gt;/);
    assert.match(body, /<code>STRIPE_KEY<\/code>/);
    assert.ok(!body.includes(SECRET), 'the config value is not in the HTML');
    assert.ok(!body.includes('sk_live'), 'not even a part of it');
    assert.ok(!body.includes('<script>') && !body.includes('<img'), 'nothing hostile unescaped');
  });

  test("the traffic chart draws the routers' counts per minute, with their sums in words", async () => {
    const quiet = await web.inject({ url: '/apps/shop', headers: alice });
    assert.match(quiet.body, /No requests through the router in the last 3 hours/);
    const counts = emptyCounts();
    counts.byClass[1] = 40; // 2xx
    counts.byClass[4] = 2; // 5xx
    counts.latency[0] = 41; // ≤ 5 ms
    counts.latency[6] = 1; // ≤ 500 ms
    counts.latencySumUs = 41 * 2000 + 400_000;
    await store.metrics.add('shop', new Date(Date.now() - 120_000), counts);
    await store.metrics.add('shop', new Date(), counts);
    const body = (await web.inject({ url: '/apps/shop', headers: alice })).body;
    assert.match(body, /<svg role="img" aria-label="Requests per minute by status class"/);
    const [traffic = '', latency = ''] = body.split('aria-label="Request latency');
    assert.equal(traffic.match(/<g><title>/g)?.length, 2, 'one bar per minute with requests');
    assert.equal(latency.match(/<g><title>/g)?.length, 2, 'one column per minute with requests');
    assert.match(
      body,
      /<title>\d\d:\d\d UTC: 42 requests \(2xx 40, 3xx 0, 4xx 0, 5xx 2, aborted 0\), p99 ≤ 500 ms<\/title>/,
    );
    assert.match(body, /84 requests, 4 5xx, p99 ≤ 500 ms, mean 11\.5 ms/);
    // The latency heatmap beside it: a column per minute, a cell per bucket with requests.
    assert.match(
      body,
      /<svg role="img" aria-label="Request latency per minute, by histogram bucket"/,
    );
    assert.match(
      body,
      /<title>\d\d:\d\d UTC: 42 requests, p50 ≤ 5 ms, p99 ≤ 500 ms, mean 11\.5 ms<\/title><rect [^>]*fill-opacity="0\.98"><\/rect><rect [^>]*fill-opacity="0\.17"><\/rect><\/g>/,
    );
    assert.match(body, /p50 ≤ 5 ms, p99 ≤ 500 ms, mean 11\.5 ms; slowest minute \d\d:\d\d UTC/);
  });

  test('config values: hidden by default, revealed by an explicit POST for those allowed, escaped', async () => {
    await store.config.set('shop', { HTML_VALUE: HOSTILE });
    const page = await web.inject({ url: '/apps/shop', headers: alice });
    assert.ok(
      !page.body.includes(SECRET) && !page.body.includes('alert(1)</'),
      'no value by default',
    );
    assert.deepEqual(
      [...page.body.matchAll(/<li><code>([A-Z_]+)<\/code>/g)].map((m) => m[1]),
      ['HTML_VALUE', 'STRIPE_KEY'],
    );
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
    assert.match(
      page.body,
      new RegExp(
        `<form method="post" action="/apps/shop/config/reveal"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit">Reveal values</button></form>`,
      ),
    );
    // A GET shows nothing: revealing is a POST, never a page a link, a prefetch or a cache can hold.
    assert.equal(
      (await web.inject({ url: '/apps/shop/config/reveal', headers: alice })).statusCode,
      404,
    );
    const form = (fields: Record<string, string>) => ({
      method: 'POST' as const,
      url: '/apps/shop/config/reveal',
      headers: { ...alice, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(fields).toString(),
    });
    const noCsrf = await web.inject(form({}));
    assert.equal(noCsrf.statusCode, 403);
    assert.ok(!noCsrf.body.includes(SECRET));
    const shown = await web.inject(form({ _csrf: csrf }));
    assert.equal(shown.statusCode, 200);
    assert.equal(shown.headers['cache-control'], 'no-store');
    assert.match(
      shown.body,
      new RegExp(`<td><code>STRIPE_KEY</code></td><td><code>${SECRET}</code></td>`),
    );
    assert.match(shown.body, /<td><code>&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/code><\/td>/);
    assert.ok(!shown.body.includes('<script>'), 'the value is escaped');
    // Another user: the same 404 as a missing app, with or without a CSRF token of their own.
    const bobPage = await web.inject({ url: '/apps/wiki', headers: bob });
    const bobCsrf = /name="_csrf" value="([^"]+)"/.exec(bobPage.body)?.[1] ?? '';
    const theirs = await web.inject({
      ...form({ _csrf: bobCsrf }),
      headers: { ...bob, 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(theirs.statusCode, 404);
    assert.ok(!theirs.body.includes(SECRET));
  });

  test('a reader who may not see values: keys only, no reveal, refused', async () => {
    const { secret } = await issueToken(store, userActor('alice'), { readOnly: true });
    const headers = { authorization: `Bearer ${secret}` };
    const page = await web.inject({ url: '/apps/shop', headers });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<code>STRIPE_KEY<\/code>/);
    assert.ok(!page.body.includes(SECRET) && !page.body.includes('sk_live'));
    assert.ok(!page.body.includes('Reveal values'));
    assert.match(page.body, /may not see the values/);
    const reveal = await web.inject({ method: 'POST', url: '/apps/shop/config/reveal', headers });
    assert.equal(reveal.statusCode, 403);
    assert.ok(!reveal.body.includes(SECRET));
    const json = await web.inject({ url: '/api/v1/apps/shop/config', headers });
    assert.equal(json.json().values, undefined);
    assert.ok(!json.body.includes(SECRET));
  });

  test('an Engine that does not answer is said, quickly', async () => {
    const started = performance.now();
    const r = await web.inject({ url: '/apps/shop', headers: alice });
    const ms = performance.now() - started;
    assert.match(r.body, /Engine not answering \(no instance list within 150 ms\)/);
    assert.ok(ms < 1000, `${ms} ms`);
    const none = build({ store, log: silent, domain: 'berth.test' });
    const page = await none.inject({ url: '/apps/shop', headers: await signIn('alice', none) });
    assert.match(page.body, /No Docker Engine is configured/);
    await none.close();
  });

  test('status words and the failed deploy’s error, escaped', async () => {
    const halted = (await web.inject({ url: '/apps/halted', headers: alice })).body;
    assert.match(halted, /<h1>halted<\/h1> <span class="status s-stopped">stopped<\/span>/);
    assert.match(halted, /stopped \(ps:stop\)/);
    const fresh = (await web.inject({ url: '/apps/fresh', headers: alice })).body;
    assert.match(fresh, /not deployed/);
    assert.match(fresh, /No releases yet/);
    const broken = bareCells((await web.inject({ url: '/apps/broken', headers: alice })).body);
    assert.match(broken, /<h1>broken<\/h1> <span class="status s-failed">failed<\/span>/);
    assert.match(broken, /v2 failed: web\.1 exited: &lt;script&gt;/);
    assert.ok(!broken.includes('<script>'));
    // Newest first.
    assert.ok(broken.indexOf('/releases/2">v2<') < broken.indexOf('/releases/1">v1<'));
  });

  test('GET /api/v1/apps/:app/releases and /domains, as the SSH commands answer', async () => {
    const releases = await web.inject({ url: '/api/v1/apps/broken/releases', headers: alice });
    assert.equal(releases.statusCode, 200);
    const list = releases.json().releases as { version: number; status: string; error: string }[];
    assert.deepEqual(
      list.map((x) => [x.version, x.status]),
      [
        [2, 'failed'],
        [1, 'succeeded'],
      ],
    );
    assert.match(list[0]?.error ?? '', /web\.1 exited/);
    const shopReleases = await web.inject({ url: '/api/v1/apps/shop/releases', headers: alice });
    assert.ok(!shopReleases.body.includes(SECRET), 'no config snapshot in the API');
    const domains = await web.inject({ url: '/api/v1/apps/shop/domains', headers: alice });
    assert.equal(domains.statusCode, 200);
    const d = domains.json() as {
      domains: { domain: string; kind: string; certificate: { source: string } | null }[];
      https: unknown;
    };
    assert.deepEqual(
      d.domains.map((x) => [x.domain, x.kind, x.certificate?.source ?? null]),
      [
        ['shop.berth.test', 'default', null],
        ['shop.example.com', 'custom', 'acme'],
      ],
    );
    assert.ok(d.https);
    const one = await web.inject({ url: '/api/v1/apps/broken', headers: alice });
    assert.equal(one.json().app.status, 'failed');
    assert.equal(one.json().app.lastFailed, 2);
    assert.equal(one.json().app.release.version, 1);
  });
});

describe("a release's page", () => {
  test('what it changed against the one before: image, config keys (never values), formation', async () => {
    const first = bareCells(
      (await web.inject({ url: '/apps/shop/releases/1', headers: alice })).body,
    );
    assert.match(first, /<h1><a href="\/apps\/shop">shop<\/a> v1<\/h1>/);
    assert.match(
      first,
      /<td>image<\/td><td><code>none<\/code> &rarr; <code>berth\/shop:1<\/code><\/td>/,
    );
    assert.match(first, /<td>config added<\/td><td><code>STRIPE_KEY<\/code><\/td>/);
    assert.match(first, /<td>web instances<\/td><td>0 → 2<\/td>/);
    assert.ok(!first.includes(SECRET), 'no config value');
    assert.ok(!first.includes('<script>'), 'the description is escaped');
    const failed = bareCells(
      (await web.inject({ url: '/apps/broken/releases/2', headers: alice })).body,
    );
    assert.match(failed, /What changed since v1/);
    assert.match(
      failed,
      /<td>image<\/td><td><code>berth\/broken:1<\/code> &rarr; <code>berth\/broken:2<\/code>/,
    );
    assert.match(failed, /It failed: web\.1 exited: &lt;script&gt;/);
    assert.doesNotMatch(failed, /Roll back to v2/, 'a failed release is no target');
  });

  test("another user's app, or a release that is not there, is a 404", async () => {
    const theirs = await web.inject({ url: '/apps/shop/releases/1', headers: bob });
    const missing = await web.inject({ url: '/apps/nosuch/releases/1', headers: bob });
    assert.equal(theirs.statusCode, 404);
    assert.equal(theirs.body.replaceAll('shop', 'X'), missing.body.replaceAll('nosuch', 'X'));
    assert.equal(
      (await web.inject({ url: '/apps/shop/releases/99', headers: alice })).statusCode,
      404,
    );
    assert.equal(
      (await web.inject({ url: '/apps/shop/releases/x', headers: alice })).statusCode,
      400,
    );
  });
});

describe('many apps', () => {
  // Correctness only: the server time is a figure of `npm run bench apps-page`.
  test('the apps page with 200 apps lists them all, escaped, with no config value', async () => {
    const p = testPrefix();
    const r = await redisClient(p);
    const s = new Store(r, p);
    await s.checkSchema();
    await seedApps(s, 'busy', 200);
    const app = build({ store: s, log: silent, domain: 'berth.test' });
    const headers = await signIn('busy', app, s);
    const res = await app.inject({ url: '/', headers });
    await app.close();
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /200 apps/);
    const rows = bareCells(res.body);
    assert.equal(rows.match(/<tr><td><a href="\/apps\/app-\d{3}">/g)?.length, 200);
    assert.ok(!res.body.includes('<b>'));
    // app-002's v3 failed: v2 is current, and the failed deploy is the last one shown.
    assert.match(
      rows,
      /<a href="\/apps\/app-002">app-002<\/a><\/td><td><span class="status s-failed">failed<\/span><\/td><td>v2<\/td>/,
    );
    assert.match(res.body, /Deploy 3 &lt;b&gt;2&lt;\/b&gt;/);
    assert.ok(!res.body.includes(MANY_APPS_SECRET));
  });
});
