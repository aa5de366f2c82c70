// What an owner runs from the web app besides deploys (issue 22, items 2 and
// 3): redeploy, Let's Encrypt on/off, webhooks, backing services with "Back
// up now", resource limits against usage, cron tasks, and the Services and
// Nodes pages; in headless Chromium (axe-core in light and dark mode, no
// script error, each page's bytes) and by request, as the app's owner (ada),
// a collaborator (cole), ada's read-only API token, a stranger (eve) and an
// admin (ops), each action through the same function and right as its SSH
// command: a stranger's is the 404 of a missing app or service.
//
// Everything real: the Engine runs the app (the stack image) and a Redis
// service made by redis:create and linked by redis:link; a real build
// worker rebuilds; the cron run is recorded by cron:run's own function.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import https from 'node:https';
import { after, describe, test } from 'node:test';
import acme from 'acme-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/log.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { issueToken } from '../../services/platform/accounts/api-tokens.ts';
import { listBuilds } from '../../services/platform/build/history.ts';
import { followBuild } from '../../services/platform/build/queue.ts';
import { acmeOptions } from '../../services/platform/certs/acme.ts';
import { backupsDir } from '../../services/platform/datastores/backups.ts';
import { ensureRepo } from '../../services/platform/git/repos.ts';
import { cronTasks, recordedRun } from '../../services/platform/release/cron.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { rolloutSettings } from '../../services/platform/release/releases.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { USAGE_TTL_MS } from '../../services/web/app-page.ts';
import { build } from '../../services/web/server.ts';
import { assertAccessible, launchChromium } from '../harness/browser.ts';
import { buildHarness } from '../harness/builds.ts';
import { userActor } from '../harness/commands.ts';
import { removeDatastoreFromEngine } from '../harness/datastores.ts';
import { engineApp, quietDeployDeps, serveText } from '../harness/deploy.ts';
import { testStackImage } from '../harness/docker.ts';
import { startPebble } from '../harness/pebble.ts';
import { freePort } from '../harness/ports.ts';
import { sharedRedisUrl } from '../harness/redis.ts';
import { startRouter } from '../harness/router.ts';
import { until } from '../harness/wait.ts';
import { type Session, signIn } from '../harness/web.ts';

const { prefix, store, config, docker, ada, run, app } = await engineApp('wop');
const builds = await buildHarness('berth-web-ops');
const builder = await builds.startBuilder({ prefix });
const ds = `wop-${randomBytes(3).toString('hex')}`;
after(() => removeDatastoreFromEngine(docker, 'redis', ds));

for (const [user, role] of [
  ['cole', 'user'],
  ['eve', 'user'],
  ['ops', 'admin'],
] as const)
  await store.users.create(user, role);
const ok = (r: { code: number; stdout: string; stderr: string }) =>
  assert.equal(r.code, 0, r.stdout + r.stderr);
ok(await run(ada, ['access:add', app, 'cole']));
ok(await run(ada, ['resource:limit', app, '--memory', '256m', '--cpus', '0.5', 'web']));
ok(await run(ada, ['redis:create', ds]));
ok(await run(ada, ['redis:link', ds, app]));
// The app runs (linked, limited), with an app.json cron task.
const cron = { command: 'true', schedule: '@daily', concurrency: 'forbid', maintenance: false };
await deployImage(quietDeployDeps(store, schedulerNamed('docker-local', { docker })), {
  app,
  image: testStackImage(),
  processes: { web: serveText('ops') },
  cron: [cron] as never,
  by: 'ada',
  description: 'Deploy ops',
});
const [task] = cronTasks(await store.releases.current(app));
assert.ok(task);
// A run that failed, as cron:run records one (its own function).
await recordedRun(store, app, task.id, async () => 3);

/**
 * The real Engine client, counting the `docker stats` questions it is asked
 * (each takes the Engine up to two of its once-a-second readings).
 */
let statsAsked = 0;
const counted = new Proxy(docker, {
  get(target, prop) {
    if (prop === 'getContainer') {
      return (id: string) => {
        const c = target.getContainer(id);
        const stats = c.stats.bind(c);
        c.stats = ((o: never) => {
          statsAsked++;
          return stats(o);
        }) as typeof c.stats;
        return c;
      };
    }
    const v = Reflect.get(target, prop);
    return typeof v === 'function' ? v.bind(target) : v;
  },
});

const web = build({
  store,
  log: createLogger('web', { level: 'silent' }),
  domain: config.domain,
  engine: async () => counted,
  engineTimeoutMs: 10_000,
  buildLogs: builds.paths.buildLogs,
  // The builder's data directory: the app's repository, for the rebuild.
  paths: builds.paths,
  releases: { ...rolloutSettings(config), tuning: { drainMs: 0 } },
  acme: acmeOptions(config, store),
  backups: { dataDir: config.dataDir, keep: 3 },
});
await web.listen({ host: '127.0.0.1', port: 0 });
const address = web.server.address();
const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
after(() => web.close());

const sessions: Record<'ada' | 'cole' | 'eve' | 'ops', Session> = {
  ada: await signIn(web, store, 'ada'),
  cole: await signIn(web, store, 'cole'),
  eve: await signIn(web, store, 'eve'),
  ops: await signIn(web, store, 'ops'),
};
const reader = (await issueToken(store, userActor('ada'), { readOnly: true })).secret;

type Who = keyof typeof sessions | 'reader';
const WHO: readonly Who[] = ['ada', 'cole', 'reader', 'eve'];

/** A form POST as `who` (a session with its CSRF token, or the read-only token). */
function post(url: string, fields: Record<string, string>, who: Who) {
  const s = who === 'reader' ? undefined : sessions[who];
  return web.inject({
    method: 'POST',
    url,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(s ? { cookie: s.cookie } : { authorization: `Bearer ${reader}` }),
    },
    payload: new URLSearchParams(s ? { ...fields, _csrf: s.csrf } : fields).toString(),
  });
}
const outcome = (body: string) => /id="outcome"[^>]*>(.*?)<\/p>/s.exec(body)?.[1] ?? '';

let browser: Browser;
const contexts = new Map<Who, BrowserContext>();
async function contextOf(who: Who): Promise<BrowserContext> {
  browser ??= await launchChromium();
  let c = contexts.get(who);
  if (!c) {
    c =
      who === 'reader'
        ? await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${reader}` } })
        : await browser.newContext();
    if (who !== 'reader') {
      const [name, value] = sessions[who].cookie.split('=') as [string, string];
      await c.addCookies([{ name, value, url: base }]);
    }
    contexts.set(who, c);
  }
  return c;
}
after(async () => {
  await browser?.close();
});

/** Opens `path` as `who`: its status, the bytes it and its stylesheet took, and the script errors. */
async function open(who: Who, path: string) {
  const page = await (await contextOf(who)).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const sizes: Promise<number>[] = [];
  page.on('response', (r) => {
    sizes.push(
      r.body().then(
        (b) => b.length,
        () => 0,
      ),
    );
  });
  const r = await page.goto(`${base}${path}`);
  await page.waitForLoadState('load');
  // Every response of the load (the page and its stylesheet), read before the page changes.
  const bytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
  return { page, status: r?.status(), bytes: () => bytes, errors };
}

/** The page's text in one element, '' when absent. */
const text = async (page: Page, selector: string) =>
  (await page.locator(selector).count()) > 0
    ? ((await page.locator(selector).first().textContent()) ?? '')
    : '';

const figures: string[] = [];
after(() => process.stderr.write(`# web operations: ${figures.join('; ')}\n`));

describe('the app page: services, resources, cron and the controls each may use', () => {
  test('owner, collaborator, read-only token, stranger: what each sees, accessible in light and dark', async () => {
    for (const who of WHO) {
      const { page, status, bytes, errors } = await open(who, `/apps/${app}`);
      if (who === 'eve') {
        assert.equal(status, 404, 'a stranger is told the app does not exist');
        await page.close();
        continue;
      }
      assert.equal(status, 200, who);
      // Backing services: the linked Redis, running, its volume's size.
      const service = await text(page, '#app-services tbody tr');
      assert.match(service, new RegExp(`${ds}.*Redis.*REDIS.*running.*MiB`, 's'), who);
      // Resources: the web type's 256 MiB and 0.5 CPU against what it uses.
      const resources = await text(page, '#resources-table');
      assert.match(resources, /web.*of 256 MiB.*of 50\.0%/s, `${who}: ${resources}`);
      // Cron: the task, and its last run failed with exit 3.
      const cronRow = await text(page, '#cron-table tbody tr');
      assert.match(cronRow, new RegExp(`${task.id}.*@daily.*true.*failed.*exit 3`, 's'));
      // Controls by right: push (owner, collaborator), manage (owner), the service's owner.
      const has = async (sel: string) => (await page.locator(sel).count()) > 0;
      const mayPush = who !== 'reader';
      assert.equal(await has(`form[action="/apps/${app}/rebuild"]`), mayPush, `${who} redeploy`);
      assert.equal(await has('#webhook-add'), mayPush, `${who} webhook form`);
      assert.equal(await has('#letsencrypt'), who === 'ada', `${who} Let's Encrypt`);
      assert.equal(
        await has(`form[action="/services/redis/${ds}/backup"]`),
        who === 'ada',
        `${who} back up`,
      );
      await assertAccessible(page, `the app page as ${who}`);
      assert.deepEqual(errors, [], `${who}: no script error`);
      assert.ok(bytes() < 100 * 1024, `${who}: ${bytes()} bytes`);
      figures.push(`app page as ${who} ${bytes()} B`);
      await page.close();
    }
  });

  test('views within USAGE_TTL_MS show the same sample: the Engine is asked once per period, not once per view', async () => {
    const resources = async () => {
      const t0 = performance.now();
      const r = await web.inject({ url: `/apps/${app}`, headers: { cookie: sessions.ada.cookie } });
      const table = /<table class="data" id="resources-table".*?<\/table>/s.exec(r.body)?.[0] ?? '';
      return { table, ms: performance.now() - t0 };
    };
    // A fresh sample first (the Chromium views above may have kept one for a while).
    await new Promise((r) => setTimeout(r, USAGE_TTL_MS));
    const asked = statsAsked;
    const first = await resources();
    assert.match(first.table, /of 256 MiB/);
    const again = [await resources(), await resources(), await resources()];
    for (const a of again) assert.equal(a.table, first.table, 'the same figures');
    // One running instance: one question for four views.
    assert.equal(statsAsked - asked, 1);
    figures.push(
      `app page with a fresh usage sample ${first.ms.toFixed(0)} ms, from the cache ${(again.reduce((t, a) => t + a.ms, 0) / again.length).toFixed(0)} ms`,
    );
  });
});

describe('webhooks from the page (notifications:add, :remove)', () => {
  test('the owner adds one by the form: the secret once; removes it', async () => {
    const { page, errors } = await open('ada', `/apps/${app}`);
    await page.fill(
      '#webhook-add input[name="url"]',
      'https://hooks.example.com/services/T0/B0/secretpath',
    );
    await page.selectOption('#webhook-add select[name="format"]', 'slack');
    await page.check('#webhook-add input[name="event-deploy.failed"]');
    await Promise.all([page.waitForLoadState('load'), page.click('#webhook-add button')]);
    const secret = await text(page, '#new-webhook-secret');
    assert.match(secret, /^whsec_/);
    const hooks = await store.notifications.list(app);
    assert.equal(hooks.length, 1);
    assert.equal(hooks[0]?.secret, secret);
    assert.equal(hooks[0]?.format, 'slack');
    assert.deepEqual(hooks[0]?.events, ['deploy.failed']);
    const row = await text(page, '#webhooks-table tbody tr');
    assert.match(row, /https:\/\/hooks\.example\.com\/….*slack.*deploy\.failed/s);
    assert.ok(!row.includes('secretpath'), "the URL's path is not shown");
    await assertAccessible(page, 'the app page with a new webhook');
    // Shown once: the page again has no secret.
    await page.goto(`${base}/apps/${app}`);
    assert.ok(!(await page.content()).includes(secret));
    await Promise.all([
      page.waitForURL(/done=webhook-removed/),
      page.click(`#webhooks-table button[aria-label="Remove webhook ${hooks[0]?.id}"]`),
    ]);
    assert.match(await text(page, '#outcome'), /Webhook removed/);
    assert.equal((await store.notifications.list(app)).length, 0);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('bad input: one line, nothing added; the read-only token 403, a stranger 404', async () => {
    const bad = await post(`/apps/${app}/notifications`, { url: 'ftp://x', format: 'json' }, 'ada');
    assert.equal(bad.statusCode, 400);
    assert.match(outcome(bad.body), /^Could not add the webhook: /);
    const badType = await post(
      `/apps/${app}/notifications`,
      { url: 'https://example.com/h', format: 'teams' },
      'cole',
    );
    assert.equal(badType.statusCode, 400);
    const fields = { url: 'https://example.com/h', format: 'json' };
    assert.equal((await post(`/apps/${app}/notifications`, fields, 'reader')).statusCode, 403);
    assert.equal((await post(`/apps/${app}/notifications`, fields, 'eve')).statusCode, 404);
    assert.equal((await store.notifications.list(app)).length, 0);
    // The collaborator may, as over SSH (push).
    const byCole = await post(`/apps/${app}/notifications`, fields, 'cole');
    assert.equal(byCole.statusCode, 200);
    const [hook] = await store.notifications.list(app);
    assert.ok(hook);
    for (const [who, code] of [
      ['reader', 403],
      ['eve', 404],
    ] as const) {
      const r = await post(`/apps/${app}/notifications/remove`, { id: hook.id }, who);
      assert.equal(r.statusCode, code, who);
    }
    const gone = await post(`/apps/${app}/notifications/remove`, { id: 'wh_00000000' }, 'cole');
    assert.equal(gone.statusCode, 404);
    assert.equal(
      (await post(`/apps/${app}/notifications/remove`, { id: hook.id }, 'cole')).statusCode,
      303,
    );
  });
});

describe("Let's Encrypt from the page (letsencrypt:enable, :disable)", () => {
  test("the owner's: off with none is said; on where no host can have one is the command's refusal", async () => {
    const off = await post(`/apps/${app}/letsencrypt/disable`, {}, 'ada');
    assert.equal(off.statusCode, 303);
    assert.equal(off.headers.location, `/apps/${app}?done=letsencrypt-none`);
    // This BERTH_DOMAIN is localhost and the app has no domain: no CA can certify any host.
    const on = await post(`/apps/${app}/letsencrypt`, {}, 'ada');
    assert.equal(on.statusCode, 400, on.body.slice(0, 300));
    assert.match(
      outcome(on.body),
      /^Could not turn Let&#39;s Encrypt on: .*has no domain of its own/,
    );
  });

  test('a collaborator and the read-only token 403 (manage), a stranger 404', async () => {
    for (const path of ['letsencrypt', 'letsencrypt/disable']) {
      for (const [who, code] of [
        ['cole', 403],
        ['reader', 403],
        ['eve', 404],
      ] as const) {
        assert.equal(
          (await post(`/apps/${app}/${path}`, {}, who)).statusCode,
          code,
          `${path} ${who}`,
        );
      }
    }
  });
});

describe('backing services: the Services page and Back up now (redis:backup)', () => {
  test('the Services page: each sees their own; accessible; in the top navigation', async () => {
    for (const who of WHO) {
      const { page, status, bytes, errors } = await open(who, '/services');
      assert.equal(status, 200, who);
      assert.equal(await text(page, 'nav a[aria-current="page"]'), 'Services');
      const table = await text(page, '#services-table');
      if (who === 'ada' || who === 'reader') {
        assert.match(table, new RegExp(`${ds}.*Redis.*${app}.*running`, 's'), who);
        assert.equal(
          (await page.locator(`form[action="/services/redis/${ds}/backup"]`).count()) > 0,
          who === 'ada',
        );
      } else {
        assert.equal(table, '', `${who} sees no service of ada's`);
      }
      await assertAccessible(page, `the Services page as ${who}`);
      assert.deepEqual(errors, []);
      assert.ok(bytes() < 100 * 1024);
      await page.close();
    }
  });

  test('Back up now on the app page: the page answers at once, the backup lands, Last backup shows it', async () => {
    const dir = backupsDir(config.dataDir, 'redis', ds);
    const { page, errors } = await open('ada', `/apps/${app}`);
    const t0 = performance.now();
    await Promise.all([
      page.waitForURL(/done=backup-started/),
      page.click(`form[action="/services/redis/${ds}/backup"] button`),
    ]);
    figures.push(`Back up now answered in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.match(await text(page, '#outcome'), /^Backup started/);
    await until(
      'the backup is written',
      async () => (await readdir(dir).catch(() => [])).some((n) => n.endsWith('.json')),
      60_000,
    );
    await page.goto(`${base}/apps/${app}`);
    assert.match(await text(page, '#app-services tbody tr'), /UTC.*backup/s);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the collaborator 404 (not their service), the read-only token 403, a stranger 404: no backup', async () => {
    const dir = backupsDir(config.dataDir, 'redis', ds);
    const before = (await readdir(dir)).length;
    for (const [who, code] of [
      ['cole', 404],
      ['reader', 403],
      ['eve', 404],
    ] as const) {
      const r = await post(`/services/redis/${ds}/backup`, { back: app }, who);
      assert.equal(r.statusCode, code, who);
    }
    assert.equal((await post('/services/nosuch/x/backup', {}, 'ada')).statusCode, 404);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await readdir(dir)).length, before);
  });
});

describe('the Nodes page (admins)', () => {
  test('an admin sees this machine and where each instance runs; anyone else a 404', async () => {
    const { page, status, bytes, errors } = await open('ops', '/nodes');
    assert.equal(status, 200);
    const info = (await docker.info()) as { Name: string };
    assert.match(await text(page, '#nodes-table'), new RegExp(`${info.Name}.*docker-local`, 's'));
    assert.match(
      await text(page, '#placement-table'),
      new RegExp(`${app}.*web\\.1.*running.*${info.Name}`, 's'),
    );
    assert.equal(await text(page, 'nav a[aria-current="page"]'), 'Nodes');
    await assertAccessible(page, 'the Nodes page');
    assert.deepEqual(errors, []);
    assert.ok(bytes() < 100 * 1024);
    await page.close();
    for (const who of WHO) {
      const r = await open(who, '/nodes');
      assert.equal(r.status, 404, who);
      assert.equal(
        await r.page.locator('nav a[href="/nodes"]').count(),
        0,
        `${who}: no Nodes link`,
      );
      await r.page.close();
    }
  });
});

describe('the Nodes page with a swarm manager that does not answer', () => {
  test('the page comes within its bound, this machine listed, the manager said not to answer', async (t) => {
    const port = await freePort();
    const withSwarm = build({
      store,
      log: createLogger('web', { level: 'silent' }),
      domain: config.domain,
      engine: async () => docker,
      // A port nothing listens on: the manager never answers.
      releases: { swarm: { manager: `tcp://127.0.0.1:${port}`, network: 'berth-swarm' } },
    });
    t.after(() => withSwarm.close());
    const ops = await signIn(withSwarm, store, 'ops');
    const t0 = performance.now();
    const r = await withSwarm.inject({ url: '/nodes', headers: { cookie: ops.cookie } });
    const ms = performance.now() - t0;
    figures.push(`Nodes page with an unanswering manager ${ms.toFixed(0)} ms`);
    assert.equal(r.statusCode, 200);
    assert.match(
      r.body,
      new RegExp(`The swarm manager \\(tcp://127\\.0\\.0\\.1:${port}\\) did not answer`),
    );
    assert.match(r.body, /this machine \(docker-local\)/);
    assert.ok(ms < 5000, `${ms} ms`);
  });
});

describe('Redeploy (ps:rebuild)', () => {
  test('rights first: the read-only token 403, a stranger 404; nothing pushed yet is the command refusal', async () => {
    assert.equal((await post(`/apps/${app}/rebuild`, {}, 'reader')).statusCode, 403);
    assert.equal((await post(`/apps/${app}/rebuild`, {}, 'eve')).statusCode, 404);
    const r = await post(`/apps/${app}/rebuild`, {}, 'cole');
    assert.equal(r.statusCode, 400);
    assert.match(outcome(r.body), /^Could not redeploy: .*has no main branch pushed to rebuild/);
  });

  test("the collaborator's click: the build page of a build of the branch's head, at once", async () => {
    await ensureRepo(builds.paths, app);
    const rev = await builds.commit(app, {
      Dockerfile: `FROM ${testStackImage()}\nCMD ["python3", "-m", "http.server", "5000"]\n`,
    });
    const { page, errors } = await open('cole', `/apps/${app}`);
    const t0 = performance.now();
    await Promise.all([
      page.waitForURL(/\/builds\/[^/?]+$/),
      page.click(`form[action="/apps/${app}/rebuild"] button`),
    ]);
    figures.push(`Redeploy answered in ${(performance.now() - t0).toFixed(0)} ms`);
    const id = new URL(page.url()).pathname.split('/').at(-1) ?? '';
    const lines: string[] = [];
    const result = await followBuild(
      builder.redis,
      prefix,
      id,
      (l) => lines.push(l),
      AbortSignal.timeout(120_000),
      { queue: builder.queue },
    );
    assert.equal(result.status, 'succeeded', result.error ?? '');
    // The build is of the branch's head, asked for by the collaborator (this
    // builder builds only; the deploy step is the builder service's).
    const [info] = await listBuilds(store.redis, prefix, builder.queue, app, { limit: 1 });
    assert.equal(info?.id, id);
    assert.equal(info?.rev, rev);
    assert.equal(info?.pusher, 'cole');
    assert.ok(info?.image, lines.join('\n'));
    assert.deepEqual(errors, []);
    await page.close();
  });
});

describe("Let's Encrypt on and off from the page against Pebble (a real ACME CA)", () => {
  test('the owner turns it on: a certificate for the domain, the page says on; off removes it', async (t) => {
    const router = await startRouter({ redisUrl: await sharedRedisUrl(), prefix });
    const pebble = await startPebble({ httpPort: router.port });
    t.after(async () => {
      await pebble.stop();
      await router.stop();
    });
    // Pebble's listener certificate is the test's own making: trusted for this process's ACME client.
    acme.axios.defaults.httpsAgent = new https.Agent({ ca: await readFile(pebble.listenerCaFile) });
    const domain = `${app}.example.test`;
    ok(await run(ada, ['domains:add', app, domain]));
    const withCa = build({
      store,
      log: createLogger('web', { level: 'silent' }),
      domain: config.domain,
      paths: dataPaths(config.dataDir),
      acme: acmeOptions(
        loadConfig({
          BERTH_DATA_DIR: config.dataDir,
          BERTH_DOMAIN: 'berth.test',
          BERTH_ACME_DIRECTORY_URL: pebble.directoryUrl,
          BERTH_ACME_SELF_CHECK: 'off',
          BERTH_ACME_DEFAULT_HOSTS: 'off',
        }),
        store,
      ),
    });
    t.after(() => withCa.close());
    const ada2 = await signIn(withCa, store, 'ada');
    const form = (path: string) =>
      withCa.inject({
        method: 'POST',
        url: `/apps/${app}/${path}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: ada2.cookie },
        payload: new URLSearchParams({ _csrf: ada2.csrf }).toString(),
      });
    const t0 = performance.now();
    const on = await form('letsencrypt');
    figures.push(`Let's Encrypt on (one host, Pebble) ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(on.statusCode, 303, on.body.slice(0, 400));
    assert.equal(on.headers.location, `/apps/${app}?done=letsencrypt-on`);
    assert.equal((await store.certs.get(domain))?.source, 'acme');
    const shown = await withCa.inject({
      url: String(on.headers.location),
      headers: { cookie: ada2.cookie },
    });
    assert.match(outcome(shown.body), /^Let&#39;s Encrypt is on/);
    assert.match(
      shown.body,
      /<span>Let's Encrypt is on\.<\/span> <button type="submit">Turn Let's Encrypt off/,
    );
    const off = await form('letsencrypt/disable');
    assert.equal(off.headers.location, `/apps/${app}?done=letsencrypt-off`);
    assert.equal(await store.certs.get(domain), undefined);
  });
});
