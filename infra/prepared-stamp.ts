// Whether this machine was prepared already for this configuration and
// code (a warm start), so that `npm start` can start the services while the
// preparation checks everything once more, instead of after it: on a warm
// start every step of infra/prepare.ts finds its work done, and waiting for
// it (a process of its own that loads the Docker client and the store, then
// asks the Engine and Redis) cost a second and more before any service
// started (issue 17: warm start to ready). Only node:fs and node:net here:
// the supervisor, which keeps what it loads, reads this.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { type Config, configToEnv } from '../services/core/config.ts';
import { dockerSocketPath } from '../services/core/docker.ts';
import { writeFileDurably } from '../services/core/durable-file.ts';
import { BUILD_DIR } from '../services/core/runtime.ts';

/** How long the quick checks wait for Redis and the Engine to accept a connection. */
const CONNECT_MS = 500;

export const stampFile = (dataDir: string) => path.join(dataDir, 'run', 'prepared');

/** What the preparation depended on: every setting, and the code that did it. */
function stampOf(config: Config): string {
  return createHash('sha256')
    .update(JSON.stringify([configToEnv(config), path.basename(BUILD_DIR ?? 'source')]))
    .digest('hex');
}

/** Recorded by the preparation once everything is in place. */
export async function writePreparedStamp(config: Config): Promise<void> {
  await writeFileDurably(stampFile(config.dataDir), `${stampOf(config)}\n`, 0o600);
}

/**
 * A warm start: the last preparation was for this configuration and code,
 * and Redis and the Docker Engine accept connections now. Never throws.
 */
export async function looksPrepared(config: Config): Promise<boolean> {
  const stamp = await readFile(stampFile(config.dataDir), 'utf8').catch(() => '');
  if (stamp.trim() !== stampOf(config)) return false;
  const redis = new URL(config.redisUrl);
  const socket = dockerSocketPath(config);
  const docker = socket === undefined ? new URL(config.dockerHost ?? '') : undefined;
  const [redisUp, dockerUp] = await Promise.all([
    accepts({ host: redis.hostname.replace(/^\[|\]$/g, ''), port: Number(redis.port || 6379) }),
    socket === undefined
      ? accepts({ host: docker?.hostname ?? '', port: Number(docker?.port || 2375) })
      : accepts({ path: socket }),
  ]);
  return redisUp && dockerUp;
}

function accepts(to: net.NetConnectOpts): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(to);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(CONNECT_MS, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
