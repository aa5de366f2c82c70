// The life of one Berth service process: read the configuration once, start,
// tell the supervisor it is ready (and where it listens), and on SIGTERM stop
// cleanly within the supervisor's grace period. Every services/<name>/main.ts
// is a call to runService.

import { type Config, ConfigError, loadConfig } from './config.ts';
import { errorLine } from './errors.ts';
import { collectStartGarbage } from './idle-gc.ts';
import { createLogger, type Logger } from './log.ts';
import { systemSearchPath } from './programs.ts';

/** The longest a service may take to stop; the supervisor's own grace is longer (35 s). */
const STOP_LIMIT_MS = 30_000;

export interface Endpoint {
  /** What a person reaches there, e.g. "status page". */
  name: string;
  url: string;
}

export interface RunningService {
  endpoints: Endpoint[];
  /** Finish in-flight work (or hand it back to the queue) and release resources. */
  stop(): Promise<void>;
}

export interface ServiceContext {
  config: Config;
  log: Logger;
  /** PATH plus the system directories, to find git, dockerd and the like. */
  searchPath: string;
  /**
   * This process replaces one that still runs (`berth reload`, 'overlap'):
   * work only one process may do at a time must allow for the other.
   */
  replacing?: boolean;
}

/**
 * Set by the supervisor in the environment of a process it starts beside
 * the one it replaces (the pid of that one). Not a setting.
 */
export const REPLACES_ENV = 'BERTH_REPLACES_PID';

/** Messages a service sends its supervisor over the IPC channel. */
export type ServiceMessage =
  | { type: 'ready'; service: string; endpoints: Endpoint[] }
  | { type: 'failed'; service: string; error: string };

const send = (message: ServiceMessage) => {
  if (process.send) process.send(message);
};

export interface RunOptions {
  /**
   * Serve on when the supervisor is gone (the router: the data plane stands
   * alone, issue 16); a new supervisor adopts it, and only SIGTERM stops it.
   */
  outlivesSupervisor?: boolean;
}

export async function runService(
  name: string,
  start: (ctx: ServiceContext) => Promise<RunningService>,
  options: RunOptions = {},
): Promise<void> {
  let config: Config;
  try {
    // The one place a service reads its environment.
    config = loadConfig(process.env);
  } catch (e) {
    const text = e instanceof ConfigError ? e.message : errorLine(e);
    process.stderr.write(`${text}\n`);
    send({ type: 'failed', service: name, error: text });
    process.exit(2);
  }
  const log = createLogger(name, { level: config.logLevel });
  // Signals are handled from the first moment: a stop asked for during start
  // waits for the start to finish, then stops what it started.
  let stopRequested: string | undefined;
  let running: RunningService | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (running === undefined) {
      stopRequested ??= signal;
      return;
    }
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    // Bounded: with the supervisor gone (disconnect) nobody would SIGKILL a
    // stop that hangs (a Redis that no longer answers, say), and the process
    // would be left running forever.
    setTimeout(() => {
      log.error({ limitMs: STOP_LIMIT_MS }, 'stop did not finish in time; exiting');
      process.exit(1);
    }, STOP_LIMIT_MS).unref();
    try {
      await running.stop();
      log.info('stopped');
      process.exit(0);
    } catch (e) {
      log.error({ err: e }, 'stop failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // The supervisor gone (kill -9): a service does not outlive it, unless it
  // is one that must (then a supervisor that disconnects on purpose after
  // the start is no reason to stop either).
  process.on('disconnect', () => {
    if (options.outlivesSupervisor) log.info('supervisor gone; serving on');
    else void stop('disconnect');
  });

  try {
    running = await start({
      config,
      log,
      searchPath: systemSearchPath(process.env.PATH),
      replacing: Boolean(process.env[REPLACES_ENV]),
    });
  } catch (e) {
    log.error({ err: e }, 'failed to start');
    send({ type: 'failed', service: name, error: errorLine(e) });
    process.exit(1);
  }
  if (stopRequested !== undefined) {
    await stop(stopRequested);
    return;
  }
  log.info({ endpoints: running.endpoints }, 'ready');
  send({ type: 'ready', service: name, endpoints: running.endpoints });
  collectStartGarbage();
}
