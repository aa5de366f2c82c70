// `npm start`: make this machine ready (packages, Docker Engine, Redis, stack
// image; infra/prepare.ts, in a process of its own), then run every Berth
// service in the foreground until Ctrl-C. Each step is quick when its work
// is already done, so a second start is serving within seconds.
import { spawn } from 'node:child_process';
import { type Config, configToEnv } from '../services/core/config.ts';
import { EXIT } from '../services/core/errors.ts';
import { createLogger, type Logger } from '../services/core/log.ts';
import { dataPaths } from '../services/core/paths.ts';
import { entryCommand, ROOT } from '../services/core/runtime.ts';
import type { Endpoint } from '../services/core/service.ts';
import { createProgress } from './bootstrap/progress.ts';
import { formatLogLine } from './log-format.ts';
import { looksPrepared } from './prepared-stamp.ts';
import { startAofFlush } from './redis-aof-flush.ts';
import { RELOAD_SIGNAL, Reloader } from './reload.ts';
import { Supervisor } from './supervisor.ts';

export interface HostFacts {
  /** PATH to find and install programs with. */
  searchPath: string;
  isRoot: boolean;
  /** The environment service processes inherit besides Berth's configuration. */
  baseEnv: NodeJS.ProcessEnv;
}

export async function start(config: Config, host: HostFacts): Promise<number> {
  const started = Date.now();
  const progress = createProgress(process.stderr);
  const log = createLogger('start', { level: config.logLevel });
  // In a process of its own, which ends when the machine is ready: what it
  // loads (the Docker client, the store) would otherwise stay in this one,
  // the supervisor, for as long as Berth runs (issue 17).
  // A reload asked for before the services run waits for them (the
  // default action of these signals would end the supervisor).
  let reloader: Reloader | undefined;
  let reloadAsked = false;
  const onReload = () => {
    if (reloader) reloader.request();
    else reloadAsked = true;
  };
  process.on(RELOAD_SIGNAL, onReload);
  // systemd's ExecReload sends SIGHUP; on a terminal, SIGHUP is its hang-up.
  if (!process.stderr.isTTY) process.on('SIGHUP', onReload);
  // On a warm start (prepared before for this configuration and code, Redis
  // and the Engine answering) the services start while the preparation
  // checks everything again; should it find something wrong after all, the
  // services stop and start-up fails with its reason, as on a cold start.
  const warm = await looksPrepared(config);
  const preparing = prepareInChild(config, host);
  if (!warm) {
    const prepared = await preparing;
    if (prepared !== 0) return prepared;
  }

  const step = progress.step('Starting Berth services');
  const supervisor = new Supervisor({
    config,
    log,
    baseEnv: host.baseEnv,
    onLogLine: (_service, line) => process.stdout.write(`${formatLogLine(line)}\n`),
  });
  const starting = supervisor.start();
  // Redis's append-only file to disk once a second (./redis-aof-flush.ts).
  const stopAofFlush = startAofFlush(dataPaths(config.dataDir).redis);
  if (warm) {
    // Settled first, so that a failed start is not left unhandled meanwhile.
    const [prepared] = await Promise.all([preparing, starting.catch(() => undefined)]);
    if (prepared !== 0) {
      step.fail('the preparation failed (above)');
      await supervisor.stop().catch((e: unknown) => logStopFailure(log, e));
      return prepared;
    }
  }
  const endpoints = await starting.catch((e: unknown) => {
    step.fail((e as Error).message);
    throw e;
  });
  step.done();
  process.stderr.write(banner(config, endpoints, Date.now() - started));
  reloader = new Reloader(supervisor, {
    dataDir: config.dataDir,
    log,
    out: (line) => process.stderr.write(`-----> reload: ${line}\n`),
  });
  if (reloadAsked) reloader.request();

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      stopAofFlush();
      process.stderr.write(
        `\n-----> ${signal}: stopping Berth services (in-flight work finishes)\n`,
      );
      // A reload under way finishes its step first: what it started is then
      // among the services stopped.
      void (reloader?.cancel() ?? Promise.resolve())
        .then(() => supervisor.stop())
        .then(
          () => {
            process.stderr.write('       stopped\n');
            resolve(0);
          },
          (e: unknown) => {
            logStopFailure(log, e);
            resolve(1);
          },
        );
    };
    process.on('SIGINT', () => stop('Ctrl-C'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}

/**
 * Runs infra/prepare-main.ts; resolves with its exit status. It reports its
 * own progress and errors on the inherited stderr.
 */
function prepareInChild(config: Config, host: HostFacts): Promise<number> {
  const { file, execArgv } = entryCommand('infra/prepare-main.ts');
  const child = spawn(process.execPath, [...execArgv, file], {
    cwd: ROOT,
    env: { ...host.baseEnv, ...configToEnv(config) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return new Promise((resolve) => {
    child.on('error', () => resolve(EXIT.failed));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 2 : EXIT.failed)));
  });
}

function logStopFailure(log: Logger, e: unknown) {
  log.error({ err: e }, 'stopping the services failed');
}

function banner(config: Config, endpoints: Endpoint[], ms: number): string {
  const lines = [
    '',
    `=====> Berth is ready (${(ms / 1000).toFixed(1)} s)`,
    ...endpoints.map((e) => `       ${e.name.padEnd(34)} ${e.url}`),
    `       ${'data directory'.padEnd(34)} ${config.dataDir}`,
    '',
    '       Add the first admin key (as root on this machine, in this directory):',
    '         npx berth ssh-keys:add admin < id_ed25519.pub',
    `       or start with BERTH_ADMIN_PUBKEY=/path/to/key.pub. Ctrl-C stops Berth.`,
    '',
  ];
  return `${lines.join('\n')}\n`;
}
