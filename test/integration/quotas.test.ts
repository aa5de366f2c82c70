// Per-user quotas and the build queue's turns (issue 16, item 10: 1,000 apps
// in 13 s, 300 process types × 100 instances, builds first-in-first-out
// across users), against the real Redis through the real commands, the web
// API and a real build worker (test/harness/builds.ts) on the Docker Engine:
// apps:create past the apps quota, two creates at the cap at once, ps:scale
// (also a collaborator's, a deploy's first formation and the API's scale)
// past the instances and process types quotas, builds past the build
// minutes, and one user's five waiting builds not holding up another's first.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig, type QuotaDefaults } from '../../services/core/config.ts';
import { BerthError, type ErrorCode } from '../../services/core/errors.ts';
import { createLogger } from '../../services/core/log.ts';
import { type Formation, Store } from '../../services/core/store/index.ts';
import { issueToken } from '../../services/platform/accounts/api-tokens.ts';
import {
  enqueueBuild,
  followBuild,
  queuedNotice,
  queuePlace,
} from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { build as buildWeb } from '../../services/web/server.ts';
import { buildHarness } from '../harness/builds.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { quietDeployDeps } from '../harness/deploy.ts';
import { testDocker } from '../harness/docker.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const fails = (code: ErrorCode) => (e: unknown) => {
  assert.ok(e instanceof BerthError, `expected ${code}, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  return true;
};

/** Low caps, so a test reaches them in a few steps. */
const CAPS: QuotaDefaults = {
  apps: 2,
  instances: 4,
  processTypes: 2,
  buildMinutes: 1,
  pushSize: null,
  disk: null,
};

const prefix = testPrefix();
const store = new Store(await redisClient(prefix), prefix, { quotas: CAPS });
await store.checkSchema();
// A second connection, so that "at once" means two clients racing in Redis.
const store2 = new Store(await redisClient(prefix), prefix, { quotas: CAPS });
const run = commandRunner(store);
const admin = userActor('ada', 'admin');
await store.users.create('ada', 'admin');
// A real build worker for the last tests (at the top level: it cleans up after the file).
const h = await buildHarness('berth-quotas');
const { docker } = await testDocker();

let seq = 0;
const unique = (base: string) => `${base}${++seq}`;

/** A user of role `user`, with a unique name. */
async function newUser(base: string): Promise<string> {
  const user = unique(base);
  await store.users.create(user, 'user');
  return user;
}

const PROCESSES = { web: 'serve', worker: 'work', clock: 'tick' };

/** A release of `app` as a deploy leaves it (succeeded, with an image), without the Engine. */
async function released(app: string, formation: Formation) {
  return store.releases.create(app, {
    image: 'berth/quota-test:1',
    processes: PROCESSES,
    formation,
    description: 'Deploy',
    by: 'ada',
    status: 'succeeded',
  });
}

describe('the apps quota', () => {
  test('apps:create past the cap is refused with one line naming the quota; nothing is made', async () => {
    const ann = await newUser('ann');
    const me = userActor(ann);
    for (const n of [1, 2]) {
      const r = await run(me, ['apps:create', `${ann}-app${n}`]);
      assert.equal(r.code, 0, r.stderr);
    }
    const third = await run(me, ['apps:create', `${ann}-app3`]);
    assert.equal(third.code, 1);
    assert.equal(
      third.stderr,
      `berth: ${ann} owns 2 apps: the apps quota of ${ann} is 2 — destroy an app no longer needed (apps:destroy), or ask an admin to raise it (berth quota:set ${ann} apps=N)\n`,
    );
    assert.equal(await store.apps.exists(`${ann}-app3`), false);

    // The report says where the user stands; only admins change it.
    const report = await run(me, ['quota:report']);
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stdout, /apps: +2 owned; cap 2 \(default\)/);
    const raise = await run(me, ['quota:set', ann, 'apps=10']);
    assert.equal(raise.code, 1);
    assert.match(raise.stderr, /quota:set is for admins/);
    const set = await run(admin, ['quota:set', ann, 'apps=3']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /apps: +2 owned; cap 3 \(set for this user\)/);
    assert.equal((await run(me, ['apps:create', `${ann}-app3`])).code, 0);
    assert.equal((await run(me, ['apps:create', `${ann}-app4`])).code, 1);
    // Back to the default: the user keeps what they have, and makes no more.
    assert.equal((await run(admin, ['quota:set', ann, 'apps=default'])).code, 0);
    const json = await run(me, ['quota:report', '--format', 'json']);
    assert.deepEqual(JSON.parse(json.stdout).quotas.apps, { used: 3, cap: 2, from: 'default' });
  });

  test('admins have no caps; a user sees only their own report; bad quota:set input changes nothing', async () => {
    for (let i = 0; i < 4; i++) {
      assert.equal((await run(admin, ['apps:create', unique('adaapp')])).code, 0);
    }
    const adaReport = await run(admin, ['quota:report', '--format', 'json']);
    assert.deepEqual(JSON.parse(adaReport.stdout).quotas.apps.cap, null);
    assert.equal(JSON.parse(adaReport.stdout).quotas.apps.from, 'admin');
    const bob = await newUser('bob');
    const eve = await newUser('eve');
    const peek = await run(userActor(eve), ['quota:report', bob]);
    assert.equal(peek.code, 1);
    assert.match(peek.stderr, /another user's quotas is for admins/);
    assert.equal((await run(admin, ['quota:report', bob])).code, 0);
    for (const bad of [
      ['apps=-1'],
      ['apps=lots'],
      ['memory=5'],
      ['disk=1.5g'],
      ['push-size=2t'],
      ['apps=5g'],
      ['process-types=5000'],
      [],
    ]) {
      const r = await run(admin, ['quota:set', bob, ...bad]);
      assert.notEqual(r.code, 0, bad.join(' '));
      assert.equal(r.stderr.split('\n').length, 2, r.stderr);
    }
    const missing = await run(admin, ['quota:set', 'nobody-here', 'apps=3']);
    assert.match(missing.stderr, /user "nobody-here" does not exist/);
    assert.deepEqual(await store.redis.hgetall(store.keys.userQuotas(bob)), {});
  });

  test('with the default caps, a flood of creates stops at 25 apps', async () => {
    const defaults = new Store(store.redis, prefix, { quotas: loadConfig({}).quotas });
    const flood = await newUser('flood');
    const results = [];
    for (let i = 0; i < 40; i++) {
      results.push(
        await defaults.apps.create({ name: `${flood}-${i}`, owner: flood }).then(
          () => 'ok',
          (e: BerthError) => e.code,
        ),
      );
    }
    assert.equal(results.filter((r) => r === 'ok').length, 25);
    assert.deepEqual(new Set(results.slice(25)), new Set(['BERTH_E_QUOTA']));
  });

  test('two creates at the cap at once: only one passes', async () => {
    const twin = await newUser('twin');
    await store.quotas.set(twin, { apps: 1 });
    const tries = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? store : store2).apps.create({ name: `${twin}-${i}`, owner: twin }),
      ),
    );
    assert.equal(tries.filter((t) => t.status === 'fulfilled').length, 1);
    for (const t of tries) if (t.status === 'rejected') fails('BERTH_E_QUOTA')(t.reason);
    assert.equal((await store.quotas.report(twin)).quotas.apps.used, 1);
  });
});

describe('the instances and process types quotas', () => {
  test("ps:scale past the instances cap, counted over all the owner's apps, is refused; a collaborator's counts against the owner", async () => {
    const ivy = await newUser('ivy');
    const [one, two] = [`${ivy}-one`, `${ivy}-two`];
    await store.apps.create({ name: one, owner: ivy });
    await store.apps.create({ name: two, owner: ivy });
    await released(one, { web: 1 });
    await released(two, { web: 2 });
    const before = (await store.releases.list(one)).length;

    const up = await run(userActor(ivy), ['ps:scale', one, 'web=100']);
    assert.equal(up.code, 1);
    assert.equal(
      up.stderr,
      `berth: the apps of ${ivy} would run 102 instances: the instances quota of ${ivy} is 4 — scale an app down first (ps:scale APP TYPE=N), or ask an admin to raise it (berth quota:set ${ivy} instances=N)\n`,
    );
    // One more type, two more instances: 5 across the two apps.
    const worker = await run(userActor(ivy), ['ps:scale', one, 'worker=2']);
    assert.match(worker.stderr, /would run 5 instances: the instances quota of ivy\d+ is 4/);
    const cole = await newUser('cole');
    await store.apps.addCollaborator(one, cole);
    const theirs = await run(userActor(cole), ['ps:scale', one, 'web=3']);
    assert.equal(theirs.code, 1);
    assert.match(theirs.stderr, new RegExp(`the instances quota of ${ivy} is 4`));
    assert.equal((await store.releases.list(one)).length, before, 'no release was made');
    assert.deepEqual((await store.releases.current(one))?.formation, { web: 1 });

    // Up to the cap is allowed; down is always allowed, even after the cap is lowered.
    await released(one, { web: 2 });
    await store.quotas.set(ivy, { instances: 1 });
    await released(two, { web: 1 });
    await assert.rejects(released(two, { web: 2 }), fails('BERTH_E_QUOTA'));
    const r = await run(userActor(ivy), ['quota:report', '--format', 'json']);
    assert.deepEqual(JSON.parse(r.stdout).quotas.instances, { used: 3, cap: 1, from: 'user' });
  });

  test('more process types than the cap are refused', async () => {
    const pat = await newUser('pat');
    const app = `${pat}-app`;
    await store.apps.create({ name: app, owner: pat });
    await released(app, { web: 1 });
    const r = await run(userActor(pat), ['ps:scale', app, 'worker=1', 'clock=1']);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `berth: ${app} would run 3 process types: the process-types quota of ${pat} is 2 — scale a type of ${app} to 0 first, or ask an admin to raise it (berth quota:set ${pat} process-types=N)\n`,
    );
    await released(app, { web: 1, worker: 1 });
    // Swapping one type for another keeps the count.
    await released(app, { web: 1, worker: 0, clock: 1 });
  });

  test("a deploy's first formation counts too: the app's first web instance past the cap is refused", async () => {
    const dee = await newUser('dee');
    const [full, fresh] = [`${dee}-full`, `${dee}-fresh`];
    await store.apps.create({ name: full, owner: dee });
    await store.apps.create({ name: fresh, owner: dee });
    await released(full, { web: 4 });
    await assert.rejects(
      deployImage(quietDeployDeps(store, schedulerNamed('docker-local', { docker })), {
        app: fresh,
        image: 'berth/quota-test:1',
        processes: { web: null },
        by: dee,
        description: 'Deploy 1',
      }),
      (e: unknown) => {
        fails('BERTH_E_QUOTA')(e);
        assert.match((e as BerthError).message, /would run 5 instances/);
        return true;
      },
    );
    assert.equal(await store.releases.latest(fresh), undefined);
  });

  test('two scale-ups at once on two apps cannot both take the last instances', async () => {
    const ray = await newUser('ray');
    await store.quotas.set(ray, { instances: 2 });
    const apps = [`${ray}-a`, `${ray}-b`];
    for (const app of apps) {
      await store.apps.create({ name: app, owner: ray });
      await released(app, {});
    }
    const tries = await Promise.allSettled(
      apps.map((app, i) =>
        (i === 0 ? store : store2).releases.create(app, {
          formation: { web: 2 },
          description: 'Scale web=2',
          by: ray,
        }),
      ),
    );
    assert.equal(tries.filter((t) => t.status === 'fulfilled').length, 1);
  });

  test("the web API's scale past the cap is a 403 with BERTH_E_QUOTA", async () => {
    const amy = await newUser('amy');
    const app = `${amy}-api`;
    await store.apps.create({ name: app, owner: amy });
    await released(app, { web: 1 });
    const web = buildWeb({
      store,
      log: createLogger('web', { level: 'silent' }),
      domain: 'berth.test',
      engine: async () => docker,
      buildLogs: await tempDir('berth-quota-logs'),
      releases: { tuning: { drainMs: 0 } },
    });
    try {
      const token = (await issueToken(store, userActor(amy))).secret;
      const r = await web.inject({
        method: 'PATCH',
        url: `/api/v1/apps/${app}/formation`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ web: 9 }),
      });
      assert.equal(r.statusCode, 403, r.body);
      const error = JSON.parse(r.body).error;
      assert.equal(error.code, 'BERTH_E_QUOTA');
      assert.match(error.message, /the instances quota of amy\d+ is 4/);
      assert.deepEqual((await store.releases.current(app))?.formation, { web: 1 });
    } finally {
      await web.close();
    }
  });
});

describe('build minutes and turns in the build queue', () => {
  const IMAGE = 'debian:bookworm-slim';

  test('a build past the minutes of the day is refused before it is queued; each build adds its time', async () => {
    const main = new Store(h.main.redis, h.main.prefix, { quotas: CAPS });
    const runMain = commandRunner(main);
    if (!(await main.users.get('ada'))) await main.users.create('ada', 'admin');
    const bea = unique('bea');
    await main.users.create(bea, 'user');
    const app = `${bea}-app`;
    await main.apps.create({ name: app, owner: bea });

    const first = await runMain(userActor(bea), ['git:from-image', app, IMAGE]);
    assert.equal(first.code, 0, first.stderr);
    const used = (await main.quotas.report(bea)).buildSeconds;
    assert.ok(used >= 1, `the build's time was counted (${used} s)`);

    // The rest of the day's minute, as if more builds had taken it.
    await main.quotas.addBuildTime(bea, 60_000);
    // All jobs, whatever their state: the first build's job may still be
    // active (image retention runs after its end entry) and complete meanwhile.
    const allJobs = async () =>
      Object.values(await h.main.queue.getJobCounts()).reduce((a, b) => a + b, 0);
    const jobs = await allJobs();
    const refused = await runMain(userActor(bea), ['git:from-image', app, IMAGE]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(
        `^berth: the builds of ${bea} took \\d+ minutes today \\(UTC\\): the build-minutes quota of ${bea} is 1 — build again after midnight UTC, or ask an admin to raise it \\(berth quota:set ${bea} build-minutes=N\\)\\n$`,
      ),
    );
    assert.equal(await allJobs(), jobs, 'nothing was queued');
    await assert.rejects(
      enqueueBuild(h.main.queue, { app, image: IMAGE, pusher: bea }, { store: main }),
      fails('BERTH_E_QUOTA'),
    );
    // An admin's word lets the user build again today.
    await main.quotas.set(bea, { 'build-minutes': 30 });
    assert.equal((await runMain(userActor(bea), ['git:from-image', app, IMAGE])).code, 0);
  });

  test("users take turns: with one builder, B's first build runs second, not after A's five", async () => {
    const p = testPrefix();
    const redis = await redisClient(p);
    const s = new Store(redis, p);
    await s.checkSchema();
    const [a, b] = [unique('usera'), unique('userb')];
    await s.users.create(a, 'user');
    await s.users.create(b, 'user');
    const queue = createBuildQueue(redis, p);
    const enqueue = async (owner: string, app: string) => {
      await s.apps.create({ name: app, owner });
      return enqueueBuild(queue, { app, image: IMAGE, pusher: owner }, { store: s });
    };
    // Queued while no builder runs, then one builder at concurrency 1 takes them.
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(await enqueue(a, `${a}-${i}`));
    const bId = await enqueue(b, `${b}-1`);
    // Where each stands is what a waiting push is told.
    assert.deepEqual(await queuePlace(queue, bId), { running: 0, ahead: 1 });
    assert.deepEqual(await queuePlace(queue, ids[4] ?? ''), { running: 0, ahead: 5 });
    const told: string[] = [];
    const follow = new AbortController();
    const signal = AbortSignal.any([follow.signal, AbortSignal.timeout(10_000)]);
    const followed = followBuild(redis, p, bId, () => {}, signal, {
      queue,
      blockMs: 100,
      onQueued: queuedNotice((line) => {
        told.push(line);
        follow.abort();
      }, 30 * 60_000),
    }).catch(() => undefined);
    await followed;
    assert.deepEqual(told, [
      '-----> Waiting for a free builder (0 builds running, 1 waiting before this one); it gives up after 30 min',
    ]);
    const builder = await h.startBuilder({ prefix: p, concurrency: 1 });
    try {
      for (const id of [...ids, bId]) {
        const result = await followBuild(redis, p, id, () => {}, AbortSignal.timeout(120_000), {
          queue,
        });
        assert.equal(result.status, 'succeeded', result.error);
      }
      const started = await Promise.all(
        [...ids, bId].map(async (id) => ({ id, at: (await queue.getJob(id))?.processedOn ?? 0 })),
      );
      const order = started.sort((x, y) => x.at - y.at).map((x) => x.id);
      assert.equal(order.indexOf(bId), 1, `B's build ran ${order.indexOf(bId) + 1}th`);
      // Builds run in A's own order among A's.
      assert.deepEqual(
        order.filter((id) => id !== bId),
        ids,
      );
      assert.ok((await s.quotas.report(a)).buildSeconds >= 5, "A's five builds were counted");
    } finally {
      await h.stopBuilder(builder);
      await queue.close();
    }
  });
});
