// The build queue: the contract between whoever asks for a build (a git push,
// git:from-image, ps:rebuild) and the builder that runs it. Both sides
// use the functions in this file, so the key names and entry shapes live here
// and nowhere else.
//
// THE CONTRACT (P = config.redisPrefix, e.g. "berth:")
//
// Queue    BullMQ queue named `builds` with BullMQ's `prefix` = `P bull` (its
//          keys are `P bull:builds:*`), so several Berth instances can share
//          one Redis. Build with createBuildQueue() (./queue-open.ts).
// Job      name `build`, id = the build id (buildId() below: lower-case letters
//          and digits, time-ordered, e.g. `mgx3k9a2f01c2d3e`), data = a
//          BuildRequest (./types.ts): { app, rev (40 hex), ref
//          (`refs/heads/<branch>`), pusher, owner, requestedAt, quarantine? }.
//          One attempt; a worker must not retry a build whose `quarantine` is set
//          once the push that asked for it has ended (the objects are gone).
//          (A job whose worker died is run once more by BullMQ's stalled-job
//          check, see ../../builder/worker.ts; with its quarantine gone, that run fails
//          at once with "the pushed objects are gone".)
// Log      a Redis Stream at `P build:<id>:log`, one entry per line of output,
//          written by the worker with appendBuildLog(); fields
//            type=line  text=<one line: no \n, no \r>
//          Heroku style: `-----> Heading` for a step, seven spaces of indent
//          (under the heading's text) for what the step printed, ` !     `
//          for an error. A follower reads from the start (0) and then blocks
//          for new entries (XREAD BLOCK): one mechanism, so a late follower
//          (builds:output, the status page) gets every line it missed and
//          nobody races a pub/sub subscription.
// End      the last entry of every build, written with finishBuild():
//            type=end  status=succeeded|failed  [error=<one line>]  [image=<ref>]
//                      [processes=<JSON: process type → command or null>]
//          (`image`: the image a successful build made, berth/<app>:<id>;
//          `processes`: its process types, see BuildResult).
//          A worker writes it exactly once, also when the build throws, times
//          out or is cancelled; nothing is appended after it. finishBuild
//          itself keeps the first end: a second call (a worker that lost its
//          job to BullMQ's stalled-job check and finished anyway) writes
//          nothing. The stream expires LOG_RETENTION_MS after its last entry
//          (the durable copy of a log is the builder's file under the data
//          dir's build-logs/<app>/<id>.log).
// Turns    Users take turns: a job's BullMQ priority is 1 + the builds of its
//          owner already waiting (a lower number runs first; equal numbers in
//          the order they came), so a user's tenth waiting build does not
//          hold up another user's first (issue 16). Every job has a priority,
//          since BullMQ runs jobs without one before all that have one.
// Quota    Given the store, enqueueBuild() refuses a build of an app whose
//          owner has used up today's build minutes (BERTH_E_QUOTA); the
//          worker adds each build's time to its owner's when it ends.
// History  enqueueBuild() also adds the id to the sorted set
//          `P app:<app>:builds` (score = enqueue time in ms; the newest 100
//          kept; deleted and renamed with the app by the store), which
//          ./history.ts reads for builds:list.
// Cancel   requestCancel() sets `P build:<id>:cancel` = a one-line reason
//          (expires after a day). The worker checks it (cancelRequested())
//          at least every few seconds while the build runs and then stops:
//          deploy nothing, end with status=failed error="cancelled: <reason>".
//          A push asks for this when its client goes away, because then the
//          pushed ref is never updated and the build must not go live.
// Waiter   a push's build (`waited`) goes live only while the push holds
//          `P build:<id>:waiter` (./push-waiter.ts): one that died with the
//          ssh service cancels nothing, and its lease lapses instead.
//
// followBuild() is the reading side: every line to a callback, then the
// result. Given the queue, it also notices a job that ended (or vanished)
// without an `end` entry, so a broken worker cannot hang a push forever.
import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BerthError } from '../../core/errors.ts';
import type { Store } from '../../core/store/index.ts';
import { keyLayout, LUA_LAYOUT } from '../../core/store/keys.ts';
import { LUA_EVENTS } from '../../core/store/lua.ts';
import * as validate from '../../core/validate.ts';
import type {
  BuildLogEntry,
  BuildRequest,
  BuildResult,
  BuildStatus,
  GitBuildRequest,
  ImageBuildRequest,
} from './types.ts';

export type {
  BuildLogEntry,
  BuildRequest,
  BuildResult,
  BuildStatus,
  GitBuildRequest,
  ImageBuildRequest,
} from './types.ts';

export const BUILD_QUEUE = 'builds';
export const BUILD_JOB = 'build';
/** How long a build's log stream and finished job stay in Redis. */
export const LOG_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** Lines kept in a log stream at most (older ones are trimmed; the log file keeps them). */
export const LOG_MAX_LINES = 50_000;
const CANCEL_TTL_MS = 24 * 3600 * 1000;

export type BuildQueue = Queue<BuildRequest, BuildResult, typeof BUILD_JOB>;

/** BullMQ's key prefix for a Berth Redis prefix ("berth:" → "berth:bull"). */
export const queuePrefix = (redisPrefix: string): string => `${redisPrefix}bull`;
export const buildLogKey = (redisPrefix: string, id: string): string =>
  `${redisPrefix}build:${checkBuildId(id)}:log`;
export const buildCancelKey = (redisPrefix: string, id: string): string =>
  `${redisPrefix}build:${checkBuildId(id)}:cancel`;
/** Sorted set of an app's newest builds (score: enqueue time, ms); the store's `builds(app)` key. */
export const appBuildsKey = (redisPrefix: string, app: string): string =>
  keyLayout(redisPrefix).builds(validate.appName(app));
/** Builds kept in an app's history. */
export const HISTORY_MAX = 100;

const BUILD_ID = /^[a-z0-9]{8,40}$/;

function checkBuildId(id: string): string {
  // Ids end up in Redis keys and in messages; they never carry ':' or spaces.
  if (!BUILD_ID.test(id)) throw new Error(`not a build id: ${JSON.stringify(id.slice(0, 60))}`);
  return id;
}

/** A new build id: time-ordered (base-36 milliseconds) then 8 random hex digits. */
export function buildId(now: number = Date.now()): string {
  return `${now.toString(36)}${randomBytes(4).toString('hex')}`;
}

const SHA1 = /^[0-9a-f]{40}$/;

type NewRequest<R> = Omit<R, 'requestedAt'> & { requestedAt?: string };

/** The job data of a request, checked: nothing unchecked reaches git or the Engine from Redis. */
function checkedRequest(
  request: NewRequest<GitBuildRequest> | NewRequest<ImageBuildRequest>,
): BuildRequest {
  const base = {
    app: validate.appName(request.app),
    pusher: validate.userName(request.pusher),
    ...(request.owner === undefined ? {} : { owner: validate.userName(request.owner) }),
    requestedAt: request.requestedAt ?? new Date().toISOString(),
    ...(request.restore ? { restore: true as const } : {}),
  };
  if (request.image !== undefined) return { ...base, image: validate.imageRef(request.image) };
  if (!SHA1.test(request.rev)) throw new Error(`not a commit id: ${request.rev}`);
  if (!request.ref.startsWith('refs/heads/')) throw new Error(`not a branch: ${request.ref}`);
  validate.branchName(request.ref.slice('refs/heads/'.length));
  return {
    ...base,
    rev: request.rev,
    ref: request.ref,
    ...(request.quarantine === undefined ? {} : { quarantine: request.quarantine }),
    ...(request.waited ? { waited: true as const } : {}),
  };
}

/** BullMQ's highest priority number (the last to run). */
const LOWEST_PRIORITY = 2_097_151;

/**
 * The priority of a new build of `owner`'s: 1 + their builds still waiting,
 * so each user's first waiting build comes before anyone's second. Two
 * builds of one user enqueued at the same moment may share a number; they
 * then run in the order they came.
 */
async function turnOf(queue: BuildQueue, owner: string): Promise<number> {
  const waiting = await queue.getJobs(['prioritized', 'waiting']);
  const mine = waiting.filter((job) => (job?.data?.owner ?? job?.data?.pusher) === owner).length;
  return Math.min(mine + 1, LOWEST_PRIORITY);
}

/**
 * Checks the request, adds the job and returns the build id. With `store`
 * (the services pass theirs), the app's owner is looked up for the job, and
 * a build their quota has no minutes left for today is refused with
 * BERTH_E_QUOTA before anything is queued.
 */
export async function enqueueBuild(
  queue: BuildQueue,
  request: NewRequest<GitBuildRequest> | NewRequest<ImageBuildRequest>,
  o: { store?: Store; restoreId?: string } = {},
): Promise<string> {
  const checked = checkedRequest(request);
  if (o.restoreId !== undefined) return enqueueRestore(queue, checked, o.restoreId);
  const connection = queue.opts.connection;
  if (!(connection instanceof Redis))
    throw new Error('a build queue from createBuildQueue() is needed');
  // apps:lock: every way to a new release (push, git:from-image, ps:rebuild) comes here.
  if (
    (await connection.hget(keyLayout(redisPrefixOf(queue)).app(checked.app), 'locked')) === 'true'
  )
    throw new BerthError('BERTH_E_APP_LOCKED', { app: checked.app });
  const owner = o.store
    ? (await o.store.quotas.admitBuild(checked.app)).owner
    : (checked.owner ??
      (await connection.hget(keyLayout(redisPrefixOf(queue)).app(checked.app), 'owner')) ??
      checked.pusher);
  const data: BuildRequest = { ...checked, owner };
  const id = buildId();
  const keep = { age: LOG_RETENTION_MS / 1000, count: 1000 };
  await queue.add(BUILD_JOB, data, {
    jobId: id,
    attempts: 1,
    priority: await turnOf(queue, owner),
    removeOnComplete: keep,
    removeOnFail: keep,
  });
  // The app's build history (builds:list), newest HISTORY_MAX kept.
  const history = appBuildsKey(redisPrefixOf(queue), data.app);
  await connection
    .multi()
    .zadd(history, Date.now(), id)
    .zremrangebyrank(history, 0, -(HISTORY_MAX + 1))
    .exec();
  return id;
}

/**
 * A restore's build (berth restore): the id of the image it makes again.
 * A job or log left by an earlier restore under that id is removed first,
 * since BullMQ ignores a job whose id it has and a log keeps its first end.
 * Not added to the app's history, which the restored state already has.
 */
async function enqueueRestore(queue: BuildQueue, request: BuildRequest, id: string) {
  if (!BUILD_ID_PATTERN.test(id)) throw new Error(`not a build id: ${id}`);
  const connection = queue.opts.connection as Redis;
  const prefix = redisPrefixOf(queue);
  await queue.remove(id).catch(() => 0);
  await connection.del(buildLogKey(prefix, id), buildCancelKey(prefix, id));
  await queue.add(
    BUILD_JOB,
    { ...request, restore: true },
    {
      jobId: id,
      attempts: 1,
      priority: LOWEST_PRIORITY,
      removeOnComplete: { age: LOG_RETENTION_MS / 1000, count: 1000 },
      removeOnFail: { age: LOG_RETENTION_MS / 1000, count: 1000 },
    },
  );
  return id;
}

/** What buildId() makes. */
export const BUILD_ID_PATTERN = /^[a-z0-9]{8,40}$/;

/** The Berth Redis prefix a queue from createBuildQueue() was made for ("berth:bull" → "berth:"). */
export function redisPrefixOf(queue: BuildQueue): string {
  const bull = queue.opts.prefix ?? 'bull';
  if (!bull.endsWith('bull')) throw new Error(`not a Berth build queue (prefix ${bull})`);
  return bull.slice(0, -'bull'.length);
}

/** Splits output into the lines the stream holds: no newline, and only what follows a last \r. */
function splitLines(text: string): string[] {
  const lines = text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n');
  return lines.map((line) => {
    const cr = line.lastIndexOf('\r');
    return cr === -1 ? line : line.slice(cr + 1);
  });
}

/** Worker side: appends output (one or more lines) to the build's log stream. */
export async function appendBuildLog(
  redis: Redis,
  redisPrefix: string,
  id: string,
  text: string,
): Promise<void> {
  const key = buildLogKey(redisPrefix, id);
  const multi = redis.multi();
  for (const line of splitLines(text)) {
    multi.xadd(key, 'MAXLEN', '~', LOG_MAX_LINES, '*', 'type', 'line', 'text', line);
  }
  multi.pexpire(key, LOG_RETENTION_MS);
  await multi.exec();
}

// Appends the end entry unless the stream already ends with one, in one step;
// with an app, a build that failed also raises its deploy.failed event there.
// KEYS[1] the log stream; ARGV[1] the Redis prefix, ARGV[2] the retention
// (ms), ARGV[3] the app ('' for no event), ARGV[4] the event's data (JSON),
// ARGV[5..] the entry's fields.
const FINISH_ONCE = `${LUA_LAYOUT}${LUA_EVENTS}
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if last then
  local f = last[2]
  for i = 1, #f - 1, 2 do
    if f[i] == 'type' and f[i + 1] == 'end' then return 0 end
  end
end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[1], '*', unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then emit_event(ARGV[3], 'deploy.failed', ARGV[4]) end
return 1
`;

/**
 * Worker side: the terminal entry of a build; call it exactly once. Resolves
 * true when this call wrote it, false when the build had ended already (the
 * first end stands).
 */
export async function finishBuild(
  redis: Redis,
  redisPrefix: string,
  id: string,
  result: BuildResult,
  /** The app whose webhooks hear of a failed build (a release's failure is the release's event). */
  notify?: { app: string },
): Promise<boolean> {
  const key = buildLogKey(redisPrefix, id);
  const fields = ['type', 'end', 'status', result.status];
  if (result.error !== undefined) fields.push('error', splitLines(result.error).join(' '));
  if (result.image !== undefined) fields.push('image', splitLines(result.image).join(' '));
  if (result.processes !== undefined) fields.push('processes', JSON.stringify(result.processes));
  if (result.failedAt !== undefined) fields.push('failedAt', result.failedAt);
  const failed = notify && result.status === 'failed' && result.failedAt !== 'release';
  const event = failed
    ? JSON.stringify({
        at: new Date().toISOString(),
        stage: 'build',
        status: 'failed',
        build: id,
        ...(result.error === undefined ? {} : { error: splitLines(result.error).join(' ') }),
      })
    : '';
  const app = failed ? validate.appName(notify.app) : '';
  const wrote = await redis.eval(
    FINISH_ONCE,
    1,
    key,
    redisPrefix,
    LOG_RETENTION_MS,
    app,
    event,
    ...fields,
  );
  return wrote === 1;
}

/**
 * Replaces the app's newest build while it still waits for a builder: takes
 * its job off the queue and ends it failed with `error`, which its follower
 * (the push that asked for it) reports. Resolves the build's id, or undefined
 * when the newest build runs, has ended, or there is none: a job a worker
 * has taken is locked, and removing it does nothing.
 */
export async function supersedeQueuedBuild(
  queue: BuildQueue,
  app: string,
  error: string,
): Promise<string | undefined> {
  const connection = queue.opts.connection;
  if (!(connection instanceof Redis))
    throw new Error('a build queue from createBuildQueue() is needed');
  const prefix = redisPrefixOf(queue);
  const [id] = await connection.zrevrange(appBuildsKey(prefix, app), 0, 0);
  if (id === undefined) return undefined;
  const state = await queue.getJobState(id);
  if (state !== 'waiting' && state !== 'prioritized' && state !== 'delayed') return undefined;
  if ((await queue.remove(id)) !== 1) return undefined;
  await finishBuild(connection, prefix, id, { status: 'failed', error });
  return id;
}

/** Asks the worker to stop the build (see "Cancel" above). */
export async function requestCancel(
  redis: Redis,
  redisPrefix: string,
  id: string,
  reason: string,
): Promise<void> {
  await redis.set(
    buildCancelKey(redisPrefix, id),
    splitLines(reason).join(' '),
    'PX',
    CANCEL_TTL_MS,
  );
}

/** Worker side: the reason a cancel was asked for, or undefined. */
export async function cancelRequested(
  redis: Redis,
  redisPrefix: string,
  id: string,
): Promise<string | undefined> {
  return (await redis.get(buildCancelKey(redisPrefix, id))) ?? undefined;
}

/** Parses one stream entry's field list; undefined for an entry this version does not know. */
export function parseLogEntry(fields: readonly string[]): BuildLogEntry | undefined {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2)
    f.set(fields[i] as string, fields[i + 1] as string);
  if (f.get('type') === 'line') return { type: 'line', text: f.get('text') ?? '' };
  if (f.get('type') === 'end') {
    const status: BuildStatus = f.get('status') === 'succeeded' ? 'succeeded' : 'failed';
    const error = f.get('error');
    const image = f.get('image');
    const processes = parseProcesses(f.get('processes'));
    return {
      type: 'end',
      status,
      ...(error === undefined ? {} : { error }),
      ...(f.get('failedAt') === 'release' ? { failedAt: 'release' as const } : {}),
      ...(image === undefined ? {} : { image }),
      ...(processes === undefined ? {} : { processes }),
    };
  }
  return undefined;
}

/** The end entry's process types; undefined when absent or not the expected shape. */
function parseProcesses(text: string | undefined): Record<string, string | null> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const entries = Object.entries(value as Record<string, unknown>);
    if (!entries.every(([, v]) => v === null || typeof v === 'string')) return undefined;
    return Object.fromEntries(entries) as Record<string, string | null>;
  } catch {
    return undefined;
  }
}

// Keeps tabs and SGR colour sequences (ESC [ digits ; m); every other control
// character (cursor movement, OSC titles, bells) is dropped before a line
// reaches someone's terminal.
const CONTROL = /\x1b\[[0-9;]*m|[\x00-\x08\x0a-\x1f\x7f]/g;

/** A log line made safe to print: no control characters except tab and colours. */
export const printable = (text: string): string =>
  text.replace(CONTROL, (m) => (m.length > 1 ? m : ''));

export interface FollowOptions {
  /** With the queue, a job that ends or vanishes without an `end` entry ends the follow. */
  queue?: BuildQueue;
  /** How long one XREAD blocks (ms); default 1000. */
  blockMs?: number;
  /** How long a finished job may stay without an `end` entry (ms); default 3000. */
  stallMs?: number;
  /** CLIENT SETNAME of the follower's own connection, so an operator (and a test) can see it. */
  connectionName?: string;
  /** With the queue: called at each idle read while the build still waits for a builder. */
  onQueued?: (place: QueuePlace) => void;
}

/** Where a waiting build stands: the builds that run, and those that run before it. */
export interface QueuePlace {
  running: number;
  ahead: number;
}

/**
 * Where build `id` stands in the queue, or undefined once it runs (or is
 * gone). BullMQ takes the plain waiting list before the prioritized set, and
 * the set in rank order (priority, then arrival).
 */
export async function queuePlace(queue: BuildQueue, id: string): Promise<QueuePlace | undefined> {
  const [prioritized, waiting, running] = await Promise.all([
    queue.getRanges(['prioritized'], 0, -1, true),
    queue.getRanges(['waiting'], 0, -1, true),
    queue.getActiveCount(),
  ]);
  const inWaiting = waiting.indexOf(id);
  if (inWaiting >= 0) return { running, ahead: inWaiting };
  const inPrioritized = prioritized.indexOf(id);
  if (inPrioritized >= 0) return { running, ahead: waiting.length + inPrioritized };
  return undefined;
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/**
 * An onQueued that tells the user, Heroku style, what their build waits for
 * and how long they may wait: once at the first idle read, then when its
 * place changes (at most every `everyMs`).
 */
export function queuedNotice(
  onLine: (line: string) => void,
  giveUpMs: number,
  everyMs = 15_000,
): (place: QueuePlace) => void {
  let said: string | undefined;
  let saidAt = 0;
  return ({ running, ahead }) => {
    const where = `${plural(running, 'build')} running, ${ahead} waiting before this one`;
    if (said === undefined) {
      onLine(
        `-----> Waiting for a free builder (${where}); it gives up after ${Math.round(giveUpMs / 60_000)} min`,
      );
    } else if (where !== said && Date.now() - saidAt >= everyMs) {
      onLine(`       Still waiting: ${where}`);
    } else return;
    said = where;
    saidAt = Date.now();
  };
}

/**
 * Reads the build's log from its first line: every line (printable()) to
 * `onLine`, as it arrives, until the `end` entry, whose result it returns.
 * Uses a connection of its own (blocking reads), closed at the end. On abort
 * it rejects with the signal's reason.
 */
export async function followBuild(
  redis: Redis,
  redisPrefix: string,
  id: string,
  onLine: (line: string) => void,
  signal: AbortSignal,
  options: FollowOptions = {},
): Promise<BuildResult> {
  const key = buildLogKey(redisPrefix, id);
  const blockMs = options.blockMs ?? 1000;
  const stallMs = options.stallMs ?? 3000;
  signal.throwIfAborted();
  const reader = redis.duplicate(
    options.connectionName === undefined ? {} : { connectionName: options.connectionName },
  );
  reader.on('error', () => {}); // Commands report their own errors.
  const stop = () => reader.disconnect();
  signal.addEventListener('abort', stop, { once: true });
  let last = '0-0';
  let endedAt: number | undefined;
  let endedState = '';
  try {
    for (;;) {
      const reply = (await reader.xread('COUNT', 500, 'BLOCK', blockMs, 'STREAMS', key, last)) as
        | [string, [string, string[]][]][]
        | null;
      for (const [, entries] of reply ?? []) {
        for (const [entryId, fields] of entries) {
          last = entryId;
          const entry = parseLogEntry(fields);
          if (entry?.type === 'line') onLine(printable(entry.text));
          else if (entry?.type === 'end') {
            return {
              status: entry.status,
              ...(entry.error === undefined ? {} : { error: printable(entry.error) }),
              ...(entry.image === undefined ? {} : { image: printable(entry.image) }),
              ...(entry.processes === undefined ? {} : { processes: entry.processes }),
              ...(entry.failedAt === undefined ? {} : { failedAt: entry.failedAt }),
            };
          }
        }
      }
      if (reply !== null || options.queue === undefined) continue;
      // Idle: is there still a job that will write the end entry?
      const state = await options.queue.getJobState(id);
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') {
        endedAt = undefined;
        if (options.onQueued !== undefined && (state === 'waiting' || state === 'prioritized')) {
          const place = await queuePlace(options.queue, id);
          if (place !== undefined) options.onQueued(place);
        }
        continue;
      }
      endedAt ??= Date.now();
      endedState = state;
      if (Date.now() - endedAt < stallMs) continue;
      const job = state === 'failed' ? await options.queue.getJob(id) : undefined;
      const why = job?.failedReason ? `: ${printable(job.failedReason)}` : '';
      return {
        status: 'failed',
        error: `the builder stopped without reporting a result (job ${endedState}${why})`,
      };
    }
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    throw e;
  } finally {
    signal.removeEventListener('abort', stop);
    reader.disconnect();
  }
}
