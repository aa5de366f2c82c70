// An app's builds as `builds:list` and `builds:info` show them. Three places
// hold a build, each for a different time (see the contract in ./queue.ts):
//   - the app's history `P app:<app>:builds` (ids, newest 100, kept with the app);
//   - the BullMQ job (the request and its state; removed after 7 days or
//     when 1000 newer jobs have ended);
//   - the log stream's `end` entry (expires 7 days after the build);
// and, after those are gone, the durable log file, whose last line says how
// the build ended. A build none of them knows any more is `unknown`.
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { BerthError } from '../../core/errors.ts';
import type { App } from '../../core/store/index.ts';
import { buildLogFile, ERROR } from './build-log.ts';
import { appBuildsKey, type BuildQueue, buildLogKey, parseLogEntry, printable } from './queue.ts';

export type BuildState = 'queued' | 'running' | 'succeeded' | 'failed' | 'unknown';

export interface BuildInfo {
  id: string;
  app: string;
  /** Absent once the job is gone. */
  rev?: string;
  ref?: string;
  pusher?: string;
  /** ISO 8601: when the build was asked for (the enqueue time once the job is gone). */
  requestedAt: string;
  status: BuildState;
  error?: string;
  image?: string;
  /** 1 = the next build to start, when queued. */
  position?: number;
}

export interface HistoryOptions {
  /** `<data dir>/build-logs`, for builds whose job and stream are gone. */
  buildLogs?: string;
}

const BUILD_ID = /^[a-z0-9]{8,40}$/;
const LAST_LINE_BYTES = 64 * 1024;

type End = { status: 'succeeded' | 'failed'; error?: string; image?: string };

export type { End as BuildEnd };

async function streamEnd(redis: Redis, prefix: string, id: string): Promise<End | undefined> {
  const last = (await redis.xrevrange(buildLogKey(prefix, id), '+', '-', 'COUNT', 1))[0];
  const entry = last ? parseLogEntry(last[1]) : undefined;
  if (entry?.type !== 'end') return undefined;
  return {
    status: entry.status,
    ...(entry.error === undefined ? {} : { error: printable(entry.error) }),
    ...(entry.image === undefined ? {} : { image: printable(entry.image) }),
  };
}

/** How the durable log file ends (worker.ts closes it with one of two lines). */
async function fileEnd(buildLogs: string, app: string, id: string): Promise<End | undefined> {
  let text: string;
  try {
    const buf = await readFile(buildLogFile(buildLogs, app, id));
    text = buf.subarray(Math.max(0, buf.length - LAST_LINE_BYTES)).toString('utf8');
  } catch {
    return undefined;
  }
  const lines = text.replace(/\n$/, '').split('\n');
  const last = lines[lines.length - 1] ?? '';
  if (last === '-----> Build succeeded') return { status: 'succeeded' };
  if (last.startsWith(ERROR))
    return { status: 'failed', error: printable(last.slice(ERROR.length)) };
  return undefined;
}

async function describeBuild(
  redis: Redis,
  prefix: string,
  queue: BuildQueue,
  app: string,
  id: string,
  score: number,
  waiting: () => Promise<string[]>,
  options: HistoryOptions,
): Promise<BuildInfo> {
  const job = await queue.getJob(id);
  const data = job?.data;
  const info: BuildInfo = {
    id,
    app,
    ...(data ? { rev: data.rev, ref: data.ref, pusher: data.pusher } : {}),
    requestedAt: data?.requestedAt ?? new Date(score).toISOString(),
    status: 'unknown',
  };
  const end = await streamEnd(redis, prefix, id);
  if (end) return { ...info, ...end };
  if (job) {
    const state = await job.getState();
    if (state === 'active') return { ...info, status: 'running' };
    if (state === 'waiting' || state === 'prioritized' || state === 'delayed') {
      const index = (await waiting()).indexOf(id);
      return { ...info, status: 'queued', ...(index === -1 ? {} : { position: index + 1 }) };
    }
    if (state === 'completed' && job.returnvalue) {
      const r = job.returnvalue;
      return {
        ...info,
        status: r.status,
        ...(r.error === undefined ? {} : { error: printable(r.error) }),
        ...(r.image === undefined ? {} : { image: printable(r.image) }),
      };
    }
    if (state === 'failed') {
      return { ...info, status: 'failed', error: printable(job.failedReason ?? 'the job failed') };
    }
  }
  const fromFile = options.buildLogs ? await fileEnd(options.buildLogs, app, id) : undefined;
  return fromFile ? { ...info, ...fromFile } : info;
}

/** Ids of waiting jobs, the next to start first (looked up once per listing). */
function waitingIds(queue: BuildQueue): () => Promise<string[]> {
  let ids: Promise<string[]> | undefined;
  return () => {
    ids ??= queue.getRanges(['waiting', 'prioritized'], 0, -1, true);
    return ids;
  };
}

/** The app's builds, newest first (at most `limit`, default 20). */
export async function listBuilds(
  redis: Redis,
  prefix: string,
  queue: BuildQueue,
  app: string,
  { limit = 20, ...options }: HistoryOptions & { limit?: number } = {},
): Promise<BuildInfo[]> {
  const flat = await redis.zrevrange(appBuildsKey(prefix, app), 0, limit - 1, 'WITHSCORES');
  const waiting = waitingIds(queue);
  const builds: Promise<BuildInfo>[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const id = flat[i] as string;
    builds.push(
      describeBuild(redis, prefix, queue, app, id, Number(flat[i + 1]), waiting, options),
    );
  }
  return Promise.all(builds);
}

/**
 * One build of the app; BERTH_E_BUILD_NOT_FOUND unless the app has it. A
 * build asked for before the app was created was an earlier app's of the
 * same name (destroyed, or renamed away): it is not this one's to show.
 */
export async function buildInfo(
  redis: Redis,
  prefix: string,
  queue: BuildQueue,
  of: Pick<App, 'name' | 'createdAt'>,
  id: string,
  options: HistoryOptions = {},
): Promise<BuildInfo> {
  const app = of.name;
  const notFound = () => new BerthError('BERTH_E_BUILD_NOT_FOUND', { app, build: id.slice(0, 40) });
  if (!BUILD_ID.test(id)) throw notFound();
  const score = await redis.zscore(appBuildsKey(prefix, app), id);
  if (score === null) {
    // Trimmed from the history but still a job of this app.
    const job = await queue.getJob(id);
    if (job?.data.app !== app || job.timestamp < Date.parse(of.createdAt)) throw notFound();
    return describeBuild(redis, prefix, queue, app, id, job.timestamp, waitingIds(queue), options);
  }
  return describeBuild(redis, prefix, queue, app, id, Number(score), waitingIds(queue), options);
}

/** The newest build of the app, or undefined when it has none. */
export async function latestBuild(
  redis: Redis,
  prefix: string,
  queue: BuildQueue,
  app: string,
  options: HistoryOptions = {},
): Promise<BuildInfo | undefined> {
  return (await listBuilds(redis, prefix, queue, app, { ...options, limit: 1 }))[0];
}

/** A build's log as it stands: its lines (printable()) and, once it has ended, the result. */
export interface BuildLogSoFar {
  lines: string[];
  end?: End;
  /** Where the lines came from: the live stream, the durable file, or nowhere any more. */
  from: 'stream' | 'file' | 'gone';
}

/**
 * The lines written so far (the stream's, or the durable file's once the
 * stream has expired), for a page that shows a build as it was at load and
 * then follows it live from line `lines.length`.
 */
export async function buildLogSoFar(
  redis: Redis,
  prefix: string,
  app: string,
  id: string,
  options: HistoryOptions = {},
): Promise<BuildLogSoFar> {
  const entries = await redis.xrange(buildLogKey(prefix, id), '-', '+');
  if (entries.length > 0) {
    const lines: string[] = [];
    let end: End | undefined;
    for (const [, fields] of entries) {
      const entry = parseLogEntry(fields);
      if (entry?.type === 'line') lines.push(printable(entry.text));
      else if (entry?.type === 'end') {
        end = {
          status: entry.status,
          ...(entry.error === undefined ? {} : { error: printable(entry.error) }),
          ...(entry.image === undefined ? {} : { image: printable(entry.image) }),
        };
      }
    }
    return { lines, from: 'stream', ...(end ? { end } : {}) };
  }
  if (options.buildLogs) {
    try {
      const text = await readFile(buildLogFile(options.buildLogs, app, id), 'utf8');
      const lines = text.replace(/\n$/, '').split('\n').map(printable);
      const end = await fileEnd(options.buildLogs, app, id);
      // The file's last line is the result line the worker closed it with.
      if (end) lines.pop();
      return { lines, from: 'file', ...(end ? { end } : {}) };
    } catch {}
  }
  return { lines: [], from: 'gone' };
}
