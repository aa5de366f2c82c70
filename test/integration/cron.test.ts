// app.json cron and postdeploy at a deploy, with the real Engine, the run's
// Redis and BullMQ: the builder's cron worker (services/platform/release/cron.ts)
// is started here as the builder starts it (stale runs let go, schedules made
// those of the releases, then the worker), stopped and started again as a
// restarted builder is. Schedules have seconds (BERTH_CRON_SECONDS, the
// operator setting for tests) so that nothing waits for a minute boundary;
// the five-field every-minute task is test/integration/deploy-scripts.test.ts's.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createLogger } from '../../services/core/log.ts';
import type { CronSpec } from '../../services/platform/build/app-json.ts';
import {
  type CronRun,
  cronQueue,
  cronTasks,
  releaseStaleRuns,
  startCronWorker,
  syncAllCron,
} from '../../services/platform/release/cron.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import type { DeployScripts } from '../../services/platform/release/deploy-scripts.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import { appSchedulers, schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { engineApp, quietDeployDeps, serveText } from '../harness/deploy.ts';
import { testStackImage } from '../harness/docker.ts';
import { sharedRedisUrl } from '../harness/redis.ts';
import { until } from '../harness/wait.ts';

const { store, app, docker, ada, run, prefix } = await engineApp('cr', {
  BERTH_CRON_SECONDS: 'on',
});
const log = createLogger('builder', { level: 'silent' });
const schedulerOf = appSchedulers(store, { docker });
const lines: string[] = [];

const task = (command: string, schedule: string, more: Partial<CronSpec> = {}): CronSpec => ({
  command,
  schedule,
  concurrency: 'forbid',
  maintenance: false,
  ...more,
});

const deploy = (cron: CronSpec[], scripts: DeployScripts = {}, deployTaskTimeoutMs?: number) =>
  deployImage(
    {
      ...quietDeployDeps(store, schedulerNamed('docker-local', { docker })),
      ...(deployTaskTimeoutMs ? { deployTaskTimeoutMs } : {}),
      cronSeconds: true,
      log: { heading: (l) => lines.push(l), detail: (l) => lines.push(l) },
    },
    {
      app,
      image: testStackImage(),
      processes: { web: serveText('cron') },
      cron,
      scripts,
      by: 'ada',
      description: 'Deploy',
    },
  );

/** The builder's start, as services/builder/service.ts does it. */
async function startWorker() {
  const connection = new Redis(await sharedRedisUrl(), { maxRetriesPerRequest: null });
  await releaseStaleRuns(store);
  await syncAllCron(store, log);
  const worker = await startCronWorker({ connection, store, schedulerOf, log, lateMs: 2500 });
  return {
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}
let worker = await startWorker();
// The queue's keys are under the test's prefix, which the harness removes.
after(() => worker.close());

const lastRun = async (id: string): Promise<CronRun | undefined> => {
  const raw = await store.redis.hget(`${prefix}cron:${app}`, id);
  return raw ? (JSON.parse(raw) as CronRun) : undefined;
};
const oneOffs = async () =>
  (
    await docker.listContainers({
      filters: { label: [`berth.app=${app}`, 'berth.process=run'] },
    })
  ).length;

describe('app.json cron and postdeploy', () => {
  test('a postdeploy that fails fails the deploy, and the new release serves on (Dokku)', async () => {
    await store.config.set(app, { GREETING: 'hej' });
    await assert.rejects(deploy([], { postdeploy: 'echo notifying; exit 4' }), (e: Error) => {
      assert.match(
        e.message,
        /^postdeploy failed for app "cr[0-9a-f]+" \(exit code 4\): notifying$/,
      );
      assert.match((e as { hint?: string }).hint ?? '', /^v1 is live and serves/);
      return true;
    });
    assert.equal((await store.releases.current(app))?.status, 'succeeded');
    assert.equal((await getRoutes(store.redis, prefix, app))?.release, 1);
    assert.ok(lines.includes('postdeploy failed (exit code 4); its last line:'), lines.join('\n'));
  });

  test('a predeploy that runs too long is stopped and changes nothing', async () => {
    const t0 = Date.now();
    const from = lines.length;
    await assert.rejects(
      deploy([], { predeploy: 'echo migrating; sleep 60' }, 3000),
      (e: Error) => {
        // Its last line, once it printed one in its 3 s (a loaded machine may
        // take longer than that to start the container).
        const printed = lines.slice(from).includes('migrating');
        assert.equal(
          e.message,
          `predeploy failed for app "${app}" (stopped after 3 s, the longest it may run): ${printed ? 'migrating' : '(no output)'}`,
        );
        return true;
      },
    );
    assert.ok(Date.now() - t0 < 20_000, 'stopped at its limit');
    assert.equal((await store.releases.current(app))?.version, 1);
    assert.equal((await getRoutes(store.redis, prefix, app))?.release, 1);
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`berth.app=${app}`, 'berth.process=predeploy'] },
    });
    assert.equal(left.length, 0, 'its container is removed');
  });

  test('a task runs on its schedule in the current release, with its config; status and output kept', async () => {
    const release = await deploy([
      task(`printf 'tick %s %s\\033[2J\\n' "$GREETING" "$DYNO"`, '*/2 * * * * *'),
    ]);
    const [t] = cronTasks(release);
    const id = t?.id ?? '';
    await until(
      'a scheduled run succeeded',
      async () => (await lastRun(id))?.status === 'succeeded',
      20_000,
    );
    // Held still to be looked at: suspended, and the run under way (if any) ended.
    assert.equal((await run(ada, ['cron:suspend', app, id])).code, 0);
    await until(
      'no run under way',
      async () => (await lastRun(id))?.status !== 'running' && (await oneOffs()) === 0,
      20_000,
    );
    assert.equal((await lastRun(id))?.status, 'succeeded');
    const logs = await run(ada, ['cron:logs', app, id]);
    assert.equal(logs.stdout, 'tick hej run.1[2J\n', 'the escape character is dropped');
    const listed = await run(ada, ['cron:list', app]);
    assert.match(listed.stdout, /^ID +SCHEDULE +COMMAND +NEXT +LAST\n/);
    assert.match(
      listed.stdout,
      new RegExp(`${id}  \\*/2 \\* \\* \\* \\* \\*  printf .*  suspended  succeeded 20`),
    );
    const report = await run(ada, ['cron:report', app]);
    assert.match(report.stdout, /=====> cr[0-9a-f]+ cron information\n {7}Cron task count: +1\n/);
    // Without an app: every app the user may see, in Dokku's grammar.
    const all = await run(ada, ['cron:report']);
    assert.match(
      all.stdout,
      new RegExp(`=====> ${app} cron information\n {7}Cron task count: +1\n`),
    );
    const flag = await run(ada, ['cron:report', app, '--cron-suspended-count']);
    assert.equal(flag.stdout, '1\n');
  });

  test('two runs of a task never overlap under forbid (the default): the one due is skipped, and said so', async () => {
    const release = await deploy([task('sleep 4; echo slept', '* * * * * *')]);
    const id = cronTasks(release)[0]?.id ?? '';
    let most = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 6000) {
      most = Math.max(most, await oneOffs());
      await sleep(200);
    }
    assert.equal(most, 1, 'one run at a time');
    await until(
      'a skipped run noted',
      async () => /was skipped: this one still ran/.test((await lastRun(id))?.note ?? ''),
      10_000,
    );
  });

  test('concurrency_policy replace stops the running run when the next is due', async () => {
    const release = await deploy([
      task('echo started; sleep 30', '*/2 * * * * *', { concurrency: 'replace' }),
    ]);
    const id = cronTasks(release)[0]?.id ?? '';
    const starts = new Set<string>();
    let most = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 9000) {
      most = Math.max(most, await oneOffs());
      const r = await lastRun(id);
      if (r?.status === 'running') starts.add(r.startedAt);
      await sleep(200);
    }
    assert.ok(starts.size >= 2, `a new run started while the last one slept: ${[...starts]}`);
    assert.ok(most <= 2, `the replaced run is stopped (${most} at once)`);
  });

  test('a run missed while the scheduler was stopped runs once at its start, shown late', async () => {
    const release = await deploy([task('echo caught up', '*/3 * * * * *')]);
    const id = cronTasks(release)[0]?.id ?? '';
    await until('a first run', async () => (await lastRun(id))?.status === 'succeeded', 20_000);
    await worker.close();
    const stopped = Date.now();
    await sleep(7000); // two slots at least go by with no scheduler
    worker = await startWorker();
    const late = new Set<string>();
    const seen = new Set<string>();
    const t0 = Date.now();
    while (Date.now() - t0 < 8000) {
      const r = await lastRun(id);
      if (r && Date.parse(r.startedAt) > stopped) {
        seen.add(r.startedAt);
        if (r.late) late.add(r.startedAt);
      }
      await sleep(100);
    }
    assert.equal(late.size, 1, `one late run: ${[...late]}`);
    assert.ok(seen.size >= 2, 'then on schedule again');
    const listed = await run(ada, ['cron:list', app]);
    assert.equal(listed.code, 0);
  });

  test('cron:suspend stops the schedule, cron:resume brings it back; an unknown id is one line', async () => {
    const id = cronTasks(await store.releases.current(app))[0]?.id ?? '';
    assert.equal((await run(ada, ['cron:suspend', app, id])).code, 0);
    const queue = await cronQueue(store.redis, prefix);
    try {
      const ids = async () => (await queue.getJobSchedulers(0, -1)).map((s) => s.key);
      assert.deepEqual(await ids(), []);
      assert.match((await run(ada, ['cron:list', app])).stdout, / suspended /);
      assert.equal((await run(ada, ['cron:resume', app, id])).code, 0);
      assert.deepEqual(await ids(), [`${app}/${id}`]);
      const unknown = await run(ada, ['cron:run', app, 'abcdef0123']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /has no cron task "abcdef0123".*cron:list/);
      // A new release's tasks replace the schedule.
      const next = await deploy([task('true', '@daily')]);
      assert.deepEqual(await ids(), [`${app}/${cronTasks(next)[0]?.id}`]);
      // A bad schedule: refused before anything changes, the schedule stays.
      await assert.rejects(deploy([task('true', '0 25 * * *')]), /hour 25 is outside 0-23/);
      assert.equal((await store.releases.current(app))?.version, next.version);
      // apps:destroy takes the schedule and the records with it.
      const destroyed = await run(ada, ['apps:destroy', app, '--force']);
      assert.equal(destroyed.code, 0, destroyed.stderr);
      assert.deepEqual(await ids(), []);
      assert.deepEqual(await store.redis.keys(`${prefix}cron:*`), []);
    } finally {
      await queue.close();
    }
  });
});
