// What an owner does on the web app without SSH (issue 22, item 2), through
// the same functions and rights as the commands, against the real Redis:
// creating an app (apps:create) and seeing its git remote; making and
// revoking API tokens (auth:token, auth:revoke) from a signed-in browser,
// the secret shown once; what a token may not do there.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '../../services/core/log.ts';
import { Store } from '../../services/core/store/index.ts';
import { issueToken } from '../../services/platform/accounts/api-tokens.ts';
import { build } from '../../services/web/server.ts';
import { userActor } from '../harness/commands.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { type Session, signIn } from '../harness/web.ts';

const prefix = testPrefix();
const store = new Store(await redisClient(prefix), prefix);
await store.checkSchema();
await store.users.create('alice', 'user');
await store.users.create('bob', 'user');
const web = build({
  store,
  log: createLogger('web', { level: 'silent' }),
  domain: 'berth.test',
  sshPort: 2200,
});
const alice = await signIn(web, store, 'alice');
const bob = await signIn(web, store, 'bob');

function post(path: string, fields: Record<string, string>, who: Session | { bearer: string }) {
  return web.inject({
    method: 'POST',
    url: path,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...('bearer' in who ? { authorization: who.bearer } : { cookie: who.cookie }),
    },
    payload: new URLSearchParams(
      'bearer' in who ? fields : { ...fields, _csrf: who.csrf },
    ).toString(),
  });
}

const outcome = (body: string) => /id="outcome"[^>]*>(.*?)<\/p>/.exec(body)?.[1] ?? '';

describe('creating an app', () => {
  test('a signed-in user names one: it is theirs, and its page shows the git remote to push to', async () => {
    const r = await post('/apps', { name: 'web-made' }, alice);
    assert.equal(r.statusCode, 303, r.body);
    assert.equal(r.headers.location, '/apps/web-made?done=app-created');
    assert.equal((await store.apps.get('web-made'))?.owner, 'alice');
    const shown = await web.inject({
      url: String(r.headers.location),
      headers: { cookie: alice.cookie },
    });
    assert.match(outcome(shown.body), /^App created/);
    assert.match(
      shown.body,
      /<pre id="git-remote">git remote add deploy ssh:\/\/berth@berth\.test:2200\/web-made\ngit push deploy main<\/pre>/,
    );
  });

  test("a bad or taken name: the registry's line on the apps page, nothing made", async () => {
    const before = (await store.apps.list()).length;
    for (const [name, status] of [
      ['Not_A_Name', 400],
      ['<script>x</script>', 400],
      ['web-made', 409],
    ] as const) {
      const r = await post('/apps', { name }, bob);
      assert.equal(r.statusCode, status, `${name}: ${r.body.slice(0, 200)}`);
      assert.match(outcome(r.body), /^Could not create the app: /);
      assert.ok(!r.body.includes('<script>x'), 'escaped');
    }
    assert.equal((await store.apps.list()).length, before);
    assert.equal((await store.apps.get('web-made'))?.owner, 'alice', 'not taken over');
  });

  test('a read-only token may not create one', async () => {
    const reader = (await issueToken(store, userActor('bob'), { readOnly: true })).secret;
    const r = await post('/apps', { name: 'by-reader' }, { bearer: `Bearer ${reader}` });
    assert.equal(r.statusCode, 403);
    assert.equal(await store.apps.get('by-reader'), undefined);
  });
});

describe('API tokens on the account page', () => {
  test('made from the browser: the secret once, working on the API; revoked: it no longer works', async () => {
    const made = await post('/account/tokens', { name: 'ci', expires: '7d' }, alice);
    assert.equal(made.statusCode, 200);
    assert.equal(made.headers['cache-control'], 'no-store');
    assert.equal(made.headers['referrer-policy'], 'no-referrer');
    const secret = /<pre id="new-token-secret">(berth_[A-Za-z0-9_-]{43})<\/pre>/.exec(
      made.body,
    )?.[1];
    assert.ok(secret, 'the secret is shown');
    const api = () =>
      web.inject({ url: '/api/v1/apps', headers: { authorization: `Bearer ${secret}` } });
    assert.equal((await api()).statusCode, 200);
    // Never again: the account page lists it without its secret.
    const listed = await web.inject({ url: '/account', headers: { cookie: alice.cookie } });
    assert.ok(!listed.body.includes(secret));
    const id = /name="id" value="([0-9a-f]{16})"/.exec(listed.body)?.[1] ?? '';
    assert.ok(id);
    const revoked = await post('/account/tokens/revoke', { id }, alice);
    assert.equal(revoked.statusCode, 200);
    assert.match(outcome(revoked.body), new RegExp(`Token ${id} revoked`));
    assert.equal((await api()).statusCode, 401);
  });

  test("a token may not make tokens, nor revoke them; another user's token is not found", async () => {
    const token = (await issueToken(store, userActor('bob'))).secret;
    const bearer = { bearer: `Bearer ${token}` };
    const r = await post('/account/tokens', { name: 'more', expires: '7d' }, bearer);
    assert.equal(r.statusCode, 403);
    const bobsPage = await web.inject({ url: '/account', headers: { cookie: bob.cookie } });
    const bobsId = /name="id" value="([0-9a-f]{16})"/.exec(bobsPage.body)?.[1] ?? '';
    assert.ok(bobsId);
    assert.equal((await post('/account/tokens/revoke', { id: bobsId }, bearer)).statusCode, 403);
    const byAlice = await post('/account/tokens/revoke', { id: bobsId }, alice);
    assert.equal(byAlice.statusCode, 404);
    const still = await web.inject({
      url: '/api/v1/apps',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(still.statusCode, 200, "Bob's token still works");
  });

  test('bad input: one line, no token made', async () => {
    const count = async () => (await store.apiTokens.list('alice')).length;
    const before = await count();
    for (const fields of [
      { name: 'ci', expires: 'forever' },
      { name: 'bad name with spaces and <b>', expires: '7d' },
    ]) {
      const r = await post('/account/tokens', fields, alice);
      assert.equal(r.statusCode, 400, JSON.stringify(fields));
    }
    assert.equal(await count(), before);
  });
});
