// An app's output across its containers and across deploys. A running
// container's lines come from the Engine (json-file, rotated); when Berth
// removes a container, its last lines are kept in a file of their own under
// `<data dir>/logs/apps/<app>/`, the newest KEEP_FILES per app, so `logs`
// still shows what a replaced or crashed release said. Every line carries the
// Engine's timestamp, so lines from all sources merge in time order.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { streamLines } from '../../core/docker-exec.ts';
import type { DataPaths } from '../../core/paths.ts';
import * as validate from '../../core/validate.ts';
import type { Instance } from './scheduler.ts';

/** Archived containers kept per app, and lines kept of each. */
export const KEEP_FILES = 50;
export const KEEP_LINES = 5000;

export interface LogLine {
  /** ISO 8601 with the Engine's nanoseconds. */
  time: string;
  /** web.1 */
  source: string;
  release: number;
  text: string;
}

/** The archive of every app's removed containers: `<data dir>/logs/apps`. */
export const logArchiveOf = (paths: Pick<DataPaths, 'logs'>) => path.join(paths.logs, 'apps');

export const appLogDir = (archive: string, app: string) =>
  path.join(archive, validate.appName(app));

/** The Engine's multiplexed log stream (8-byte frame headers) as text. */
export function demuxLogs(raw: Buffer): string {
  const chunks: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const size = raw.readUInt32BE(offset + 4);
    chunks.push(raw.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** "2026-…Z text" lines → LogLines of `instance`. */
function parse(text: string, source: string, release: number): LogLine[] {
  const lines: LogLine[] = [];
  for (const raw of text.split('\n')) {
    const space = raw.indexOf(' ');
    if (space <= 0) continue;
    lines.push({ time: raw.slice(0, space), source, release, text: raw.slice(space + 1) });
  }
  return lines;
}

const sourceOf = (i: Pick<Instance, 'type' | 'instance'>) => `${i.type}.${i.instance}`;

/** The container's lines with timestamps, the last `tail`. */
export async function containerLines(
  docker: Docker,
  i: Instance,
  tail: number,
): Promise<LogLine[]> {
  const raw = (await docker.getContainer(i.id).logs({
    stdout: true,
    stderr: true,
    timestamps: true,
    tail,
    follow: false,
  })) as unknown as Buffer;
  return parse(demuxLogs(raw), sourceOf(i), i.release);
}

/** Keeps a container's last lines before it is removed; drops the oldest files beyond KEEP_FILES. */
export async function archiveContainer(
  docker: Docker,
  archive: string,
  i: Instance,
): Promise<void> {
  const dir = appLogDir(archive, i.app);
  const lines = await containerLines(docker, i, KEEP_LINES);
  if (lines.length === 0) return;
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const first = lines[0]?.time ?? new Date().toISOString();
  const file = path.join(dir, `${first.replace(/[:.]/g, '-')}.${sourceOf(i)}.v${i.release}.log`);
  await writeFile(file, lines.map((l) => `${l.time} ${l.text}\n`).join(''), { mode: 0o640 });
  const files = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort();
  for (const old of files.slice(0, Math.max(0, files.length - KEEP_FILES))) {
    await rm(path.join(dir, old), { force: true });
  }
}

/** The archived lines of an app, from the files of its removed containers. */
export async function archivedLines(archive: string, app: string): Promise<LogLine[]> {
  const dir = appLogDir(archive, app);
  const files = await readdir(dir).catch(() => [] as string[]);
  const lines: LogLine[] = [];
  for (const f of files) {
    const m = /\.([a-z][a-z0-9_-]*\.\d+)\.v(\d+)\.log$/.exec(f);
    if (!m) continue;
    lines.push(...parse(await readFile(path.join(dir, f), 'utf8'), m[1] as string, Number(m[2])));
  }
  return lines;
}

/** The last `count` lines of the app (of one process type), archived and live, in time order. */
export async function appLogs(
  docker: Docker,
  archive: string,
  app: string,
  instances: Instance[],
  o: { count: number; type?: string },
): Promise<LogLine[]> {
  const live = await Promise.all(
    instances
      .filter((i) => o.type === undefined || i.type === o.type)
      .map((i) => containerLines(docker, i, o.count).catch(() => [])),
  );
  const all = [...(await archivedLines(archive, app)), ...live.flat()].filter(
    (l) => o.type === undefined || l.source.startsWith(`${o.type}.`),
  );
  // Identical timestamps are rare; the sort is stable for them.
  all.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  return all.slice(-o.count);
}

/** A line as `logs` prints it, Heroku style. */
export const formatLine = (l: LogLine) => `${l.time} app[${l.source}]: ${l.text}`;

/**
 * `logs -t` and the web's live tail: every running instance's (of one type)
 * new lines since `since` (Unix seconds), as they are written, until the
 * signal aborts or every followed container stops. A replaced release's new
 * instances are not picked up: the caller asks again.
 *
 * `after`: the time of the last line the caller has shown already (the last
 * of appLogs'), whose lines and older ones are skipped. The Engine's `since`
 * counts whole seconds, so without it the lines of the second the follow
 * starts in came twice: once in the recent lines, once followed (seen in a
 * browser's tail). A line older than the last one shown either was shown or
 * was older than what the caller asked for.
 */
export async function followAppLogs(
  docker: Docker,
  instances: Instance[],
  o: { since: number; after?: string | undefined; type?: string; signal: AbortSignal },
  onLine: (line: LogLine) => void,
): Promise<void> {
  const follows = instances
    .filter((i) => i.state === 'running' && (o.type === undefined || i.type === o.type))
    .map(async (i) => {
      if (o.signal.aborted) return;
      const stream = (await docker.getContainer(i.id).logs({
        stdout: true,
        stderr: true,
        timestamps: true,
        follow: true,
        since: o.since,
      })) as NodeJS.ReadableStream & { destroy(): void };
      const stop = () => stream.destroy();
      if (o.signal.aborted) stop();
      o.signal.addEventListener('abort', stop, { once: true });
      // A stream the caller's going away destroyed ends the follow, not the caller.
      await streamLines(docker.modem, stream, (raw) => {
        const space = raw.indexOf(' ');
        // The Engine's timestamps are fixed-width RFC 3339 with nanoseconds
        // (as appLogs' sort relies on too), so strings compare as times.
        if (o.after !== undefined && raw.slice(0, space) <= o.after) return;
        onLine({
          time: raw.slice(0, space),
          source: sourceOf(i),
          release: i.release,
          text: raw.slice(space + 1),
        });
      })
        .catch(() => {})
        .finally(() => o.signal.removeEventListener('abort', stop));
    });
  await Promise.all(follows);
}
