// One build's output, written twice: to the build's Redis stream (what a
// `git push` and `builds:output` follow live, see ./queue.ts) and to
// `<data dir>/build-logs/<app>/<build id>.log`, the durable copy that outlives
// the stream. Lines keep their order; a burst (a Docker step printing a
// thousand lines) goes out in a few batched writes rather than one per line.
// A failing Redis does not fail the build: the file still gets every line.
//
// Both are bounded, since a build's output is the app's to choose: lines are
// cut at MAX_LINE (../../core/lines.ts), and past MAX_BUILD_OUTPUT a build's
// lines are no longer kept, but for its last TAIL_LINES, which are written
// when it ends (where the error that ended it usually is). The log says so.

import type { FileHandle } from 'node:fs/promises';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { cutMark, MAX_LINE } from '../../core/lines.ts';
import * as validate from '../../core/validate.ts';
import { appendBuildLog } from './queue.ts';

/** Heroku's prefixes: a step heading, what a step printed, an error. */
export const HEADING = '-----> ';
export const INDENT = '       ';
export const ERROR = ' !     ';

/** `<build-logs dir>/<app>/<build id>.log` */
export function buildLogFile(buildLogs: string, app: string, id: string): string {
  return path.join(buildLogs, validate.appName(app), `${id}.log`);
}

export interface BuildLogTarget {
  redis: Redis;
  redisPrefix: string;
  buildId: string;
  /** The durable copy (buildLogFile()). */
  file: string;
  /** Told once about the first failed write to Redis or to the file. */
  onWriteError?: (error: unknown) => void;
}

/** The most of one build's output kept, in characters (lines and their newlines): 10 MB. */
export const MAX_BUILD_OUTPUT = 10 * 1024 * 1024;
/** The last lines of an output over MAX_BUILD_OUTPUT, written when the build ends. */
export const TAIL_LINES = 100;

export class BuildLog {
  private pending: string[] = [];
  /** Characters kept so far. */
  private kept = 0;
  /** Past MAX_BUILD_OUTPUT: the last TAIL_LINES lines, and how many went unkept. */
  private tail: string[] | undefined;
  private unkept = 0;
  private draining: Promise<void> | undefined;
  private closed = false;
  private reported = false;

  private constructor(
    private readonly target: BuildLogTarget,
    private readonly file: FileHandle,
  ) {}

  /** Opens (appends to) the log file; the stream needs no opening. */
  static async open(target: BuildLogTarget): Promise<BuildLog> {
    await mkdir(path.dirname(target.file), { recursive: true, mode: 0o750 });
    return new BuildLog(target, await open(target.file, 'a', 0o640));
  }

  /** One or more lines as they are (several when `text` has newlines), within the bounds. */
  write(text: string): void {
    if (this.closed) return;
    for (const whole of text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n')) {
      const line =
        whole.length > MAX_LINE
          ? whole.slice(0, MAX_LINE) + cutMark(whole.length - MAX_LINE)
          : whole;
      if (this.tail === undefined && this.kept + line.length + 1 <= MAX_BUILD_OUTPUT) {
        this.kept += line.length + 1;
        this.pending.push(line);
        continue;
      }
      if (this.tail === undefined) {
        this.tail = [];
        this.pending.push(
          `${ERROR}The build's output passed ${MAX_BUILD_OUTPUT / 1024 ** 2} MB: the rest is not kept, but for its last ${TAIL_LINES} lines at the end. The build goes on.`,
        );
      }
      this.tail.push(line);
      if (this.tail.length > TAIL_LINES) {
        this.tail.shift();
        this.unkept++;
      }
    }
    this.draining ??= this.drain();
  }

  /** `-----> text` */
  heading(text: string): void {
    this.write(`${HEADING}${text}`);
  }

  /** Each line of `text` indented under the current heading. */
  detail(text: string): void {
    const lines = text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n');
    this.write(lines.map((l) => `${INDENT}${l}`).join('\n'));
  }

  /** Resolves when every line written so far is in Redis and in the file. */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /**
   * Flushes, then writes `lastLine` to the file only (the stream's own end
   * entry says the same to followers) and closes it. Later writes are dropped.
   */
  async close(lastLine: string): Promise<void> {
    if (this.tail !== undefined && !this.closed) {
      if (this.unkept > 0) this.pending.push(`${ERROR}... ${this.unkept} lines not kept ...`);
      this.pending.push(...this.tail);
      this.tail = [];
      this.draining ??= this.drain();
    }
    await this.flush();
    this.closed = true;
    try {
      await this.file.appendFile(`${lastLine}\n`);
    } catch (e) {
      this.report(e);
    } finally {
      await this.file.close().catch(() => {});
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, 500);
        const text = batch.join('\n');
        const [toRedis, toFile] = await Promise.allSettled([
          appendBuildLog(this.target.redis, this.target.redisPrefix, this.target.buildId, text),
          this.file.appendFile(`${text}\n`),
        ]);
        if (toRedis.status === 'rejected') this.report(toRedis.reason);
        if (toFile.status === 'rejected') this.report(toFile.reason);
      }
    } finally {
      this.draining = undefined;
    }
  }

  private report(e: unknown) {
    if (this.reported) return;
    this.reported = true;
    this.target.onWriteError?.(e);
  }
}
