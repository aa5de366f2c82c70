// The ssh service: the SSH front door on BERTH_SSH_PORT. It owns the
// host key under the data directory and hands every exec request to an
// ExecHandler: the command dispatcher (git-receive-pack, apps:create, ...).

import { inheritedSocket, offerSocket } from '../core/handover.ts';
import { dataPaths } from '../core/paths.ts';
import type { RunningService, ServiceContext } from '../core/service.ts';
import { openStore } from '../core/store/index.ts';
import type { BuildQueue } from '../platform/build/queue.ts';

import { createExecHandler } from './exec-handler.ts';
import type { ExecHandler } from './exec-request.ts';
import { createGitHandler } from './git-service.ts';
import { loadOrCreateHostKey } from './host-key.ts';
import type { SshLimits } from './limits.ts';
import { createSshServer } from './ssh-server.ts';

export interface GitReceiverDeps {
  /** Runs each exec request; default: git services and the command dispatcher. */
  onExec?: ExecHandler;
  limits?: Partial<SshLimits>;
}

export async function start(
  { config, log, searchPath }: ServiceContext,
  deps: GitReceiverDeps = {},
): Promise<RunningService> {
  const store = await openStore(config, { onError: (e) => log.warn({ err: e }, 'redis') });
  // Made at the first push (queue-open.ts says why).
  let queue: Promise<BuildQueue> | undefined;
  const buildQueue = () =>
    (queue ??= import('../platform/build/queue-open.ts').then((m) =>
      m.createBuildQueue(store.redis, config.redisPrefix),
    ));
  const closeQueue = async () => {
    if (queue) await (await queue).close();
  };
  try {
    const hostKey = await loadOrCreateHostKey(dataPaths(config.dataDir).ssh);
    if (hostKey.tightened)
      log.warn({ path: hostKey.path }, 'host key was readable by others; made it 0600');
    const server = createSshServer({
      hostKey: hostKey.privateKey,
      store,
      log,
      onExec:
        deps.onExec ??
        createExecHandler({
          config,
          store,
          log,
          git: createGitHandler({
            store,
            paths: dataPaths(config.dataDir),
            queue: buildQueue,
            searchPath,
            log,
          }),
        }),
      ...(deps.limits ? { limits: deps.limits } : {}),
    });
    // On a reload, the sockets of the process this one replaces: SSH
    // sessions running there finish there while this one takes new ones.
    const v4 = await inheritedSocket('ssh-ipv4');
    offerSocket('ssh-ipv4', await server.listen(config.sshPort, '0.0.0.0', v4));
    try {
      const v6 = await inheritedSocket('ssh-ipv6');
      offerSocket('ssh-ipv6', await server.listen(config.sshPort, '::', v6));
    } catch (e) {
      // A machine without IPv6 (many containers): IPv4 alone is fine.
      log.info({ reason: (e as Error).message }, 'not listening on IPv6');
    }
    log.info(
      {
        port: config.sshPort,
        hostKey: hostKey.fingerprint,
        hostKeyPath: hostKey.path,
        created: hostKey.created,
      },
      'ssh server listening',
    );
    return {
      endpoints: [
        { name: 'SSH (git push, commands)', url: `ssh://berth@${config.domain}:${config.sshPort}` },
      ],
      async stop() {
        await server.close();
        await closeQueue();
        await store.close();
      },
    };
  } catch (e) {
    await closeQueue();
    await store.close();
    throw e;
  }
}
