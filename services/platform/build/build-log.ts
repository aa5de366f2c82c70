// One build's output, written twice: to the build's Redis stream (what a
// `git push` and `builds:output` follow live, see ./queue.ts) and to
// `<data dir>/build-logs/<app>/<build id>.log`, the durable copy that outlives
// the stream. Lines keep their order; a burst (a Docker step printing a
// thousand lines) goes out in a few batched writes rather than one per line.
// A failing Redis does not fail the build: the file still gets every line.

import type { FileHandle } from 'node:fs/promises';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
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

export class BuildLog {
  private pending: string[] = [];
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

  /** One or more lines as they are (several when `text` has newlines). */
  write(text: string): void {
    if (this.closed) return;
    this.pending.push(...text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n'));
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

/** Turns chunks of output into whole lines (a chunk may end mid-line). */
export class LineSplitter {
  private rest = '';

  /** The complete lines in `chunk` together with what came before it. */
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines;
  }

  /** What is left without a final newline (at most one line). */
  end(): string[] {
    const rest = this.rest;
    this.rest = '';
    return rest === '' ? [] : [rest];
  }
}
