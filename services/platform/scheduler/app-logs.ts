// An app's output across its instances and across deploys. A running
// instance's lines come from its scheduler (for docker-local, the Engine's
// json-file logs, rotated); when an instance is removed, its last lines are
// kept in a file of their own under `<data dir>/logs/apps/<app>/`, the newest
// KEEP_FILES per app, so `logs` still shows what a replaced or crashed release
// said. Every line carries the scheduler's timestamp, so lines from all
// sources merge in time order.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DataPaths } from '../../core/paths.ts';
import * as validate from '../../core/validate.ts';
import type { Instance, LogLine, Scheduler } from './scheduler.ts';

export type { LogLine };

/** Archived containers kept per app, and lines kept of each. */
export const KEEP_FILES = 50;
export const KEEP_LINES = 5000;

/** The archive of every app's removed containers: `<data dir>/logs/apps`. */
export const logArchiveOf = (paths: Pick<DataPaths, 'logs'>) => path.join(paths.logs, 'apps');

export const appLogDir = (archive: string, app: string) =>
  path.join(archive, validate.appName(app));

/** "2026-…Z text" lines → LogLines of `instance`. */
export function parseTimedLines(text: string, source: string, release: number): LogLine[] {
  const lines: LogLine[] = [];
  for (const raw of text.split('\n')) {
    const space = raw.indexOf(' ');
    if (space <= 0) continue;
    lines.push({ time: raw.slice(0, space), source, release, text: raw.slice(space + 1) });
  }
  return lines;
}

/** How an instance is named in its lines: web.1. */
export const sourceOf = (i: Pick<Instance, 'type' | 'instance'>) => `${i.type}.${i.instance}`;

/** Keeps an instance's last lines before it is removed; drops the oldest files beyond KEEP_FILES. */
export async function archiveInstance(
  scheduler: Pick<Scheduler, 'logLines'>,
  archive: string,
  i: Instance,
): Promise<void> {
  const dir = appLogDir(archive, i.app);
  const lines = await scheduler.logLines(i, KEEP_LINES);
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
    lines.push(
      ...parseTimedLines(await readFile(path.join(dir, f), 'utf8'), m[1] as string, Number(m[2])),
    );
  }
  return lines;
}

/** The last `count` lines of the app (of one process type), archived and live, in time order. */
export async function appLogs(
  scheduler: Pick<Scheduler, 'logLines'>,
  archive: string,
  app: string,
  instances: Instance[],
  o: { count: number; type?: string },
): Promise<LogLine[]> {
  const live = await Promise.all(
    instances
      .filter((i) => o.type === undefined || i.type === o.type)
      .map((i) => scheduler.logLines(i, o.count).catch(() => [])),
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
  scheduler: Pick<Scheduler, 'followLogs'>,
  instances: Instance[],
  o: { since: number; after?: string | undefined; type?: string; signal: AbortSignal },
  onLine: (line: LogLine) => void,
): Promise<void> {
  await Promise.all(
    instances
      .filter((i) => i.state === 'running' && (o.type === undefined || i.type === o.type))
      .map((i) =>
        scheduler.followLogs(i, { since: o.since, signal: o.signal }, (line) => {
          // Times are fixed-width RFC 3339 with nanoseconds (appLogs' sort
          // relies on it too), so strings compare as times.
          if (o.after !== undefined && line.time <= o.after) return;
          onLine(line);
        }),
      ),
  );
}
