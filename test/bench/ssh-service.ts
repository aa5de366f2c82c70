// The ssh service as the SSH benches run it (ssh-version, ssh-crowd), and a
// test that takes its Redis away (ssh-store-down): the
// real service with its default limits, a Redis of its own, the users given
// with their keys; and one timed `ssh ... version` with the OpenSSH client.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startRedisServer } from '../../infra/bootstrap/redis-server.ts';
import { type Config, loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/log.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import type { Role } from '../../services/core/store/index.ts';
import { openStore } from '../../services/core/store/index.ts';
import { VERSION } from '../../services/core/version.ts';
import { type HostKey, loadOrCreateHostKey } from '../../services/ssh/host-key.ts';
import { start } from '../../services/ssh/service.ts';
import { freePort } from '../harness/ports.ts';
import { opensshArgs } from '../harness/ssh.ts';

export interface BenchSshService {
  config: Config;
  hostKey: HostKey;
  /** Stops the service, then its Redis. */
  stop(): Promise<void>;
  /** Kills its Redis (SIGKILL), the service left running. */
  killRedis(): void;
}

export async function startBenchSshService(
  dir: string,
  users: readonly { name: string; role: Role; publicLine: string }[],
): Promise<BenchSshService> {
  const redis = await startRedisServer({ dir: path.join(dir, 'redis'), port: await freePort() });
  const killRedis = () => {
    try {
      process.kill(redis.pid, 'SIGKILL');
    } catch {}
  };
  try {
    const config = loadConfig({
      BERTH_DATA_DIR: path.join(dir, 'data'),
      BERTH_SSH_PORT: String(await freePort()),
      BERTH_WEB_PORT: String(await freePort()),
      BERTH_METRICS_PORT: String(await freePort()),
      REDIS_URL: redis.url,
      BERTH_REDIS_PREFIX: 'berth-bench:',
    });
    const store = await openStore(config);
    try {
      for (const u of users) {
        await store.users.create(u.name, u.role);
        await store.users.addKey(u.name, u.publicLine);
      }
    } finally {
      await store.close();
    }
    const service = await start({
      config,
      log: createLogger('ssh', { level: 'warn' }),
      searchPath: systemSearchPath(process.env.PATH),
    });
    return {
      config,
      hostKey: await loadOrCreateHostKey(path.join(config.dataDir, 'ssh')),
      async stop() {
        await service.stop();
        killRedis();
      },
      killRedis,
    };
  } catch (e) {
    killRedis();
    throw e;
  }
}

/** One `ssh ... version`; resolves with its wall time in ms, throws unless it printed the version. */
export async function sshVersion(port: number, key: string, knownHosts: string): Promise<number> {
  const t0 = performance.now();
  const child = spawn(
    'ssh',
    [...opensshArgs({ port, key, knownHosts }), 'berth@127.0.0.1', 'version'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const ms = performance.now() - t0;
  if (code !== 0 || out !== `berth ${VERSION}\n`) {
    throw new Error(`ssh version on port ${port} exited ${code}: ${out.trim()}`);
  }
  return ms;
}
