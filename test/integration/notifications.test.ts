// Deploy notifications end to end: real pushes built and deployed by the
// builder (test/harness/builds.ts) on the real Engine, the release commands
// through the dispatcher, the outbox in the run's Redis, the delivery worker
// (services/platform/notify/delivery.ts) posting to a receiver on loopback
// that this test runs. The receiver is on loopback, so the notifier runs with
// the operator's BERTH_WEBHOOK_PRIVATE_TARGETS=allow; a second one without it
// shows the same receiver refused.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/log.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { type Delivery, Store } from '../../services/core/store/index.ts';
import { issueToken } from '../../services/platform/accounts/api-tokens.ts';
import { startRenewer } from '../../services/platform/certs/renewer.ts';
import { NOTIFY_GROUP, startNotifier } from '../../services/platform/notify/delivery.ts';
import { addWebhook } from '../../services/platform/notify/hooks.ts';
import { isPublicAddress } from '../../services/platform/notify/target.ts';
import { deployBuilds, deployImage } from '../../services/platform/release/deploy.ts';
import { reconcile } from '../../services/platform/release/reconcile.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { build as buildWeb } from '../../services/web/server.ts';
import { buildHarness } from '../harness/builds.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { quietDeployDeps, serveText } from '../harness/deploy.ts';
import { ensureTestStackImage, removeAppFromEngine, testStackImage } from '../harness/docker.ts';
import { prefixSnapshot, redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';
import { until } from '../harness/wait.ts';
import { bareCells, signIn } from '../harness/web.ts';

const { docker, startBuilder, newApp, commit, build } = await buildHarness('berth-notify');

interface Received {
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
  answered: number;
}

/** A webhook receiver on loopback: records every request, answers `codes` in turn, then 200. */
async function receiver() {
  const got: Received[] = [];
  const codes: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const answered = codes.shift() ?? 200;
      got.push({ headers: req.headers, raw, body: JSON.parse(raw), answered });
      res.writeHead(answered).end(answered === 200 ? 'ok' : 'try later');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as { port: number };
  return { got, codes, url: `http://127.0.0.1:${port}/hooks/berth?token=x` };
}

const signed = (secret: string, raw: string) =>
  `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const ada = userActor('ada', 'admin');
const config = loadConfig({
  BERTH_DATA_DIR: await tempDir('berth-notify-data'),
  DOCKER_HOST: process.env.DOCKER_HOST,
  BERTH_DRAIN_TIMEOUT: '0',
});
const run = commandRunner(store, config);
const scheduler = schedulerNamed('docker-local', { docker });
const apps: string[] = [];

async function notifier(p: string, allowPrivateTargets: boolean) {
  const connection = new Redis(await sharedRedisUrl(), { maxRetriesPerRequest: null });
  const n = await startNotifier({
    connection,
    redisPrefix: p,
    allowPrivateTargets,
    attempts: 4,
    backoffMs: 300,
    blockMs: 200,
  });
  after(async () => {
    await n.close();
    connection.disconnect();
  });
  return n;
}

before(async () => {
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
});
after(async () => {
  for (const app of apps) await removeAppFromEngine(docker, app);
});

/** Adds a webhook with notifications:add; its id and secret. */
async function addHook(app: string, url: string, extra: string[] = []) {
  const added = await run(ada, ['notifications:add', app, url, '--format', 'json', ...extra]);
  assert.equal(added.code, 0, added.stderr);
  return JSON.parse(added.stdout) as { id: string; secret: string; url: string };
}

describe('deploy notifications', () => {
  test('a push that deploys, one whose build fails and a rollback each reach the webhook signed; a 500 is retried', async () => {
    const builder = await startBuilder({
      prefix,
      deploy: deployBuilds(store, async () => scheduler, { drainMs: 0 }),
    });
    assert.ok(builder);
    await notifier(prefix, true);
    const app = await newApp(prefix);
    apps.push(app);
    const r = await receiver();
    const hook = await addHook(app, r.url);
    assert.match(hook.secret, /^whsec_/);
    // The listing hides the URL's path (the token of a Slack or Discord webhook).
    assert.equal(hook.url, `${new URL(r.url).origin}/…`);
    const listed = await run(ada, ['notifications:list', app]);
    assert.ok(!listed.stdout.includes('token=x') && !listed.stdout.includes('whsec_'));

    // The receiver's first answer is a 500: that delivery is tried again.
    r.codes.push(500);
    const dockerfile = (extra: string) =>
      `FROM ${testStackImage()}\n${extra}CMD ${serveText('notify')}\n`;
    const ok = await build(builder, app, await commit(app, { Dockerfile: dockerfile('') }));
    assert.equal(ok.result.status, 'succeeded', ok.lines.join('\n'));
    await until(
      'deploy.started (after a 500) and deploy.succeeded delivered',
      () => r.got.filter((g) => g.answered === 200).length >= 2,
      20_000,
    );
    const started = r.got.filter((g) => g.body.event === 'deploy.started');
    assert.deepEqual(
      started.map((g) => g.answered),
      [500, 200],
    );
    assert.equal(started[0]?.raw, started[1]?.raw, 'a retry sends the same body');
    const succeeded = r.got.find((g) => g.body.event === 'deploy.succeeded');
    assert.ok(succeeded);
    assert.equal(succeeded.body.app, app);
    assert.equal(succeeded.body.version, 1);
    assert.equal(succeeded.body.build, ok.id);
    assert.equal(succeeded.body.status, 'succeeded');
    assert.equal(succeeded.headers['x-berth-event'], 'deploy.succeeded');
    assert.equal(succeeded.headers['x-berth-delivery'], succeeded.body.delivery);
    for (const g of r.got) assert.equal(g.headers['x-berth-signature'], signed(hook.secret, g.raw));
    assert.notEqual(signed('whsec_other', succeeded.raw), succeeded.headers['x-berth-signature']);

    // The deliveries list shows both attempts of the retried one.
    const listing = await run(ada, ['notifications:deliveries', app, '--format', 'json']);
    const deliveries = JSON.parse(listing.stdout) as Delivery[];
    const retried = deliveries.find((d) => d.event === 'deploy.started');
    assert.equal(retried?.state, 'delivered');
    assert.deepEqual(
      retried?.attempts.map((a) => a.code),
      [500, 200],
    );
    assert.match(retried?.attempts[0]?.error ?? '', /answered 500/);
    const text = await run(ada, ['notifications:deliveries', app]);
    assert.match(text.stdout, /deploy\.started\s+wh_[0-9a-f]{8}\s+delivered\s+2\s+200/);

    // A push whose build fails.
    const failing = await build(
      builder,
      app,
      await commit(app, { Dockerfile: dockerfile('RUN echo broken; exit 3\n') }),
    );
    assert.equal(failing.result.status, 'failed');
    await until(
      'deploy.failed delivered',
      () => r.got.some((g) => g.body.event === 'deploy.failed'),
      20_000,
    );
    const failed = r.got.find((g) => g.body.event === 'deploy.failed');
    assert.equal(failed?.body.stage, 'build');
    assert.equal(failed?.body.build, failing.id);
    assert.match(String(failed?.body.error), /exit code: 3|returned a non-zero code: 3/);

    // A second release, then a rollback to the first.
    await deployImage(quietDeployDeps(store, scheduler), {
      app,
      image: testStackImage(),
      processes: { web: serveText('two') },
      by: 'ada',
      description: 'Deploy two',
    });
    const back = await run(ada, ['releases:rollback', app, 'v1']);
    assert.equal(back.code, 0, back.stderr);
    await until(
      'deploy.rolled-back delivered',
      () => r.got.some((g) => g.body.event === 'deploy.rolled-back'),
      20_000,
    );
    const rolled = r.got.find((g) => g.body.event === 'deploy.rolled-back');
    assert.equal(rolled?.body.version, 3);
    assert.equal(rolled?.body.rollbackTo, 1);
    assert.equal(rolled?.headers['x-berth-signature'], signed(hook.secret, rolled?.raw ?? ''));
    // Each event once (a retried one arrives after later ones: they are not held back).
    assert.deepEqual(
      r.got
        .filter((g) => g.answered === 200)
        .map((g) => String(g.body.event))
        .sort(),
      [
        'deploy.started',
        'deploy.succeeded',
        'deploy.started',
        'deploy.failed',
        'deploy.started',
        'deploy.succeeded',
        'deploy.started',
        'deploy.rolled-back',
      ].sort(),
    );
  });

  test('Slack and Discord webhooks get one line; --events picks what a webhook gets', async () => {
    const p = testPrefix();
    const s = new Store(await redisClient(p), p);
    await notifier(p, true);
    await s.users.create('ada', 'admin');
    const app = 'chat';
    await s.apps.create({ name: app, owner: 'ada' });
    const slack = await receiver();
    const discord = await receiver();
    const runHere = commandRunner(s, config);
    for (const [r, type] of [
      [slack, 'slack'],
      [discord, 'discord'],
    ] as const) {
      const added = await runHere(ada, [
        'notifications:add',
        app,
        r.url,
        '--type',
        type,
        '--events',
        'deploy.failed,deploy.rolled-back',
      ]);
      assert.equal(added.code, 0, added.stderr);
    }
    const v1 = await s.releases.create(app, {
      image: 'berth/x:1',
      description: 'Deploy 1',
      by: 'ada',
    });
    await s.releases.setStatus(app, v1.version, 'succeeded');
    const v2 = await s.releases.create(app, {
      image: 'berth/x:2',
      description: 'Deploy 2',
      by: 'ada',
    });
    await s.releases.setStatus(app, v2.version, 'failed', 'the web process did not start');
    await until(
      'both receivers got the failure',
      () => slack.got.length > 0 && discord.got.length > 0,
    );
    assert.deepEqual(slack.got[0]?.body, {
      text: 'chat: release v2 failed (Deploy 2): the web process did not start',
    });
    assert.deepEqual(discord.got[0]?.body, {
      content: 'chat: release v2 failed (Deploy 2): the web process did not start',
    });
    // deploy.started and deploy.succeeded were not asked for.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(slack.got.length, 1);
  });

  test('a webhook at a loopback address is refused without BERTH_WEBHOOK_PRIVATE_TARGETS=allow', async () => {
    const p = testPrefix();
    const s = new Store(await redisClient(p), p);
    await notifier(p, false);
    await s.users.create('ada', 'admin');
    await s.apps.create({ name: 'inside', owner: 'ada' });
    const r = await receiver();
    const runHere = commandRunner(s, config);
    // The same receiver by a name that resolves to it, and by its address.
    const byName = r.url.replace('127.0.0.1', 'localhost');
    for (const url of [r.url, byName]) {
      assert.equal((await runHere(ada, ['notifications:add', 'inside', url])).code, 0);
    }
    const v1 = await s.releases.create('inside', {
      image: 'berth/x:1',
      description: 'Deploy 1',
      by: 'ada',
    });
    await s.releases.setStatus('inside', v1.version, 'succeeded');
    await until('both deliveries recorded as failed', async () => {
      const ds = await s.notifications.deliveries('inside');
      return ds.filter((d) => d.event === 'deploy.succeeded' && d.state === 'failed').length === 2;
    });
    const ds = await s.notifications.deliveries('inside');
    for (const d of ds) {
      assert.equal(d.attempts.length, 1, 'a refused target is not retried');
      assert.match(d.attempts[0]?.error ?? '', /is not a public address/);
    }
    assert.equal(r.got.length, 0, 'nothing reached the loopback receiver');
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      'fd00::1',
      'fe80::1',
      '64:ff9b::a00:1',
      '2002:7f00:1::1',
      '224.0.0.1',
      '255.255.255.255',
    ]) {
      assert.equal(isPublicAddress(a), false, a);
    }
    for (const a of ['1.1.1.1', '8.8.8.8', '2606:4700:4700::1111'])
      assert.equal(isPublicAddress(a), true, a);
  });

  test('an instance that keeps crashing is told once; a certificate renewal that fails is told', async () => {
    const p = testPrefix();
    const r2 = await redisClient(p);
    const s = new Store(r2, p);
    await notifier(p, true);
    await s.users.create('ada', 'admin');
    const app = `crash${Date.now().toString(36).slice(-6)}`;
    await s.apps.create({ name: app, owner: 'ada' });
    apps.push(app);
    const r = await receiver();
    const added = await commandRunner(s, config)(ada, [
      'notifications:add',
      app,
      r.url,
      '--events',
      'instance.crash-looping,cert.renewal-failed',
    ]);
    assert.equal(added.code, 0, added.stderr);
    // It serves long enough to go live, then exits; started again by the
    // Engine in the same container, it finds its mark and exits at once.
    const web = `if [ -e /tmp/ran ]; then echo again; exit 7; fi; touch /tmp/ran; timeout 5 sh -c '${serveText('once')}'; exit 7`;
    await deployImage(quietDeployDeps(s, scheduler), {
      app,
      image: testStackImage(),
      processes: { web },
      by: 'ada',
      description: 'Deploy crashing',
    });
    const schedulerOf = async () => scheduler;
    await until(
      'instance.crash-looping delivered',
      async () => {
        await reconcile({ store: s, schedulerOf, readyTimeoutMs: 1000, drainMs: 0 });
        return r.got.some((g) => g.body.event === 'instance.crash-looping');
      },
      45_000,
    );
    const loop = r.got.find((g) => g.body.event === 'instance.crash-looping');
    assert.equal(loop?.body.instance, 'web.1');
    assert.ok(Number(loop?.body.restarts) >= 3);
    assert.equal(loop?.body.error, 'exit code 7');
    // More passes, more restarts: still once.
    await reconcile({ store: s, schedulerOf, readyTimeoutMs: 1000, drainMs: 0 });
    await new Promise((res) => setTimeout(res, 1000));
    assert.equal(r.got.filter((g) => g.body.event === 'instance.crash-looping').length, 1);

    // A certificate of the app's that is due, with a CA that has no directory
    // (one that refuses connections is retried by acme-client for a minute).
    const ca = http.createServer((_req, res) => res.writeHead(404).end('no directory here\n'));
    await new Promise<void>((res) => ca.listen(0, '127.0.0.1', res));
    after(() => new Promise<void>((res) => ca.close(() => res())));
    const domain = `${app}.example.test`;
    await s.domains.add(app, domain);
    await s.certs.set(domain, { source: 'acme' });
    const subscriber = r2.duplicate();
    const renewer = startRenewer(
      {
        store: s,
        paths: dataPaths(await tempDir('berth-notify-acme')),
        directoryUrl: `http://127.0.0.1:${(ca.address() as { port: number }).port}/directory`,
        email: undefined,
        selfCheck: false,
      },
      { subscriber, log: createLogger('certs', { level: 'silent' }) },
    );
    try {
      await until(
        'cert.renewal-failed delivered',
        () => r.got.some((g) => g.body.event === 'cert.renewal-failed'),
        20_000,
      );
    } finally {
      await renewer.stop();
      subscriber.disconnect();
    }
    const cert = r.got.find((g) => g.body.event === 'cert.renewal-failed');
    assert.equal(cert?.body.domain, domain);
    assert.match(String(cert?.body.error), /404|directory/i);
  });

  test('an event waits in the outbox for a notifier that was not running, or died after reading it', async () => {
    const p = testPrefix();
    const r2 = await redisClient(p);
    const s = new Store(r2, p);
    await s.users.create('ada', 'admin');
    await s.apps.create({ name: 'later', owner: 'ada' });
    const r = await receiver();
    assert.equal(
      (await commandRunner(s, config)(ada, ['notifications:add', 'later', r.url])).code,
      0,
    );
    // No notifier runs: the change is acknowledged, its event kept.
    const v1 = await s.releases.create('later', {
      image: 'berth/x:1',
      description: 'Deploy 1',
      by: 'ada',
    });
    await s.releases.setStatus('later', v1.version, 'succeeded');
    // A notifier reads both events and dies before queueing their deliveries.
    const reader = r2.duplicate();
    const taken = await s.notifications.readEvents(reader, NOTIFY_GROUP, 'dead:1', 100, false);
    reader.disconnect();
    assert.deepEqual(
      taken.map((e) => e.event),
      ['deploy.started', 'deploy.succeeded'],
    );
    const connection = new Redis(await sharedRedisUrl(), { maxRetriesPerRequest: null });
    const n = await startNotifier({
      connection,
      redisPrefix: p,
      allowPrivateTargets: true,
      blockMs: 200,
      staleMs: 500,
    });
    after(async () => {
      await n.close();
      connection.disconnect();
    });
    await until('both delivered by the next notifier', () => r.got.length === 2, 15_000);
    assert.deepEqual(r.got.map((g) => g.body.event).sort(), ['deploy.started', 'deploy.succeeded']);
    assert.equal(await r2.xlen(s.keys.events), 0, 'the outbox is empty once they are queued');
  });

  test('hostile input is refused in one line and changes nothing; read-only tokens and collaborators', async () => {
    const p = testPrefix();
    const r2 = await redisClient(p);
    const s = new Store(r2, p);
    await s.users.create('ada', 'admin');
    await s.users.create('bob');
    await s.users.create('eve');
    await s.apps.create({ name: 'shop', owner: 'bob' });
    const runHere = commandRunner(s, config);
    const bob = userActor('bob');
    const before = await prefixSnapshot(r2, p);
    const bad: [string[], RegExp][] = [
      [['ftp://example.com/x'], /use http:\/\/ or https:\/\//],
      [['javascript:alert(1)'], /use http:\/\/ or https:\/\//],
      [['https://user:pw@example.com/x'], /no user name or password/],
      [['https://example.com/a\nb'], /spaces, control/],
      [['https://example.com/x#frag'], /no #fragment/],
      [[`https://example.com/${'a'.repeat(3000)}`], /at most 2000/],
      [['not a url'], /spaces, control/],
      [['https://'], /not a URL/],
      [['https://example.com/x', '--events', 'deploy.exploded'], /invalid event "deploy.exploded"/],
      [['https://example.com/x', '--type', 'teams'], /invalid webhook format "teams"/],
    ];
    for (const [args, reason] of bad) {
      const res = await runHere(bob, ['notifications:add', 'shop', ...args]);
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stdout}${res.stderr}`);
      assert.match(res.stderr, reason);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    }
    const missing = await runHere(bob, ['notifications:remove', 'shop', 'wh_00000000']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /BERTH_E_WEBHOOK_NOT_FOUND|has no webhook wh_00000000/);
    assert.equal(await prefixSnapshot(r2, p), before, 'nothing changed');

    // A stranger does not see the app; a read-only token lists but does not add.
    const eve = await runHere(userActor('eve'), ['notifications:list', 'shop']);
    assert.match(eve.stderr, /app "shop" (does not exist|not found)|BERTH_E_APP_NOT_FOUND/i);
    const readOnly = { ...bob, readOnly: true } as ReturnType<typeof userActor>;
    assert.equal((await runHere(readOnly, ['notifications:list', 'shop'])).code, 0);
    const refused = await runHere(readOnly, ['notifications:add', 'shop', 'https://example.com/x']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /read-only/);
    assert.equal(await prefixSnapshot(r2, p), before, 'nothing changed');

    // The owner adds up to the cap; the next is refused.
    for (let i = 0; i < 10; i++) {
      assert.equal(
        (await runHere(bob, ['notifications:add', 'shop', `https://example.com/${i}`])).code,
        0,
      );
    }
    const eleventh = await runHere(bob, ['notifications:add', 'shop', 'https://example.com/11']);
    assert.equal(eleventh.code, 1);
    assert.match(eleventh.stderr, /has 10 webhooks/);
  });

  test('the app page and GET /api/v1/apps/:app/notifications show webhooks and deliveries to those who see the app', async () => {
    const p = testPrefix();
    const s = new Store(await redisClient(p), p);
    await s.checkSchema();
    await s.users.create('alice');
    await s.users.create('mallory');
    await s.apps.create({ name: 'site', owner: 'alice' });
    const hook = await addWebhook(s, 'site', 'alice', {
      url: 'https://hooks.slack.com/services/T0/B0/SECRETPATH',
      format: 'slack',
      events: 'deploy.failed',
    });
    await s.notifications.recordDelivery({
      id: `1700000000000-0.${hook.id}`,
      hook: hook.id,
      event: 'deploy.failed',
      app: 'site',
      state: 'delivered',
      attempts: [
        { at: '2030-01-01T00:00:00.000Z', code: 500, error: 'answered 500', ms: 12 },
        { at: '2030-01-01T00:00:05.000Z', code: 200, ms: 9 },
      ],
    });
    const web = buildWeb({
      store: s,
      log: createLogger('web', { level: 'silent' }),
      domain: 'berth.test',
    });
    after(() => web.close());
    const bearer = async (user: string, readOnly = false) =>
      `Bearer ${(await issueToken(s, userActor(user), { readOnly })).secret}`;
    const get = async (auth: string) =>
      web.inject({ url: '/api/v1/apps/site/notifications', headers: { authorization: auth } });
    for (const auth of [await bearer('alice'), await bearer('alice', true)]) {
      const r = await get(auth);
      assert.equal(r.statusCode, 200, r.body);
      const body = r.json() as {
        webhooks: { id: string; url: string; events: string[] }[];
        deliveries: Delivery[];
      };
      assert.deepEqual(
        body.webhooks.map((h) => [h.id, h.url, h.events]),
        [[hook.id, 'https://hooks.slack.com/…', ['deploy.failed']]],
      );
      assert.deepEqual(
        body.deliveries[0]?.attempts.map((a) => a.code),
        [500, 200],
      );
      assert.ok(!r.body.includes('SECRETPATH') && !r.body.includes(hook.secret));
    }
    assert.equal((await get(await bearer('mallory'))).statusCode, 404);
    const session = await signIn(web, s, 'alice');
    const pageHtml = (await web.inject({ url: '/apps/site', headers: { cookie: session.cookie } }))
      .body;
    assert.match(pageHtml, /<h2 id="notifications">Notifications<\/h2>/);
    assert.ok(pageHtml.includes(hook.id) && pageHtml.includes('https://hooks.slack.com/…'));
    assert.ok(!pageHtml.includes('SECRETPATH') && !pageHtml.includes(hook.secret));
    assert.match(bareCells(pageHtml), /deploy\.failed/);
  });
});
