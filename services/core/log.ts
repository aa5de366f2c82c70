// Structured logs: one pino logger per process, one child per component, so
// every line says which part of Berth wrote it ({"component":"builder",...}).
import { fstatSync, writeSync } from 'node:fs';
import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from './config.ts';

export type { Logger };

export interface LogOptions {
  level: LogLevel;
  /** Where the JSON lines go; default stdout. */
  destination?: NodeJS.WritableStream;
}

let stdoutGuarded = false;
let stdoutFile: DestinationStream | undefined;

/**
 * Logs go to process.stdout itself rather than pino's default synchronous
 * writer: when the reader of a service's stdout (the supervisor) is gone,
 * the synchronous writer retries the dead pipe in a loop that blocks the
 * event loop, so the service could never finish stopping. process.stdout
 * reports EPIPE as an error event instead, which is ignored here: there is
 * nobody left to read the line.
 */
function guardedStdout(): NodeJS.WritableStream | DestinationStream {
  if (stdoutIsFile()) {
    stdoutFile ??= fileWriter(1);
    return stdoutFile;
  }
  if (!stdoutGuarded) {
    stdoutGuarded = true;
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  }
  return process.stdout;
}

export function createLogger(component: string, options: LogOptions): Logger {
  return pino(
    { level: options.level, base: { component } },
    options.destination ?? guardedStdout(),
  );
}

function stdoutIsFile(): boolean {
  try {
    return fstatSync(1).isFile();
  } catch {
    return false;
  }
}

/**
 * Log lines to a file descriptor (the router's stdout is its log file, under
 * the data directory): a line that cannot be written (ENOSPC on a full disk,
 * any error) is dropped and counted, never thrown, so a full disk does not
 * crash the service, which its supervisor would restart into the same full
 * disk. process.stdout cannot do this: after one failed write it is
 * destroyed, and the logs would not come back with the space. The next line
 * that goes through is preceded by one saying how many were lost.
 */
export function fileWriter(fd: number): DestinationStream {
  let dropped = 0;
  let reason = '';
  /** A line was cut off part-way: the next write starts on a line of its own. */
  let torn = false;
  const writeAll = (text: string) => {
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length; ) {
      const n = writeSync(fd, bytes, at, bytes.length - at);
      at += n;
      torn = at < bytes.length;
    }
  };
  return {
    write(line: string) {
      try {
        if (torn) writeAll('\n');
        if (dropped > 0) {
          const note = {
            level: 40,
            time: Date.now(),
            component: 'log',
            msg: `${dropped} log lines could not be written (${reason}) and are lost`,
          };
          writeAll(`${JSON.stringify(note)}\n`);
          dropped = 0;
        }
        writeAll(line);
      } catch (e) {
        dropped++;
        reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      }
    },
  };
}
