// Structured logs: one pino logger per process, one child per component, so
// every line says which part of Berth wrote it ({"component":"builder",...}).
import { type Logger, pino } from 'pino';
import type { LogLevel } from './config.ts';

export type { Logger };

export interface LogOptions {
  level: LogLevel;
  /** Where the JSON lines go; default stdout. */
  destination?: NodeJS.WritableStream;
}

let stdoutGuarded = false;

/**
 * Logs go to process.stdout itself rather than pino's default synchronous
 * writer: when the reader of a service's stdout (the supervisor) is gone,
 * the synchronous writer retries the dead pipe in a loop that blocks the
 * event loop, so the service could never finish stopping. process.stdout
 * reports EPIPE as an error event instead, which is ignored here: there is
 * nobody left to read the line.
 */
function guardedStdout(): NodeJS.WritableStream {
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
