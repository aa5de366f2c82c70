// The JSON API's actions and its OpenAPI description (issue 7), against a
// real Redis, the real Docker Engine (the test stack image serving a text
// that shows a config var) and a real HTTP server on port 0: scale, config,
// restart through the SSH commands' service functions, answered 202 with the
// release to watch; every /api/v1 route in /api/v1/openapi.json and answers
// that match it; and the refusals (another user's app, a revoked token, a
// read-only token writing or reading config values, a session without its
// CSRF token). The app's containers are removed by its label at the end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { type Actor, ROOT } from '../../services/core/actor.ts';
import { issueToken, revokeToken } from '../../services/platform/accounts/api-tokens.ts';
import { createLoginLink } from '../../services/platform/accounts/sign-in.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { userActor } from '../harness/commands.ts';
import { quietDeployDeps, routedContent, serveText } from '../harness/deploy.ts';
import { testStackImage } from '../harness/docker.ts';
import { queuedBuild, webWithEngine } from '../harness/web.ts';

const app = `wa${randomBytes(3).toString('hex')}`;
const setup = await webWithEngine(app);
const { prefix, redis, store, docker, web } = setup;
const base = await web.listen({ host: '127.0.0.1', port: 0 });

await store.users.create('alice', 'user');
await store.users.create('mallory', 'user');
await store.apps.create({ name: app, owner: 'alice' });
await store.apps.create({ name: 'hidden', owner: 'mallory' });
await store.apps.create({ name: 'fresh', owner: 'alice' });
await store.config.set(app, { GREETING: 'hello <b>world</b>' });
// v1: the stack image's web process, serving the value of GREETING.
await deployImage(quietDeployDeps(store, schedulerNamed('docker-local', { docker })), {
  app,
  image: testStackImage(),
  processes: { web: serveText('$GREETING') },
  by: 'alice',
  description: 'Deploy one',
});

const alice = `Bearer ${(await issueToken(store, userActor('alice'))).secret}`;
const aliceReader = `Bearer ${(await issueToken(store, userActor('alice'), { readOnly: true })).secret}`;
const mallory = `Bearer ${(await issueToken(store, userActor('mallory'))).secret}`;

type Json = Record<string, unknown>;
interface Answer {
  status: number;
  headers: Headers;
  body: Json;
}

/** One API request over real HTTP, the body parsed as JSON. */
async function api(
  method: string,
  path: string,
  o: { auth?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(o.auth ? { authorization: o.auth } : {}),
      ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...o.headers,
    },
    ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
}

const errorCode = (a: Answer) => (a.body.error as { code?: string } | undefined)?.code;

/** Polls the release a 202 pointed at until it is no longer pending. */
async function settled(location: string, timeoutMs = 60_000): Promise<Json> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await api('GET', location, { auth: alice });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const release = r.body.release as Json;
    if (release.status !== 'pending') return release;
    assert.ok(Date.now() < until, `${location} still pending after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every route fastify serves, from its own route tree (printRoutes), as "METHOD /path". */
function servedRoutes(): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of web.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^(.*?)[└├]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = [...(m[1] ?? '')].length / 4;
    stack.length = depth;
    const parent = stack.at(-1) ?? '';
    const path = parent === '/' ? `/${m[2]}` : `${parent}${m[2]}`;
    stack.push(path);
    for (const method of (m[3] ?? '').split(', ').filter(Boolean)) {
      if (method !== 'HEAD') out.push(`${method} ${path}`);
    }
  }
  return out;
}

const spec = (await api('GET', '/api/v1/openapi.json')).body as {
  paths: Record<string, Record<string, { responses: Record<string, Json> }>>;
  components: { schemas: Record<string, Json> };
};
const ajv = new Ajv2020({ strict: false, validateFormats: false });

/** Checks an answer against the description's schema for its route and status. */
function matchesSpec(method: string, route: string, a: Answer): void {
  const op = spec.paths[route.replace(/:([a-z]+)/g, '{$1}')]?.[method.toLowerCase()];
  assert.ok(op, `${method} ${route} is described`);
  const response = op.responses[String(a.status)] ?? op.responses.default;
  const content = (response?.content as Record<string, { schema: Json }> | undefined)?.[
    'application/json'
  ];
  assert.ok(content, `${method} ${route} ${a.status} has a JSON schema`);
  const validate = ajv.compile({ ...content.schema, components: spec.components });
  assert.ok(
    validate(a.body),
    `${method} ${route} ${a.status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(a.body)}`,
  );
}

describe('the OpenAPI description', () => {
  test('is public, and describes every route under /api/v1 with its method', async () => {
    const r = await fetch(`${base}/api/v1/openapi.json`);
    assert.equal(r.status, 200);
    assert.equal(spec.paths['/api/v1/apps/{app}/formation']?.patch !== undefined, true);
    const api = servedRoutes().filter((r) => r.split(' ')[1]?.startsWith('/api/v1/'));
    assert.ok(api.length >= 15, api.join('\n'));
    for (const route of api) {
      const [method = '', path = ''] = route.split(' ');
      if (path === '/api/v1/openapi.json') continue;
      const op = spec.paths[path.replace(/:([a-z]+)/g, '{$1}')]?.[method.toLowerCase()] as
        | Json
        | undefined;
      assert.ok(op, `${route} is in the description`);
      assert.ok(typeof op.summary === 'string' && !op.summary.startsWith(method), route);
    }
  });

  test('answers match it: reads, a change, an error', async () => {
    const id = await queuedBuild(setup, app, 'c'.repeat(40));
    const reads: [string, string][] = [
      ['/api/v1/apps', '/api/v1/apps'],
      [`/api/v1/apps/${app}`, '/api/v1/apps/:app'],
      [`/api/v1/apps/${app}/releases`, '/api/v1/apps/:app/releases'],
      [`/api/v1/apps/${app}/releases/v1`, '/api/v1/apps/:app/releases/:version'],
      [`/api/v1/apps/${app}/domains`, '/api/v1/apps/:app/domains'],
      [`/api/v1/apps/${app}/config`, '/api/v1/apps/:app/config'],
      [`/api/v1/apps/${app}/formation`, '/api/v1/apps/:app/formation'],
      [`/api/v1/apps/${app}/builds`, '/api/v1/apps/:app/builds'],
      [`/api/v1/apps/${app}/builds/${id}`, '/api/v1/apps/:app/builds/:id'],
      ['/api/v1/apps/nosuchapp', '/api/v1/apps/:app'],
    ];
    for (const [path, route] of reads)
      matchesSpec('GET', route, await api('GET', path, { auth: alice }));
    const builds = (await api('GET', `/api/v1/apps/${app}/builds`, { auth: alice })).body
      .builds as Json[];
    assert.deepEqual(
      builds.map((b) => [b.id, b.status, b.rev]),
      [[id, 'queued', 'c'.repeat(40)]],
    );
    const change = await api('PATCH', '/api/v1/apps/fresh/config', {
      auth: alice,
      body: { A: '1' },
    });
    assert.equal(change.status, 200, 'not deployed: recorded, nothing to roll out');
    assert.deepEqual(change.body, { app: 'fresh', keys: ['A'], release: null });
    matchesSpec('PATCH', '/api/v1/apps/:app/config', change);
  });
});

describe('changes by the API', () => {
  test('scale: 202 with the pending release and its Location; it goes live as ps:scale', async () => {
    const r = await api('PATCH', `/api/v1/apps/${app}/formation`, {
      auth: alice,
      body: { web: 2 },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    matchesSpec('PATCH', '/api/v1/apps/:app/formation', r);
    const release = r.body.release as Json;
    assert.equal(release.description, 'Scale web=2');
    assert.equal(r.headers.get('location'), `/api/v1/apps/${app}/releases/${release.version}`);
    const done = await settled(String(r.headers.get('location')));
    assert.equal(done.status, 'succeeded', String(done.error));
    assert.deepEqual(done.formation, { web: 2 });
    const routed = await routedContent(redis, prefix, app);
    assert.equal(routed.backends, 2);
    const formation = await api('GET', `/api/v1/apps/${app}/formation`, { auth: alice });
    assert.deepEqual(formation.body.formation, { web: 2 });
    const instances = formation.body.instances as Json[];
    assert.equal(instances.filter((i) => i.state === 'running').length, 2);
    // The Engine's figures for each running instance, as on the app page.
    for (const i of instances.filter((i) => i.state === 'running')) {
      const usage = i.usage as { cpuPercent: number; memoryBytes: number } | undefined;
      assert.ok(usage && usage.memoryBytes > 0 && usage.cpuPercent >= 0, JSON.stringify(i));
    }
    matchesSpec('GET', '/api/v1/apps/:app/formation', formation);
    // ps:scale's own checks, as the registry's usage error.
    for (const body of [
      { web: 101 },
      { nope: 1 },
      { 'we b': 1 },
      { release: 1 },
      {},
      { web: -1 },
    ]) {
      const bad = await api('PATCH', `/api/v1/apps/${app}/formation`, { auth: alice, body });
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.match(String(errorCode(bad)), /^BERTH_E_(USAGE|INVALID_NAME)$/, JSON.stringify(body));
    }
    const notDeployed = await api('PATCH', '/api/v1/apps/fresh/formation', {
      auth: alice,
      body: { web: 1 },
    });
    assert.equal(notDeployed.status, 409);
    assert.equal(errorCode(notDeployed), 'BERTH_E_NO_RELEASE');
  });

  test('config: values for who may see them; set and unset are releases, as config:set', async () => {
    const read = await api('GET', `/api/v1/apps/${app}/config`, { auth: alice });
    assert.deepEqual(read.body, {
      app,
      keys: ['GREETING'],
      values: { GREETING: 'hello <b>world</b>' },
    });
    assert.equal(read.headers.get('cache-control'), 'no-store');
    const set = await api('PATCH', `/api/v1/apps/${app}/config`, {
      auth: alice,
      body: { GREETING: 'bonjour', EXTRA: 'x=y' },
    });
    assert.equal(set.status, 202, JSON.stringify(set.body));
    assert.deepEqual(set.body.keys, ['EXTRA', 'GREETING']);
    assert.ok(!JSON.stringify(set.body).includes('bonjour'), 'values are never echoed');
    const v = await settled(String(set.headers.get('location')));
    assert.equal(v.status, 'succeeded', String(v.error));
    assert.equal(v.description, 'Set EXTRA, GREETING config vars');
    assert.deepEqual((await routedContent(redis, prefix, app)).texts, ['bonjour']);
    const unset = await api('DELETE', `/api/v1/apps/${app}/config/GREETING`, { auth: alice });
    assert.equal(unset.status, 202, JSON.stringify(unset.body));
    assert.equal((unset.body.release as Json).description, 'Unset GREETING config vars');
    await settled(String(unset.headers.get('location')));
    assert.deepEqual((await routedContent(redis, prefix, app)).texts, ['']);
    const again = await api('DELETE', `/api/v1/apps/${app}/config/GREETING`, { auth: alice });
    assert.deepEqual(again.body, { app, keys: [], release: null }, 'nothing to unset');
    // Keys go through config:set's checks; nothing is set when one is wrong.
    // "A=B" is a bad key, never A set to "B=c".
    for (const body of [{ BERTH_X: '1' }, { '1A': '1', OK: '1' }, { A: {} }, { 'A=B': 'c' }]) {
      const bad = await api('PATCH', `/api/v1/apps/${app}/config`, { auth: alice, body });
      assert.equal(bad.status, 400, JSON.stringify(body));
    }
    assert.deepEqual(await store.config.get(app), { EXTRA: 'x=y' });
  });

  test('restart: 202, new instances of the same release', async () => {
    const list = async () =>
      (
        (await api('GET', `/api/v1/apps/${app}/formation`, { auth: alice })).body
          .instances as Json[]
      )
        .filter((i) => i.state === 'running')
        .map((i) => `${i.type}.${i.instance}@${i.startedAt}`)
        .sort();
    const before = await list();
    const current = (await api('GET', `/api/v1/apps/${app}`, { auth: alice })).body.app as Json;
    const r = await api('POST', `/api/v1/apps/${app}/restart`, { auth: alice, body: {} });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    matchesSpec('POST', '/api/v1/apps/:app/restart', r);
    assert.deepEqual(r.body.types, ['web']);
    assert.equal((r.body.release as Json).version, (current.release as Json).version);
    assert.equal(r.headers.get('location'), `/api/v1/apps/${app}/formation`);
    const until = Date.now() + 60_000;
    let now = await list();
    while (now.some((i) => before.includes(i)) || now.length !== before.length) {
      assert.ok(Date.now() < until, `still ${now.join(' ')}`);
      await new Promise((r) => setTimeout(r, 250));
      now = await list();
    }
    const bad = await api('POST', `/api/v1/apps/${app}/restart`, {
      auth: alice,
      body: { type: 'worker' },
    });
    assert.equal(bad.status, 400);
    assert.match(String((bad.body.error as Json).message), /runs no worker instances/);
  });
});

describe('refusals', () => {
  const everyRoute = (name: string): [string, string, unknown?][] => [
    ['GET', `/api/v1/apps/${name}`],
    ['GET', `/api/v1/apps/${name}/releases/1`],
    ['GET', `/api/v1/apps/${name}/builds`],
    ['GET', `/api/v1/apps/${name}/builds/abcdefgh12`],
    ['GET', `/api/v1/apps/${name}/config`],
    ['GET', `/api/v1/apps/${name}/formation`],
    ['PATCH', `/api/v1/apps/${name}/formation`, { web: 1 }],
    ['PATCH', `/api/v1/apps/${name}/config`, { A: '1' }],
    ['DELETE', `/api/v1/apps/${name}/config/A`],
    ['POST', `/api/v1/apps/${name}/restart`, {}],
    ['POST', `/api/v1/apps/${name}/rollback`, {}],
  ];

  test("another user's app is the same 404 as a missing one, on every route", async () => {
    for (const [[method, path, body], [, missing]] of everyRoute(app).map(
      (r, i) => [r, everyRoute('nosuchapp')[i] ?? r] as const,
    )) {
      const theirs = await api(method, path, { auth: mallory, body });
      const none = await api(method, missing, { auth: mallory, body });
      assert.equal(theirs.status, 404, `${method} ${path}`);
      assert.equal(errorCode(theirs), 'BERTH_E_APP_NOT_FOUND', `${method} ${path}`);
      assert.equal(
        JSON.stringify(theirs.body).replaceAll(app, 'X'),
        JSON.stringify(none.body).replaceAll('nosuchapp', 'X'),
      );
    }
    const hidden = await api('GET', '/api/v1/apps/hidden/config', { auth: alice });
    assert.equal(hidden.status, 404);
  });

  test('a revoked token is a 401, for reads and writes', async () => {
    const { secret, token } = await issueToken(store, userActor('alice'));
    assert.equal(
      (await api('GET', `/api/v1/apps/${app}/config`, { auth: `Bearer ${secret}` })).status,
      200,
    );
    await revokeToken(store, userActor('alice'), token.id);
    for (const [method, path, body] of everyRoute(app)) {
      const r = await api(method, path, { auth: `Bearer ${secret}`, body });
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal(errorCode(r), 'BERTH_E_UNAUTHENTICATED');
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    }
  });

  test('a read-only token reads, sees config keys without values, and changes nothing', async () => {
    const releases = (await store.releases.list(app)).length;
    const config = await store.config.get(app);
    const read = await api('GET', `/api/v1/apps/${app}/config`, { auth: aliceReader });
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, { app, keys: Object.keys(config).sort() });
    for (const [method, path, body] of everyRoute(app).filter(([m]) => m !== 'GET')) {
      const r = await api(method, path, { auth: aliceReader, body });
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.equal(errorCode(r), 'BERTH_E_FORBIDDEN');
      assert.match(String((r.body.error as Json).message), /this API token is read-only/);
    }
    assert.equal((await store.releases.list(app)).length, releases, 'no release was made');
    assert.deepEqual(await store.config.get(app), config, 'the config is as it was');
  });

  test('a session changes with its CSRF token only', async () => {
    const link = await createLoginLink(
      store,
      { webPort: 8080, domain: 'berth.test' },
      ROOT as Actor,
      { user: 'alice' },
    );
    // The sign-in page's button: a POST (its GET only shows the page).
    const signIn = await fetch(`${base}${new URL(link.url).pathname}`, {
      method: 'POST',
      redirect: 'manual',
    });
    const cookie = String(signIn.headers.get('set-cookie')).split(';')[0] ?? '';
    const home = await (await fetch(`${base}/`, { headers: { cookie } })).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(home)?.[1] ?? '';
    const without = await api('PATCH', '/api/v1/apps/fresh/config', {
      headers: { cookie },
      body: { B: '2' },
    });
    assert.equal(without.status, 403);
    assert.equal(errorCode(without), 'BERTH_E_CSRF');
    assert.equal((await store.config.get('fresh')).B, undefined);
    const withToken = await api('PATCH', '/api/v1/apps/fresh/config', {
      headers: { cookie, 'x-csrf-token': csrf },
      body: { B: '2' },
    });
    assert.equal(withToken.status, 200, JSON.stringify(withToken.body));
    assert.equal((await store.config.get('fresh')).B, '2');
  });
});
