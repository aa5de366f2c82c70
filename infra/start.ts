// `npm start`: make this machine ready (packages, Docker Engine, Redis, stack
// image), then run every Berth service in the foreground until Ctrl-C.
// Each step is quick when its work is already done, so a second start is
// serving within seconds.
import { readFile } from 'node:fs/promises';
import type { Config } from '../services/core/config.ts';
import { createDockerClient } from '../services/core/docker.ts';
import { BerthError } from '../services/core/errors.ts';
import { createLogger, type Logger } from '../services/core/log.ts';
import type { DataPaths } from '../services/core/paths.ts';
import type { Endpoint } from '../services/core/service.ts';
import { checkDurability, openStore } from '../services/core/store/index.ts';
import { ensureAdminKeys } from '../services/platform/accounts/ssh-keys.ts';
import { prepareDataDir } from './bootstrap/data-dir.ts';
import { ensureDockerEngine } from './bootstrap/docker-engine.ts';
import { ensurePackages } from './bootstrap/packages.ts';
import { createProgress, type Progress } from './bootstrap/progress.ts';
import { ensureRedis } from './bootstrap/redis.ts';
import { ensureStackImage } from './bootstrap/stack-image.ts';
import { formatLogLine } from './log-format.ts';
import { Supervisor } from './supervisor.ts';

export interface HostFacts {
  /** PATH to find and install programs with. */
  searchPath: string;
  isRoot: boolean;
  /** The environment service processes inherit besides Berth's configuration. */
  baseEnv: NodeJS.ProcessEnv;
}

/** Everything before the services run; shared by `npm start` and `npm test`. */
export async function prepareMachine(
  config: Config,
  host: HostFacts,
  progress: Progress,
): Promise<{ paths: DataPaths; dockerStartedByUs: boolean }> {
  // The data directory first: a bad one stops start-up before anything is installed.
  const paths = await prepareDataDir(config.dataDir);
  await ensurePackages({ progress, searchPath: host.searchPath, isRoot: host.isRoot });
  const engine = await ensureDockerEngine({
    config,
    progress,
    logDir: paths.logs,
    searchPath: host.searchPath,
  });
  await ensureRedis({ redisUrl: config.redisUrl, dir: paths.redis, progress });
  const docker = await createDockerClient(config);
  await ensureStackImage({ docker, image: config.stackImage, progress, workDir: paths.stack });
  return { paths, dockerStartedByUs: engine.startedByUs };
}

export async function start(config: Config, host: HostFacts): Promise<number> {
  const started = Date.now();
  const progress = createProgress(process.stderr);
  const log = createLogger('start', { level: config.logLevel });
  await prepareMachine(config, host, progress);
  await checkState(config, progress);

  const step = progress.step('Starting Berth services');
  const supervisor = new Supervisor({
    config,
    log,
    baseEnv: host.baseEnv,
    onLogLine: (_service, line) => process.stdout.write(`${formatLogLine(line)}\n`),
  });
  const endpoints = await supervisor.start().catch((e: unknown) => {
    step.fail((e as Error).message);
    throw e;
  });
  step.done();
  process.stderr.write(banner(config, endpoints, Date.now() - started));

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(
        `\n-----> ${signal}: stopping Berth services (in-flight work finishes)\n`,
      );
      supervisor.stop().then(
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

/** Warns about a Redis that may lose acknowledged writes; adds BERTH_ADMIN_PUBKEY's keys. */
async function checkState(config: Config, progress: Progress): Promise<void> {
  const store = await openStore(config);
  try {
    const warning = await checkDurability(store.redis);
    if (warning) progress.info(`WARNING: ${warning}`);
    if (config.adminPubkeyPath) {
      const text = await readFile(config.adminPubkeyPath, 'utf8').catch((e: Error) => {
        throw new BerthError('BERTH_E_KEY_INVALID', {
          reason: `cannot read BERTH_ADMIN_PUBKEY ${config.adminPubkeyPath}: ${e.message}`,
        });
      });
      for (const line of await ensureAdminKeys(store, text)) progress.info(line);
    }
  } finally {
    await store.close();
  }
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
