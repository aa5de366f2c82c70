// Berth after a power cut (issue 17, item 3): every Berth process, its Redis,
// its Docker Engine and every container killed with SIGKILL at one instant,
// then the Engine started (as init does at boot) and `npm start` once. Every
// app must come back on the release it had, with its scale, domains and
// certificate; every change Berth acknowledged right before the cut must be
// there; a build and a deploy caught by the cut must end, not stay running
// or half-switched. The time from `npm start` to every app served is the
// figure (`npm run bench power-loss` takes it for 10 apps). A PostgreSQL
// service goes through the same cut: every row it acknowledged (psql's
// COMMIT answered) is there once the Engine has restarted it. The Engine is a
// private dockerd of this test's own (test/harness/private-engine.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Store } from '../../services/core/store/index.ts';
import { imageRef } from '../../services/platform/datastores/image.ts';
import { kindVersion } from '../../services/platform/datastores/kinds.ts';
import { postgres } from '../../services/platform/datastores/postgres/kind.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import { makeCert } from '../harness/certs.ts';
import {
  type Fleet,
  type FleetApp,
  powerLossFleet,
  slowDockerfile,
} from '../harness/power-loss.ts';
import { handshake, httpsRequest, request } from '../harness/router.ts';
import { until } from '../harness/wait.ts';

const isRoot = process.getuid?.() === 0;

interface Instance {
  type: string;
  instance: number;
  release: number;
  state: string;
}

/** What an app must serve after the cut: its index and the MARK of its release. */
interface Expected {
  app: FleetApp;
  index: string;
  /** Any of these (a deploy caught by the cut may have gone either way). */
  marks: string[];
}

/** Resolves once every app serves what it should; the time it took from `since`. */
async function allServed(fleet: Fleet, expected: Expected[], since: number, limitMs: number) {
  const left = new Set(expected);
  const deadline = performance.now() + limitMs;
  while (left.size > 0) {
    for (const e of [...left]) {
      const index = await fleet.served(e.app.host);
      const mark = (await fleet.served(e.app.host, '/mark.txt'))?.trim();
      if (index === e.index && mark !== undefined && e.marks.includes(mark)) left.delete(e);
    }
    if (left.size === 0) break;
    if (performance.now() > deadline) {
      const report = await Promise.all(
        [...left].map(async (e) => {
          const r = await request(fleet.routerPort, e.app.host).catch((err: Error) => err.message);
          return `${e.app.name}: ${JSON.stringify(r)}`;
        }),
      );
      throw new Error(
        `not served within ${limitMs} ms: ${report.join('; ')}\nBerth's log:\n${fleet.platform.stderr.slice(-40).join('\n')}`,
      );
    }
    await sleep(50);
  }
  return Math.round(performance.now() - since);
}

describe('a power cut', { skip: !isRoot && 'needs root (a private dockerd)' }, () => {
  test('one npm start brings every app back as it was, with every acknowledged change', async (t) => {
    const fleet = await powerLossFleet(t, {
      label: 'power',
      apps: 4,
      // Copied into the private engine, not built there again.
      images: [imageRef(postgres, kindVersion(postgres, undefined))],
    });
    // Closed here, not in an after hook: those run in the order registered,
    // and the private engine's (registered first) would be gone by then.
    try {
      const [scaled, secured, changed, building] = fleet.apps as [
        FleetApp,
        FleetApp,
        FleetApp,
        FleetApp,
      ];
      const first = (a: FleetApp) => `${a.name} first\n`;
      // Builds go one at a time on this machine; the pushes wait their turn.
      await Promise.all(fleet.apps.map((a) => fleet.push(a, first(a))));
      fleet.log('apps deployed');
      for (const a of fleet.apps) await fleet.command('config:set', a.name, `MARK=${a.name}-m1`);
      const domain = `www.${secured.name}.test`;
      await fleet.command('domains:add', secured.name, domain);
      const cert = await makeCert([domain]);
      await fleet.commandWithInput(`${cert.key}${cert.cert}`, 'certs:add', secured.name);

      // A PostgreSQL service with committed rows: psql answers only once each COMMIT is done.
      const db = `${scaled.name}-db`;
      await fleet.command('postgres:create', db);
      const sql = (text: string) =>
        fleet.commandWithInput(`\\pset tuples_only on\n${text}\n`, 'postgres:connect', db);
      await sql(
        "CREATE TABLE t (n int PRIMARY KEY, s text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 1000) g;",
      );
      const ROWS =
        "SELECT count(*) || ' ' || md5(string_agg(n || ':' || s, ',' ORDER BY n)) FROM t;";

      // Acknowledged right before the cut: each must survive it.
      await fleet.command('ps:scale', scaled.name, 'web=2');
      await fleet.command('config:set', changed.name, `MARK=${changed.name}-late`);
      const prefix = fleet.platform.env.BERTH_REDIS_PREFIX ?? '';
      const releasesBefore = new Map<string, number>();
      {
        const redis = new Redis(fleet.platform.env.REDIS_URL ?? '');
        const store = new Store(redis, prefix);
        for (const a of fleet.apps) {
          releasesBefore.set(a.name, (await store.releases.current(a.name))?.version ?? 0);
        }
        redis.disconnect();
      }
      // Caught by the cut: a push whose build runs, and a deploy under way.
      const pushed = fleet.pushInBackground(building, `${building.name} second\n`, {
        Dockerfile: slowDockerfile(40),
      });
      await until(
        `a build of ${building.name} running`,
        async () =>
          (
            JSON.parse(await fleet.command('builds:list', building.name, '--format', 'json')) as {
              status: string;
            }[]
          ).some((b) => b.status === 'running'),
        60_000,
      );
      // Its new instances take 40 s to listen: the cut comes in the middle of the rollout.
      const deploying = fleet
        .command('config:set', scaled.name, `MARK=${scaled.name}-inflight`, 'START_DELAY=40')
        .then(
          () => 'acknowledged',
          () => 'failed',
        );
      await sleep(3000);
      // The last acknowledgements before the cut, each one command answered.
      const otherDomain = `api.${secured.name}.test`;
      await fleet.command('domains:add', secured.name, otherDomain);
      await fleet.command('config:set', changed.name, 'LAST=1', '--no-restart');
      // Rows committed one by one, each answered, the last right before the cut.
      for (let n = 1001; n <= 1050; n++) await sql(`INSERT INTO t VALUES (${n}, 'late ${n}');`);
      const rowsBefore = (await sql(ROWS)).trim();
      assert.match(rowsBefore, /^1050 [0-9a-f]{32}$/);

      const cut = await fleet.cutPower();
      // What the clients were told when the line went dead (not acknowledged: may go either way).
      const [pushCode, deployAnswer] = await Promise.all([pushed, deploying]);
      const { engineMs, startedAt } = await fleet.powerOn();
      const readyMs = Math.round(performance.now() - startedAt);

      const expected: Expected[] = fleet.apps.map((a) => ({
        app: a,
        index: first(a),
        marks: [`${a.name}-m1`],
      }));
      (expected[1] as Expected).marks = [`${secured.name}-m1`];
      (expected[2] as Expected).marks = [`${changed.name}-late`];
      // Never acknowledged, and cut short: the release before it serves.
      assert.equal(deployAnswer, 'failed');
      (expected[0] as Expected).marks = [`${scaled.name}-m1`];
      const servedMs = await allServed(fleet, expected, startedAt, 60_000);
      fleet.log(`all apps served ${servedMs} ms after npm start`);

      const redis = new Redis(fleet.platform.env.REDIS_URL ?? '');
      redis.on('error', () => {});
      t.after(() => redis.disconnect());
      const store = new Store(redis, prefix);

      // Every app on the release it had (the one caught deploying: on the
      // release that serves, all of it), nothing half-switched.
      for (const a of fleet.apps) {
        const current = await store.releases.current(a.name);
        assert.ok(current, `${a.name} has a current release`);
        assert.equal(current.version, releasesBefore.get(a.name), a.name);
        const route = await getRoutes(redis, prefix, a.name);
        assert.equal(
          route?.release,
          current.version,
          `${a.name}: the route is the current release's`,
        );
        const mark = (await fleet.served(a.host, '/mark.txt'))?.trim();
        assert.equal(mark, current.config.MARK, `${a.name} serves its current release's config`);
        const pending = (await store.releases.list(a.name)).filter((r) => r.status === 'pending');
        assert.deepEqual(pending, [], `${a.name}: no release left pending`);
      }
      // The release the cut caught rolling out is failed, saying why.
      const [cutShort] = await store.releases.list(scaled.name);
      assert.equal(cutShort?.status, 'failed');
      assert.equal(cutShort?.config.MARK, `${scaled.name}-inflight`);
      t.diagnostic(`the release cut short: ${cutShort?.error ?? ''}`);
      // The scale acknowledged before the cut: two web instances, both serving.
      await until(
        `${scaled.name} runs web.1 and web.2 of its current release`,
        async () => {
          const current = (await store.releases.current(scaled.name))?.version;
          const list = JSON.parse(
            await fleet.command('ps:report', scaled.name, '--format', 'json'),
          ) as Instance[];
          const web = list
            .filter((i) => i.type === 'web' && i.state === 'running' && i.release === current)
            .map((i) => i.instance)
            .sort();
          const route = await getRoutes(redis, prefix, scaled.name);
          return JSON.stringify(web) === '[1,2]' && route?.backends.length === 2;
        },
        30_000,
      );
      // The domain and its certificate.
      const domains = await fleet.command('domains:report', secured.name);
      assert.match(domains, new RegExp(domain));
      assert.match(domains, new RegExp(otherDomain));
      assert.equal((await fleet.command('config:get', changed.name, 'LAST')).trim(), '1');
      // With a certificate, plain HTTP is redirected: the page comes over HTTPS.
      assert.equal((await httpsRequest(fleet.httpsPort, domain)).body, first(secured));
      assert.equal((await handshake(fleet.httpsPort, domain)).serial, cert.serial);
      assert.equal(
        (await fleet.command('config:get', changed.name, 'MARK')).trim(),
        `${changed.name}-late`,
      );
      // The PostgreSQL service: started again by the Engine (restart policy), every committed row there.
      await until(
        `PostgreSQL service ${db} answering`,
        async () =>
          (await fleet.command('postgres:info', db, '--health').catch(() => '')).trim() === 'ok',
        60_000,
      );
      assert.equal((await sql(ROWS)).trim(), rowsBefore);
      t.diagnostic(
        `PostgreSQL service ${db}: ${rowsBefore.split(' ')[0]} rows before the cut and after`,
      );

      // The build the cut caught ends failed, saying why, and the app takes a push again.
      let builds: { status: string; error?: string }[] = [];
      await until(
        `the interrupted build of ${building.name} ended`,
        async () => {
          builds = JSON.parse(
            await fleet.command('builds:list', building.name, '--format', 'json'),
          ) as typeof builds;
          return builds.every((b) => b.status !== 'running' && b.status !== 'queued');
        },
        90_000,
      );
      const buildEndedMs = Math.round(performance.now() - startedAt);
      const interrupted = builds[0];
      assert.equal(interrupted?.status, 'failed', JSON.stringify(builds));
      // Not "running" for long after Berth is back: nothing runs it (it was a
      // minute, the dead builder's lock and two stalled checks).
      assert.ok(
        buildEndedMs - readyMs < 20_000,
        `the interrupted build ended ${buildEndedMs - readyMs} ms after Berth was ready`,
      );
      t.diagnostic(
        `the interrupted build ended ${buildEndedMs} ms after npm start: ${interrupted?.error}`,
      );
      // Its push was never acknowledged (git did not update the ref): not deployed.
      assert.equal(await fleet.served(building.host), first(building));
      await fleet.push(building, `${building.name} after\n`, { Dockerfile: null });
      assert.equal(await fleet.served(building.host), `${building.name} after\n`);

      t.diagnostic(
        `${cut.killed} processes killed (${cut.berth} Berth's and Redis', ${cut.engine} the engine's and containers'); the client saw: push exit ${pushCode}, config:set ${deployAnswer}`,
      );
      t.diagnostic(
        `power on: dockerd answered in ${engineMs} ms; npm start to ready ${readyMs} ms, to all ${fleet.apps.length} apps served ${servedMs} ms`,
      );
      // The goal (issue 17): 10 apps served within 30 s of npm start, which
      // `npm run bench power-loss` measures on a quiet machine; here, with
      // other test files loading the machine, start-up time varies, and what
      // is Berth's own is that apps are served as soon as it is ready.
      assert.ok(
        servedMs - readyMs < 10_000,
        `all apps served ${servedMs - readyMs} ms after Berth was ready`,
      );
    } finally {
      await fleet.close();
    }
  });
});
