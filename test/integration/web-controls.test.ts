// The app page's own controls (issue 7): scale, restart, set and remove a
// config var, from forms that post with the session's CSRF token, against a
// real Redis, the real Docker Engine (the test stack image serving a text
// that shows a config var) and the real fastify app. Each works with the
// token and is a 403 without; another user's app is the 404 of a missing
// one; a read-only token gets no forms and its posts are refused as the API
// refuses them; a bad input shows the registry's line on the page and makes
// no release; config values never reach the HTML. The app's containers are
// removed by its label at the end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { issueToken } from '../../services/platform/accounts/api-tokens.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { userActor } from '../harness/commands.ts';
import { quietDeployDeps, routedContent, serveText } from '../harness/deploy.ts';
import { testStackImage } from '../harness/docker.ts';
import { bareCells, type Session, signIn as signInAs, webWithEngine } from '../harness/web.ts';

const app = `wc${randomBytes(3).toString('hex')}`;
const HOSTILE = '<script>alert(1)</script>';
const SECRET = 'sk_live_wc-very-secret-value';
const { prefix, redis, store, docker, web } = await webWithEngine(app);

await store.users.create('alice', 'user');
await store.users.create('bob', 'user');
await store.users.create('mallory', 'user');
await store.apps.create({ name: app, owner: 'alice' });
await store.apps.addCollaborator(app, 'bob');
await store.apps.create({ name: 'fresh', owner: 'alice' });
await store.config.set(app, { GREETING: 'hello', STRIPE_KEY: SECRET });
// v1: the stack image's web process serving GREETING, and a worker the image has at 0.
await deployImage(quietDeployDeps(store, schedulerNamed('docker-local', { docker })), {
  app,
  image: testStackImage(),
  processes: { web: serveText('$GREETING'), worker: 'exec sleep 3600' },
  by: 'alice',
  description: 'Deploy one',
});

const signIn = (user: string) => signInAs(web, store, user);

const alice = await signIn('alice');
const bob = await signIn('bob');
const mallory = await signIn('mallory');
const reader = `Bearer ${(await issueToken(store, userActor('alice'), { readOnly: true })).secret}`;

/** A form post as a browser sends it: urlencoded, with the session cookie (and _csrf when given). */
function post(path: string, fields: Record<string, string>, who: Session | { bearer: string }) {
  return web.inject({
    method: 'POST',
    url: path,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...('bearer' in who ? { authorization: who.bearer } : { cookie: who.cookie }),
    },
    payload: new URLSearchParams(fields).toString(),
  });
}

const pageOf = async (who: Session | { bearer: string }, name = app) =>
  bareCells(
    (
      await web.inject({
        url: `/apps/${name}`,
        headers: 'bearer' in who ? { authorization: who.bearer } : { cookie: who.cookie },
      })
    ).body,
  );

/** The page a control's redirect leads to. */
const follow = async (r: { headers: Record<string, unknown> }, who: Session) =>
  bareCells(
    (await web.inject({ url: String(r.headers.location), headers: { cookie: who.cookie } })).body,
  );

const releaseCount = async (name = app) => (await store.releases.list(name)).length;

/** The release's status once it is no longer pending. */
async function settled(version: number): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const r = await store.releases.get(app, version);
    if (r?.status !== 'pending') return `${r?.status}${r?.error ? ` ${r.error}` : ''}`;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return 'still pending after 60 s';
}

/** The version a control's redirect names (?changed=N or ?restarted=N). */
function redirected(r: { statusCode: number; headers: Record<string, unknown>; body: string }) {
  assert.equal(r.statusCode, 303, r.body);
  const m = new RegExp(`^/apps/${app}\\?(changed|restarted)=(\\d+)$`).exec(
    String(r.headers.location),
  );
  assert.ok(m, String(r.headers.location));
  return Number(m[2]);
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };

/** The one line at the top of the page (the outcome, or a control's error), as the browser shows it. */
const outcomeLine = (body: string) =>
  /<p class="[a-z]+" id="outcome"[^>]*>(.*?)<\/p>/
    .exec(body)?.[1]
    ?.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ENTITIES[e] ?? e);

const FORMS = [
  `action="/apps/${app}/formation"`,
  `action="/apps/${app}/restart"`,
  `action="/apps/${app}/config"`,
  `action="/apps/${app}/config/unset"`,
];

describe('who gets the controls', () => {
  test('the owner and a collaborator: a scale form per type the image has, restart, set and remove', async () => {
    for (const who of [alice, bob]) {
      const body = await pageOf(who);
      for (const form of FORMS) assert.ok(body.includes(form), form);
      assert.match(
        body,
        new RegExp(
          `<tr><td>web</td><td>1</td><td></td><td><form method="post" action="/apps/${app}/formation" class="inline"><input type="hidden" name="_csrf" value="${who.csrf}"><input type="hidden" name="type" value="web"><input type="number" name="count" value="1" min="0" max="100"`,
        ),
      );
      assert.match(body, /<tr><td>worker<\/td><td>0<\/td>.*?name="type" value="worker"/);
      assert.match(body, /<button type="submit" aria-label="Remove STRIPE_KEY">Remove<\/button>/);
      assert.ok(!body.includes(SECRET) && !body.includes('sk_live'), 'no value in the HTML');
    }
  });

  test('no page is shown in a frame (an app at a subdomain is the same site)', async () => {
    const r = await web.inject({ url: `/apps/${app}`, headers: { cookie: alice.cookie } });
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['content-security-policy'], "frame-ancestors 'none'");
  });

  test('a read-only token: the page without a form that changes anything', async () => {
    const body = await pageOf({ bearer: reader });
    assert.match(body, /<code>STRIPE_KEY<\/code>/);
    for (const form of FORMS) assert.ok(!body.includes(form), form);
    assert.ok(!body.includes('>Scale<') && !body.includes('>Remove<'));
    // The same processes as the owner sees, counts only.
    assert.match(
      body,
      /<tr><td>web<\/td><td>\d<\/td><td><\/td><\/tr><tr><td>worker<\/td><td>0<\/td><td><\/td><\/tr>/,
    );
    assert.ok(!body.includes(SECRET));
  });
});

describe('scale', () => {
  test('with the CSRF token: a new release, rolling out, then live, said on the page', async () => {
    const before = await releaseCount();
    const r = await post(
      `/apps/${app}/formation`,
      { type: 'web', count: '2', _csrf: alice.csrf },
      alice,
    );
    const version = redirected(r);
    assert.equal(version, before + 1);
    assert.match(String(r.headers.location), /\?changed=/);
    const pending = await follow(r, alice);
    assert.match(
      String(outcomeLine(pending)),
      new RegExp(
        `^Scale web=2: v${version} (is rolling out \\(reload to follow it\\)|is live)\\.$`,
      ),
    );
    assert.equal(await settled(version), 'succeeded');
    const v = await store.releases.get(app, version);
    assert.equal(v?.by, 'alice');
    assert.deepEqual(v?.formation, { web: 2 });
    assert.equal((await routedContent(redis, prefix, app)).backends, 2);
    const live = await follow(r, alice);
    assert.equal(outcomeLine(live), `Scale web=2: v${version} is live.`);
    assert.match(live, /<tr><td>web<\/td><td>2<\/td>/);
  });

  test('without the CSRF token: 403, no release', async () => {
    const before = await releaseCount();
    // None, and another session's.
    for (const fields of [
      { type: 'web', count: '1' } as Record<string, string>,
      { type: 'web', count: '1', _csrf: bob.csrf },
    ]) {
      const r = await post(`/apps/${app}/formation`, fields, alice);
      assert.equal(r.statusCode, 403, JSON.stringify(fields));
      assert.match(r.body, /BERTH_E_CSRF/);
    }
    assert.equal(await releaseCount(), before);
  });

  test("bad input: the registry's line on the page, in its status, and nothing changes", async () => {
    const before = await releaseCount();
    const cases: [Record<string, string>, number, RegExp][] = [
      [{ type: 'web', count: 'two' }, 400, /"web=two" is not TYPE=COUNT, such as web=2/],
      [{ type: 'web', count: '101' }, 400, /at most 100 instances of a process type, not 101/],
      [{ type: 'web', count: '-1' }, 400, /is not TYPE=COUNT/],
      [{ type: 'web', count: '' }, 400, /is not TYPE=COUNT/],
      [
        { type: 'nope', count: '1' },
        400,
        new RegExp(`${app} has no nope process \\(it has web, worker\\)`),
      ],
      [{ type: HOSTILE, count: '1' }, 400, /invalid process type "<script>alert\(1\)<\/script>"/],
      [{ type: 'release', count: '1' }, 400, /release runs once before each rollout/],
      [{ count: '1' }, 400, /the form has no "type" field/],
    ];
    for (const [fields, status, line] of cases) {
      const r = await post(`/apps/${app}/formation`, { ...fields, _csrf: alice.csrf }, alice);
      assert.equal(r.statusCode, status, JSON.stringify(fields));
      const said = outcomeLine(r.body);
      assert.ok(said?.startsWith('Could not scale: '), `${said}`);
      assert.match(String(said), line);
      assert.match(r.body, /<p class="error" id="outcome" role="alert">/);
      assert.ok(!r.body.includes('<script>alert'), 'escaped');
      // The page again, whole, with its forms: the user tries again from there.
      assert.ok(r.body.includes(`action="/apps/${app}/formation"`));
    }
    const fresh = await post(
      '/apps/fresh/formation',
      { type: 'web', count: '1', _csrf: alice.csrf },
      alice,
    );
    assert.equal(fresh.statusCode, 409);
    assert.match(String(outcomeLine(fresh.body)), /app "fresh" has no release with an image yet/);
    assert.equal(await releaseCount(), before, 'no release was made');
    assert.equal(await releaseCount('fresh'), 0);
  });
});

describe('config', () => {
  test('set: a new release with the value, which is never in the HTML; CRLF as typed', async () => {
    const before = await releaseCount();
    const value = `bonjour-${randomBytes(4).toString('hex')}`;
    const r = await post(
      `/apps/${app}/config`,
      { key: 'GREETING', value, _csrf: alice.csrf },
      alice,
    );
    assert.ok(!r.body.includes(value));
    const version = redirected(r);
    assert.equal(version, before + 1);
    const page = await follow(r, alice);
    assert.match(String(outcomeLine(page)), new RegExp(`^Set GREETING config vars: v${version} `));
    assert.ok(!page.includes(value) && !page.includes(SECRET), 'no value in the page after');
    assert.equal(await settled(version), 'succeeded');
    assert.deepEqual((await routedContent(redis, prefix, app)).texts, [value]);
    const after = await pageOf(alice);
    assert.ok(!after.includes(value) && !after.includes(SECRET));
    // A textarea's line breaks come as CRLF; the value is kept as typed (LF).
    const pem = await post(
      `/apps/${app}/config`,
      { key: 'PEM', value: 'line one\r\nline two', _csrf: bob.csrf },
      bob,
    );
    const v = redirected(pem);
    assert.equal((await store.config.get(app)).PEM, 'line one\nline two');
    assert.equal((await store.releases.get(app, v))?.by, 'bob');
    assert.equal(await settled(v), 'succeeded');
  });

  test('remove: a new release without the key; removing it again changes nothing', async () => {
    const r = await post(`/apps/${app}/config/unset`, { key: 'PEM', _csrf: alice.csrf }, alice);
    const version = redirected(r);
    assert.equal((await store.releases.get(app, version))?.description, 'Unset PEM config vars');
    assert.equal((await store.config.get(app)).PEM, undefined);
    assert.equal(await settled(version), 'succeeded');
    const before = await releaseCount();
    const again = await post(`/apps/${app}/config/unset`, { key: 'PEM', _csrf: alice.csrf }, alice);
    assert.equal(again.statusCode, 303);
    assert.equal(again.headers.location, `/apps/${app}?config=unchanged`);
    const page = await follow(again, alice);
    assert.equal(outcomeLine(page), 'Nothing changed: that key was not set.');
    assert.equal(await releaseCount(), before);
  });

  test('an app not deployed yet: recorded for its first deploy, no release', async () => {
    const r = await post('/apps/fresh/config', { key: 'A', value: 'x', _csrf: alice.csrf }, alice);
    assert.equal(r.statusCode, 303);
    assert.equal(r.headers.location, '/apps/fresh?config=recorded');
    assert.equal((await store.config.get('fresh')).A, 'x');
    assert.equal(await releaseCount('fresh'), 0);
  });

  test("bad keys: the registry's line, nothing set, no release, the value not sent back", async () => {
    const before = await releaseCount();
    const config = await store.config.get(app);
    const cases: [Record<string, string>, RegExp][] = [
      [{ key: 'BERTH_X', value: SECRET }, /keys starting with BERTH_ are reserved for Berth/],
      [{ key: '1A', value: SECRET }, /invalid config key "1A"/],
      // Never split as KEY=VALUE: "A=B" is a bad key, not A set to "B=...".
      [{ key: 'A=B', value: SECRET }, /invalid config key "A=B"/],
      [{ key: HOSTILE, value: SECRET }, /invalid config key "<script>alert/],
      [{ key: 'NUL', value: 'a\0b' }, /config value of "NUL".*NUL byte/],
      [{ value: SECRET }, /the form has no "key" field/],
    ];
    for (const [fields, line] of cases) {
      const r = await post(`/apps/${app}/config`, { ...fields, _csrf: alice.csrf }, alice);
      assert.equal(r.statusCode, 400, JSON.stringify(fields));
      const said = String(outcomeLine(r.body));
      assert.ok(said.startsWith('Could not set the config var: '), said);
      assert.match(said, line);
      assert.ok(!r.body.includes(SECRET) && !r.body.includes('sk_live'), 'the value is not echoed');
      assert.ok(!r.body.includes('<script>alert'));
      // The set form comes back empty.
      assert.match(r.body, /<textarea name="value"[^>]*><\/textarea>/);
    }
    const unset = await post(`/apps/${app}/config/unset`, { key: 'A=B', _csrf: alice.csrf }, alice);
    assert.equal(unset.statusCode, 400);
    assert.match(
      String(outcomeLine(unset.body)),
      /^Could not remove the config var: invalid config key "A=B"/,
    );
    assert.equal(await releaseCount(), before, 'no release');
    assert.deepEqual(await store.config.get(app), config, 'nothing set');
  });

  test('without the CSRF token: 403, nothing set or removed', async () => {
    const config = await store.config.get(app);
    const before = await releaseCount();
    const set = await post(`/apps/${app}/config`, { key: 'X', value: '1' }, alice);
    const unset = await post(`/apps/${app}/config/unset`, { key: 'GREETING' }, alice);
    for (const r of [set, unset]) {
      assert.equal(r.statusCode, 403);
      assert.match(r.body, /BERTH_E_CSRF/);
    }
    assert.deepEqual(await store.config.get(app), config);
    assert.equal(await releaseCount(), before);
  });
});

describe('restart', () => {
  test('a confirmation first; its form restarts every process of the current release', async () => {
    const current = await store.releases.current(app);
    assert.ok(current);
    const confirm = await web.inject({
      url: `/apps/${app}/restart`,
      headers: { cookie: alice.cookie },
    });
    assert.equal(confirm.statusCode, 200);
    assert.match(
      confirm.body,
      new RegExp(`Every process of v${current.version} \\(web=2\\) starts again`),
    );
    assert.match(
      confirm.body,
      new RegExp(
        `<form method="post" action="/apps/${app}/restart"><input type="hidden" name="_csrf" value="${alice.csrf}"><button type="submit">Restart</button>`,
      ),
    );
    const running = async () =>
      (await schedulerNamed('docker-local', { docker }).list(app))
        .filter((i) => i.state === 'running' && i.type === 'web')
        .map((i) => `${i.instance}@${i.startedAt}`)
        .sort();
    const before = await running();
    assert.equal(before.length, 2);
    const releases = await releaseCount();

    const forged = await post(`/apps/${app}/restart`, {}, alice);
    assert.equal(forged.statusCode, 403);
    assert.match(forged.body, /BERTH_E_CSRF/);
    assert.deepEqual(await running(), before, 'nothing restarted');

    const r = await post(`/apps/${app}/restart`, { _csrf: alice.csrf }, alice);
    assert.equal(redirected(r), current.version);
    assert.match(String(r.headers.location), /\?restarted=/);
    const now = await running();
    assert.equal(now.length, 2);
    assert.ok(!now.some((i) => before.includes(i)), `${before} → ${now}`);
    assert.equal(await releaseCount(), releases, 'no new release, as on Heroku');
    const page = await follow(r, alice);
    assert.equal(
      outcomeLine(page),
      `Restarted every process of v${current.version}: new instances serve.`,
    );
    assert.equal((await routedContent(redis, prefix, app)).backends, 2);
  });

  test('an app not deployed: the registry says so, nothing to confirm', async () => {
    const confirm = await web.inject({
      url: '/apps/fresh/restart',
      headers: { cookie: alice.cookie },
    });
    assert.equal(confirm.statusCode, 409);
    assert.match(confirm.body, /has no release with an image yet/);
    const r = await post('/apps/fresh/restart', { _csrf: alice.csrf }, alice);
    assert.equal(r.statusCode, 409);
    assert.match(String(outcomeLine(r.body)), /^Could not restart: app "fresh" has no release/);
  });
});

describe('domains', () => {
  test('the owner and a collaborator add a domain and remove it, as domains:add and :remove do', async () => {
    const domain = `www.${app}.example.com`;
    const added = await post(`/apps/${app}/domains`, { domain, _csrf: bob.csrf }, bob);
    assert.equal(added.statusCode, 303);
    assert.equal(added.headers.location, `/apps/${app}?done=domain-added`);
    assert.deepEqual(await store.domains.list(app), [domain]);
    const shown = await follow(added, bob);
    assert.equal(outcomeLine(shown), 'Domain added: the router serves the app at it now.');
    assert.ok(shown.includes(`aria-label="Remove ${domain}"`), 'a remove button for it');
    const again = await post(`/apps/${app}/domains`, { domain, _csrf: alice.csrf }, alice);
    assert.equal(again.headers.location, `/apps/${app}?done=domain-kept`);
    const removed = await post(`/apps/${app}/domains/remove`, { domain, _csrf: alice.csrf }, alice);
    assert.equal(removed.headers.location, `/apps/${app}?done=domain-removed`);
    assert.deepEqual(await store.domains.list(app), []);
  });

  test("bad domains: the registry's line on the page, and nothing changes", async () => {
    for (const domain of ['not a domain', `${app}.berth.test`, HOSTILE, 'x'.repeat(300)]) {
      const r = await post(`/apps/${app}/domains`, { domain, _csrf: alice.csrf }, alice);
      // 400 for a name that is not one, 409 for one Berth keeps for the app itself.
      assert.ok([400, 409].includes(r.statusCode), `${domain}: ${r.statusCode}`);
      assert.match(outcomeLine(r.body) ?? '', /^Could not add the domain: /);
      assert.ok(!r.body.includes(HOSTILE), 'escaped');
    }
    assert.deepEqual(await store.domains.list(app), []);
  });
});

describe('collaborators', () => {
  test('the owner adds and removes one; the page shows the Access card to the owner only', async () => {
    assert.match(await pageOf(alice), /id="collaborator-add"/);
    assert.doesNotMatch(await pageOf(bob), /id="collaborator-add"/, 'a collaborator cannot');
    const added = await post(
      `/apps/${app}/collaborators`,
      { user: 'mallory', _csrf: alice.csrf },
      alice,
    );
    assert.equal(added.headers.location, `/apps/${app}?done=collaborator-added`);
    assert.deepEqual((await store.apps.get(app))?.collaborators.sort(), ['bob', 'mallory']);
    const removed = await post(
      `/apps/${app}/collaborators/remove`,
      { user: 'mallory', _csrf: alice.csrf },
      alice,
    );
    assert.equal(removed.headers.location, `/apps/${app}?done=collaborator-removed`);
    assert.deepEqual((await store.apps.get(app))?.collaborators, ['bob']);
  });

  test('a collaborator may not give access, nor an unknown user get it; nothing changes', async () => {
    const byBob = await post(
      `/apps/${app}/collaborators`,
      { user: 'mallory', _csrf: bob.csrf },
      bob,
    );
    assert.equal(byBob.statusCode, 403);
    const unknown = await post(
      `/apps/${app}/collaborators`,
      { user: 'nobody', _csrf: alice.csrf },
      alice,
    );
    assert.equal(unknown.statusCode, 404);
    assert.match(outcomeLine(unknown.body) ?? '', /^Could not add the collaborator: /);
    assert.deepEqual((await store.apps.get(app))?.collaborators, ['bob']);
  });
});

describe('refusals', () => {
  const posts = (name: string): [string, Record<string, string>][] => [
    [`/apps/${name}/formation`, { type: 'web', count: '1' }],
    [`/apps/${name}/restart`, {}],
    [`/apps/${name}/config`, { key: 'X', value: '1' }],
    [`/apps/${name}/config/unset`, { key: 'GREETING' }],
    [`/apps/${name}/domains`, { domain: `${name}.refused.example.com` }],
    [`/apps/${name}/domains/remove`, { domain: `${name}.example.com` }],
    [`/apps/${name}/collaborators`, { user: 'mallory' }],
    [`/apps/${name}/collaborators/remove`, { user: 'bob' }],
  ];

  test("another user's app is the same 404 as a missing one, page and posts alike", async () => {
    const before = await releaseCount();
    const domainsBefore = await store.domains.list(app);
    const config = await store.config.get(app);
    const gets = [`/apps/${app}`, `/apps/${app}/restart`];
    for (const path of gets) {
      const theirs = await web.inject({ url: path, headers: { cookie: mallory.cookie } });
      const none = await web.inject({
        url: path.replace(app, 'nosuchapp'),
        headers: { cookie: mallory.cookie },
      });
      assert.equal(theirs.statusCode, 404, path);
      assert.equal(theirs.body.replaceAll(app, 'X'), none.body.replaceAll('nosuchapp', 'X'));
    }
    for (const [[path, fields], [missing]] of posts(app).map(
      (p, i) => [p, posts('nosuchapp')[i] ?? p] as const,
    )) {
      const theirs = await post(path, { ...fields, _csrf: mallory.csrf }, mallory);
      const none = await post(missing, { ...fields, _csrf: mallory.csrf }, mallory);
      assert.equal(theirs.statusCode, 404, path);
      assert.match(theirs.body, /BERTH_E_APP_NOT_FOUND/);
      assert.equal(theirs.body.replaceAll(app, 'X'), none.body.replaceAll('nosuchapp', 'X'));
    }
    assert.equal(await releaseCount(), before);
    assert.deepEqual(await store.config.get(app), config);
    assert.deepEqual(await store.domains.list(app), domainsBefore);
    assert.deepEqual((await store.apps.get(app))?.collaborators, ['bob']);
  });

  test('a read-only token: each post a 403, as the API answers it; nothing changes', async () => {
    const before = await releaseCount();
    const config = await store.config.get(app);
    for (const [path, fields] of posts(app)) {
      const r = await post(path, fields, { bearer: reader });
      assert.equal(r.statusCode, 403, path);
      assert.match(r.body, /BERTH_E_FORBIDDEN/);
      assert.match(r.body, /this API token is read-only/);
    }
    const confirm = await web.inject({
      url: `/apps/${app}/restart`,
      headers: { authorization: reader },
    });
    assert.equal(confirm.statusCode, 403);
    assert.equal(await releaseCount(), before);
    assert.deepEqual(await store.config.get(app), config);
  });
});
