// app.json `cron` (Dokku's scheduled cron tasks): one-off runs of the app's
// current release on a schedule, with its image, config and the limits of
// `run` (resource:limit APP run), as `run:detached` would start them.
//
// THE CONTRACT (P = config.redisPrefix)
//
// Tasks    live on the release (`cron`, JSON, from app.json); a task's id is
//          the first 10 hex digits of SHA-256(schedule, command), so an
//          unchanged task keeps its id (and its last run) across deploys.
// Queue    BullMQ queue `cron` (prefix `P bull`), one job scheduler per task,
//          id `<app>/<task id>`, job data { app, id }. syncCron() makes the
//          schedulers equal to the current release's tasks (not suspended, not
//          in maintenance) after every release goes live, at the builder's
//          start, at cron:suspend|resume and when the app goes. A scheduler
//          that is already right is left alone: upserting it again would move
//          an overdue run (one missed while Berth was down) to the next slot.
// Worker   in the builder (startCronWorker). A job runs the task of the
//          release current *then*; a task gone from it is not run and its
//          scheduler goes. A run that starts more than LATE_MS after it was due
//          (Berth was down or restarting) runs once, however many slots were
//          missed, and is recorded `late` with the time it was due, so
//          cron:list says so: a missed run is never dropped without a word.
// Overlap  `P cron:<app>:<id>:running` (SET NX, expiring after the run's time
//          limit) holds a task's run: with concurrency_policy forbid (Berth's
//          default) a run due while another runs is recorded `skipped`;
//          replace stops the running one first (when this builder runs it);
//          allow takes no hold.
// State    hash `P cron:<app>`: field `<id>` = JSON of the last run (trigger,
//          dueAt, startedAt, endedAt, status running|succeeded|failed|skipped,
//          exitCode, late, note); field `suspended:<id>` = 1 (cron:suspend).
//          list `P cron:<app>:<id>:output`: the last run's last OUTPUT_LINES
//          lines. Both go with the app (its destroy hook).
import { createHash } from 'node:crypto';
// bullmq's values are imported where a queue or worker is made: app hooks
// and the cron:* commands load this module in the ssh process, which loads
// BullMQ only when it first needs it (issue 17; build/queue-open.ts).
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BerthError, errorLine } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { Release, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import type { CronSpec } from '../build/app-json.ts';
import { printable, queuePrefix } from '../build/queue.ts';
import type { SchedulerOf } from '../scheduler/schedulers.ts';
import { seconds } from './deploy-scripts.ts';
import { instanceSpec } from './instance-spec.ts';
import { RUN_TYPE } from './one-off.ts';
import { ROLLOUT_DEFAULTS } from './rollout.ts';

export const CRON_QUEUE = 'cron';
const CRON_JOB = 'cron' as const;
/** A run is `late` (missed its slot) when it starts this long after it was due. */
export const LATE_MS = 60_000;
/** Dokku's: a cron run is stopped after 24 hours. */
export const CRON_TIMEOUT_MS = 24 * 3600_000;
/** How much of a run's output is kept (lines, and characters per line). */
export const OUTPUT_LINES = 100;
const LINE_CHARS = 500;

export interface CronTask extends CronSpec {
  id: string;
}

export interface CronRun {
  trigger: 'schedule' | 'cron:run';
  dueAt?: string;
  startedAt: string;
  endedAt?: string;
  status: 'running' | 'succeeded' | 'failed' | 'skipped';
  exitCode?: number;
  /** It started more than LATE_MS after its slot (Berth was down or busy). */
  late?: boolean;
  /** Why it was skipped or failed without an exit code. */
  note?: string;
}

export type CronJob = { app: string; id: string; manual?: boolean };
type CronQueue = Queue<CronJob, void, string>;

export const cronId = (c: Pick<CronSpec, 'schedule' | 'command'>): string =>
  createHash('sha256').update(`${c.schedule}\n${c.command}`).digest('hex').slice(0, 10);

const CRON_ID = /^[0-9a-f]{10}$/;

/** A cron id as a user gives it (cron:run APP ID): BERTH_E_CRON_NOT_FOUND otherwise. */
export function cronIdOf(app: string, value: string): string {
  if (!CRON_ID.test(value))
    throw new BerthError('BERTH_E_CRON_NOT_FOUND', { app, id: value.slice(0, 40) });
  return value;
}

/** The release's tasks, with their ids. */
export function cronTasks(release: Pick<Release, 'cron'> | undefined): CronTask[] {
  return ((release?.cron ?? []) as CronSpec[]).map((c) => ({ ...c, id: cronId(c) }));
}

/**
 * app.json's tasks, their schedules checked (validate.cronSchedule): a bad
 * one throws BERTH_E_DEPLOY_CRON_SCHEDULE naming it, before anything changes.
 */
export function checkCron(
  app: string,
  cron: readonly CronSpec[],
  o: { seconds?: boolean } = {},
): CronSpec[] {
  return cron.map((c, i) => {
    try {
      return { ...c, schedule: validate.cronSchedule(c.schedule, { seconds: o.seconds === true }) };
    } catch (e) {
      throw new BerthError('BERTH_E_DEPLOY_CRON_SCHEDULE', {
        app,
        task: `cron.${i}`,
        reason: e instanceof BerthError ? (e.params.reason ?? errorLine(e)) : errorLine(e),
      });
    }
  });
}

export const cronKeys = (prefix: string, app: string) => ({
  state: `${prefix}cron:${app}`,
  output: (id: string) => `${prefix}cron:${app}:${id}:output`,
  running: (id: string) => `${prefix}cron:${app}:${id}:running`,
});

const schedulerId = (app: string, id: string) => `${app}/${id}`;

export async function cronQueue(connection: Redis, redisPrefix: string): Promise<CronQueue> {
  const { Queue } = await import('bullmq');
  return new Queue<CronJob, void, string>(CRON_QUEUE, {
    connection,
    prefix: queuePrefix(redisPrefix),
  });
}

async function withQueue<T>(store: Store, fn: (q: CronQueue) => Promise<T>): Promise<T> {
  const queue = await cronQueue(store.redis, store.keys.prefix);
  try {
    return await fn(queue);
  } finally {
    await queue.close();
  }
}

/** The app's schedulers, by task id. */
async function schedulersOf(queue: CronQueue, app: string) {
  const all = await queue.getJobSchedulers(0, -1);
  return new Map(
    all
      .filter((s) => s.key.startsWith(`${app}/`))
      .map((s) => [s.key.slice(app.length + 1), s] as const),
  );
}

/**
 * Makes the app's job schedulers those of its current release's tasks that
 * may run (none for an app gone). Returns the tasks scheduled.
 */
export async function syncCron(store: Store, app: string): Promise<CronTask[]> {
  const [release, suspended] = await Promise.all([
    store.releases.current(app).catch(() => undefined),
    suspendedOf(store, app),
  ]);
  const wanted = release?.image
    ? cronTasks(release).filter((t) => !t.maintenance && !suspended.has(t.id))
    : [];
  return withQueue(store, async (queue) => {
    const have = await schedulersOf(queue, app);
    for (const t of wanted) {
      const s = have.get(t.id);
      // The id covers the schedule: one already there is right; upserting it
      // again would move a run missed while Berth was down to the next slot.
      if (s?.pattern === t.schedule) continue;
      await queue.upsertJobScheduler(
        schedulerId(app, t.id),
        { pattern: t.schedule, tz: 'UTC' },
        {
          name: CRON_JOB,
          data: { app, id: t.id },
          opts: { removeOnComplete: true, removeOnFail: true },
        },
      );
    }
    const ids = new Set(wanted.map((t) => t.id));
    for (const id of have.keys()) {
      if (!ids.has(id)) await queue.removeJobScheduler(schedulerId(app, id));
    }
    return wanted;
  });
}

/** Every app's schedulers made right (the builder's start). */
export async function syncAllCron(store: Store, log: Logger): Promise<void> {
  const apps = new Set(await store.apps.names());
  await withQueue(store, async (queue) => {
    // Schedulers of apps gone while the builder was away.
    for (const s of await queue.getJobSchedulers(0, -1)) {
      const app = s.key.split('/')[0] ?? '';
      if (!apps.has(app)) await queue.removeJobScheduler(s.key);
    }
  });
  for (const app of apps) {
    await syncCron(store, app).catch((e) => log.warn({ err: e, app }, 'cron schedule'));
  }
}

/** The app's schedules and state go (apps:destroy; a rename before the new name is synced). */
export async function removeCron(store: Store, app: string): Promise<void> {
  await withQueue(store, async (queue) => {
    for (const id of (await schedulersOf(queue, app)).keys()) {
      await queue.removeJobScheduler(schedulerId(app, id));
    }
  });
  const keys = cronKeys(store.keys.prefix, app);
  const fields = await store.redis.hkeys(keys.state);
  const ids = new Set(fields.map((f) => f.replace(/^suspended:/, '')));
  await store.redis.del(
    keys.state,
    ...[...ids].flatMap((id) => [keys.output(id), keys.running(id)]),
  );
}

async function suspendedOf(store: Store, app: string): Promise<Set<string>> {
  const fields = await store.redis.hkeys(cronKeys(store.keys.prefix, app).state);
  return new Set(fields.filter((f) => f.startsWith('suspended:')).map((f) => f.slice(10)));
}

/** cron:suspend / cron:resume: the task keeps its place in app.json but does not run. */
export async function setSuspended(store: Store, app: string, id: string, suspended: boolean) {
  await taskOf(store, app, id);
  const key = cronKeys(store.keys.prefix, app).state;
  if (suspended) await store.redis.hset(key, `suspended:${id}`, '1');
  else await store.redis.hdel(key, `suspended:${id}`);
  await syncCron(store, app);
}

/** The current release's task `id`; BERTH_E_CRON_NOT_FOUND. */
export async function taskOf(store: Store, app: string, id: string): Promise<CronTask> {
  const task = cronTasks(await store.releases.current(app)).find((t) => t.id === id);
  if (!task) throw new BerthError('BERTH_E_CRON_NOT_FOUND', { app, id });
  return task;
}

export interface CronListing extends CronTask {
  suspended: boolean;
  /** When the schedule runs it next (none: suspended, in maintenance). */
  next?: string;
  last?: CronRun;
}

/** cron:list: each task with its last run and its next. */
export async function listCron(store: Store, app: string): Promise<CronListing[]> {
  const tasks = cronTasks(await store.releases.current(app));
  const state = await store.redis.hgetall(cronKeys(store.keys.prefix, app).state);
  const schedulers = await withQueue(store, (q) => schedulersOf(q, app));
  return tasks.map((t) => {
    const s = schedulers.get(t.id);
    const last = state[t.id];
    return {
      ...t,
      suspended: state[`suspended:${t.id}`] === '1',
      ...(s?.next ? { next: new Date(s.next).toISOString() } : {}),
      ...(last ? { last: JSON.parse(last) as CronRun } : {}),
    };
  });
}

/** The last run's kept output. */
export async function cronOutput(store: Store, app: string, id: string): Promise<string[]> {
  return store.redis.lrange(cronKeys(store.keys.prefix, app).output(id), 0, -1);
}

async function record(store: Store, app: string, id: string, run: CronRun): Promise<void> {
  await store.redis.hset(cronKeys(store.keys.prefix, app).state, id, JSON.stringify(run));
}

/** cron:run --detach: a run now by the builder, under the task's rules. */
export async function enqueueCronRun(store: Store, app: string, id: string): Promise<void> {
  await taskOf(store, app, id);
  await withQueue(store, (q) =>
    q.add(CRON_JOB, { app, id, manual: true }, { removeOnComplete: true, removeOnFail: true }),
  );
}

/**
 * Records a run that happens elsewhere (cron:run attached, in the command's
 * process) around `run`, which resolves the exit code.
 */
export async function recordedRun(
  store: Store,
  app: string,
  id: string,
  run: () => Promise<number>,
): Promise<number> {
  const startedAt = new Date().toISOString();
  await record(store, app, id, { trigger: 'cron:run', startedAt, status: 'running' });
  let exitCode: number | undefined;
  try {
    exitCode = await run();
    return exitCode;
  } finally {
    await record(store, app, id, {
      trigger: 'cron:run',
      startedAt,
      endedAt: new Date().toISOString(),
      status: exitCode === 0 ? 'succeeded' : 'failed',
      ...(exitCode === undefined ? { note: 'it did not end normally' } : { exitCode }),
    }).catch(() => {});
  }
}

export interface CronWorkerOptions {
  connection: Redis;
  store: Store;
  schedulerOf: SchedulerOf;
  log: Logger;
  /** Runs at once (cron runs wait on their processes, not on the CPU). */
  concurrency?: number;
  timeoutMs?: number;
  /** LATE_MS unless given (tests with seconds schedules). */
  lateMs?: number;
}

/**
 * What a builder that stopped mid-run left (one builder runs every cron
 * run): holds that would skip the task's runs for a day, and runs still
 * shown as running. BullMQ runs such a job once more (its stalled check).
 */
export async function releaseStaleRuns(store: Store): Promise<void> {
  for (const app of await store.apps.names()) {
    const keys = cronKeys(store.keys.prefix, app);
    for (const [field, value] of Object.entries(await store.redis.hgetall(keys.state))) {
      if (field.startsWith('suspended:')) continue;
      await store.redis.del(keys.running(field));
      const run = JSON.parse(value) as CronRun;
      if (run.status === 'running' && run.trigger === 'schedule') {
        await record(store, app, field, {
          ...run,
          status: 'failed',
          endedAt: new Date().toISOString(),
          note: 'Berth stopped during this run',
        });
      }
    }
  }
}

/** The builder's cron worker: runs each due task as a one-off of the current release. */
export async function startCronWorker(o: CronWorkerOptions): Promise<{ close(): Promise<void> }> {
  const { Worker } = await import('bullmq');
  const { store, log } = o;
  const prefix = store.keys.prefix;
  // This process's running runs, so `replace` can stop one.
  const running = new Map<string, AbortController>();
  const worker = new Worker<CronJob, void, string>(
    CRON_QUEUE,
    async (job: Job<CronJob, void, string>) => {
      const { app, id } = job.data;
      validate.appName(app);
      const release = await store.releases.current(app).catch(() => undefined);
      const task = cronTasks(release).find((t) => t.id === id);
      if (!release?.image || !task) {
        // Replaced or gone since it was scheduled: the schedule is made right, nothing runs.
        await syncCron(store, app).catch(() => {});
        return;
      }
      const due = job.data.manual
        ? undefined
        : (job.opts.prevMillis ?? job.timestamp + (job.delay ?? 0));
      const now = Date.now();
      const base: Pick<CronRun, 'trigger' | 'dueAt' | 'late'> = {
        trigger: job.data.manual ? 'cron:run' : 'schedule',
        ...(due === undefined ? {} : { dueAt: new Date(due).toISOString() }),
        ...(due !== undefined && now - due > (o.lateMs ?? LATE_MS) ? { late: true } : {}),
      };
      const keys = cronKeys(prefix, app);
      const timeoutMs = o.timeoutMs ?? CRON_TIMEOUT_MS;
      const hold = `${app}/${id}`;
      if (task.concurrency === 'replace') running.get(hold)?.abort('replaced');
      if (task.concurrency !== 'allow') {
        let got = await store.redis.set(
          keys.running(id),
          job.id ?? '1',
          'PX',
          timeoutMs + 60_000,
          'NX',
        );
        // replace: the stopped run lets go within its stop timeout.
        for (let i = 0; !got && task.concurrency === 'replace' && i < 30; i++) {
          await new Promise((r) => setTimeout(r, 1000));
          got = await store.redis.set(
            keys.running(id),
            job.id ?? '1',
            'PX',
            timeoutMs + 60_000,
            'NX',
          );
        }
        if (!got) {
          const previous = await store.redis.hget(keys.state, id);
          log.info({ app, id }, 'cron run skipped: the previous run still runs');
          // The previous run's record stays; the skip is said in its note.
          const last = previous ? (JSON.parse(previous) as CronRun) : undefined;
          if (last)
            await record(store, app, id, {
              ...last,
              note: `a run due ${base.dueAt ?? 'now'} was skipped: this one still ran (concurrency_policy ${task.concurrency})`,
            });
          return;
        }
      }
      const control = new AbortController();
      running.set(hold, control);
      const signal = AbortSignal.any([control.signal, AbortSignal.timeout(timeoutMs)]);
      const startedAt = new Date().toISOString();
      await record(store, app, id, { ...base, startedAt, status: 'running' });
      await store.redis.del(keys.output(id));
      const buffered: string[] = [];
      const flush = async () => {
        const lines = buffered.splice(0);
        if (lines.length === 0) return;
        await store.redis
          .multi()
          .rpush(keys.output(id), ...lines)
          .ltrim(keys.output(id), -OUTPUT_LINES, -1)
          .exec();
      };
      const timer = setInterval(() => void flush().catch(() => {}), 1000);
      try {
        const scheduler = await o.schedulerOf(app);
        const spec = instanceSpec(release, await store.apps.deploySettings(app), {
          type: RUN_TYPE,
          instance: 0,
          command: task.command,
          port: ROLLOUT_DEFAULTS.port,
          stopTimeoutSec: 10,
        });
        const result = await scheduler.runOnce(
          spec,
          (line) => {
            // Shown on terminals by cron:logs: no escape sequences from the app.
            buffered.push(printable(line).slice(0, LINE_CHARS));
            if (buffered.length > OUTPUT_LINES) buffered.shift();
          },
          signal,
        );
        await flush();
        await record(store, app, id, {
          ...base,
          startedAt,
          endedAt: new Date().toISOString(),
          status: result.exitCode === 0 ? 'succeeded' : 'failed',
          exitCode: result.exitCode,
        });
      } catch (e) {
        await flush().catch(() => {});
        const why = control.signal.aborted
          ? control.signal.reason === 'replaced'
            ? 'stopped: a newer run replaced it (concurrency_policy replace)'
            : 'Berth stopped during this run'
          : signal.aborted
            ? `stopped after ${seconds(timeoutMs)}, the longest a cron run may take`
            : errorLine(e);
        await record(store, app, id, {
          ...base,
          startedAt,
          endedAt: new Date().toISOString(),
          status: 'failed',
          note: why,
        });
        log.warn({ app, id, err: e }, 'cron run failed');
      } finally {
        clearInterval(timer);
        running.delete(hold);
        if (task.concurrency !== 'allow') {
          // Only our own hold: a replacing run may hold it by now.
          const mine = await store.redis.get(keys.running(id));
          if (mine === (job.id ?? '1')) await store.redis.del(keys.running(id));
        }
      }
    },
    {
      connection: o.connection,
      prefix: queuePrefix(prefix),
      concurrency: o.concurrency ?? 20,
    },
  );
  worker.on('error', (e) => log.warn({ err: e }, 'cron worker'));
  return {
    async close() {
      for (const c of running.values()) c.abort('stopping');
      await worker.close();
    },
  };
}
