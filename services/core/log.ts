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

export function createLogger(component: string, options: LogOptions): Logger {
  const base = { component };
  return options.destination === undefined
    ? pino({ level: options.level, base })
    : pino({ level: options.level, base }, options.destination);
}
