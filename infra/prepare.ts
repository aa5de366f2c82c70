// Everything before the services run: the data directory, packages, the
// Docker Engine, Redis, the stack image, then the state's checks. `npm
// start` runs it in a process of its own (infra/prepare-main.ts), so that
// the supervisor does not keep the Docker client and the store loaded.
import { readFile } from 'node:fs/promises';
import type { Config } from '../services/core/config.ts';
import { createDockerClient } from '../services/core/docker.ts';
import { BerthError } from '../services/core/errors.ts';
import type { DataPaths } from '../services/core/paths.ts';
import { checkDurability, openStore } from '../services/core/store/index.ts';
import { ensureAdminKeys } from '../services/platform/accounts/ssh-keys.ts';
import { ensureFallbackCertificate } from '../services/platform/certs/fallback-cert.ts';
import { prepareDataDir } from './bootstrap/data-dir.ts';
import { ensureDockerEngine } from './bootstrap/docker-engine.ts';
import { ensurePackages } from './bootstrap/packages.ts';
import type { Progress } from './bootstrap/progress.ts';
import { ensureRedis } from './bootstrap/redis.ts';
import { ensureStackImage } from './bootstrap/stack-image.ts';
import type { HostFacts } from './start.ts';

/** Everything before the services run; shared by `npm start` and `npm test`. */
export async function prepareMachine(
  config: Config,
  host: HostFacts,
  progress: Progress,
): Promise<{ paths: DataPaths; dockerStartedByUs: boolean }> {
  // The data directory first: a bad one stops start-up before anything is installed.
  const paths = await prepareDataDir(config.dataDir);
  // Here, in a process that ends, rather than in the router's long-lived primary.
  await ensureFallbackCertificate(paths);
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

/** Warns about a Redis that may lose acknowledged writes; adds BERTH_ADMIN_PUBKEY's keys. */
export async function checkState(config: Config, progress: Progress): Promise<void> {
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
