import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROOT } from '../../services/core/actor.ts';
import { loadConfig } from '../../services/core/config.ts';
import { escapeHtml, html } from '../../services/core/html.ts';
import { createLogger } from '../../services/core/log.ts';
import { Store } from '../../services/core/store/index.ts';
import { createLoginLink } from '../../services/platform/accounts/sign-in.ts';
import { build } from '../../services/web/server.ts';
import { startInProcess } from '../harness/in-process.ts';
import { freePort } from '../harness/ports.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';
import { useSignInLink } from '../harness/web.ts';

const prefix = testPrefix();
const store = new Store(await redisClient(prefix), prefix);
const app = build({ store, log: createLogger('web', { level: 'silent' }), domain: 'berth.test' });

test('/healthz answers 200 with the store up', async () => {
  const r = await app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(r.statusCode, 200);
  assert.equal(r.json().status, 'ok');
});

test('the status page lists the apps with their current release, signed in', async () => {
  // Behind sign-in although on loopback (services/web/server.ts says why).
  const anonymous = await app.inject({ url: '/' });
  assert.equal(anonymous.statusCode, 401);
  assert.match(anonymous.body, /auth:login/);
  await store.users.create('alice', 'admin');
  const signIn = async () => {
    const link = await createLoginLink(store, { webPort: 8080, domain: 'berth.test' }, ROOT, {
      user: 'alice',
    });
    const r = await useSignInLink(app, new URL(link.url).pathname);
    return { cookie: String(r.headers['set-cookie']).split(';')[0] ?? '' };
  };
  const headers = await signIn();
  assert.match((await app.inject({ url: '/', headers })).body, /No apps yet/);
  await store.apps.create({ name: 'api', owner: 'alice' });
  await store.apps.create({ name: 'www', owner: 'alice' });
  const rel = await store.releases.create('api', {
    image: 'api:1',
    description: 'Deploy',
    by: 'alice',
    status: 'succeeded',
  });
  const r = await app.inject({ url: '/', headers });
  assert.equal(r.statusCode, 200);
  assert.match(r.headers['content-type'] as string, /text\/html/);
  assert.match(r.body, /2 apps/);
  assert.match(r.body, /href="\/apps\/api">api<\/a>/);
  assert.match(r.body, /href="http:\/\/api\.berth\.test\/">http:\/\/api\.berth\.test<\/a>/);
  assert.match(r.body, new RegExp(`v${rel.version}`));
});

test('html escapes every interpolated value', () => {
  const hostile = '<script>alert("x")</script>&\'';
  assert.equal(html`<p>${hostile}</p>`.text, `<p>${escapeHtml(hostile)}</p>`);
  assert.ok(!html`${hostile}`.text.includes('<script>'));
  assert.equal(html`<b>${[html`<i>${'<'}</i>`, '>']}</b>`.text, '<b><i>&lt;</i>&gt;</b>');
});

test('the platform runs in-process too: the web service answers on its port', async () => {
  const config = loadConfig({
    BERTH_DATA_DIR: await tempDir(),
    BERTH_SSH_PORT: String(await freePort()),
    BERTH_WEB_PORT: String(await freePort()),
    BERTH_METRICS_PORT: String(await freePort()),
    BERTH_HTTP_PORT: String(await freePort()),
    BERTH_HTTPS_PORT: String(await freePort()),
    REDIS_URL: await sharedRedisUrl(),
    BERTH_REDIS_PREFIX: prefix,
  });
  const platform = await startInProcess(config);
  try {
    const [web] = platform.endpoints;
    const r = await fetch(new URL('/healthz', web?.url));
    assert.equal(r.status, 200);
  } finally {
    await platform.stop();
  }
});
