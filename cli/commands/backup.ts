// backup and restore: the whole platform as one archive on stdout, and back
// from stdin on a fresh Berth (services/platform/backup/).
import { createDockerClient } from '../../services/core/docker.ts';
import { BerthError, EXIT } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { writeBackup } from '../../services/platform/backup/backup.ts';
import { restoreBackup } from '../../services/platform/backup/restore.ts';
import { appSchedulers } from '../../services/platform/scheduler/schedulers.ts';
import type { Command, CommandContext } from '../command.ts';
import { schedulerDeps } from '../release-run.ts';

/** Binary output into a terminal is garbage (and ssh -t turns "\n" into "\r\n"). */
function refuseTerminal(ctx: CommandContext, what: string): void {
  const tty = (ctx.stdout as NodeJS.WriteStream).isTTY === true;
  if (ctx.terminal !== undefined || tty) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `${what} writes a binary archive; send it to a file (berth backup > FILE, or ssh without -t)`,
    });
  }
}

const progress = (ctx: CommandContext) => (line: string) => ctx.stderr.write(`${line}\n`);

export const backupCommands: readonly Command[] = [
  {
    name: 'backup',
    usage: '> FILE',
    summary:
      'write a backup of the whole platform to stdout (a .tar.gz): Redis state, git repositories, certificates and keys; not images, which restore builds again',
    access: 'admin',
    arity: [0, 0],
    async run({ ctx }) {
      refuseTerminal(ctx, 'backup');
      const config = ctx.config();
      const store = await ctx.store();
      await writeBackup(
        {
          redis: store.redis,
          config,
          paths: dataPaths(config.dataDir),
          searchPath: ctx.host?.searchPath ?? systemSearchPath(undefined),
          progress: progress(ctx),
          docker: await createDockerClient(config),
          signal: ctx.signal,
        },
        ctx.stdout,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'restore',
    usage: '[--force] [--only-current] < FILE',
    summary:
      'bring back a backup on this Berth (root on the server, after npm start): state, repositories, certificates and keys; then every app is built again from its recorded commits (or image) and its current release rolled out. Refuses a Berth that has apps unless --force (which replaces them); --only-current builds only each current release',
    access: 'local',
    options: { force: { type: 'boolean' }, 'only-current': { type: 'boolean' } },
    arity: [0, 0],
    async run({ ctx, options }) {
      if (ctx.host?.isRoot !== true) {
        throw new BerthError('BERTH_E_FORBIDDEN', { action: 'restore', who: 'root on the server' });
      }
      if ((ctx.stdin as NodeJS.ReadStream).isTTY === true) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: 'restore reads the archive from stdin: berth restore < FILE',
        });
      }
      const config = ctx.config();
      const store = await ctx.store();
      const docker = await createDockerClient(config);
      const outcomes = await restoreBackup(
        {
          store,
          paths: dataPaths(config.dataDir),
          searchPath: ctx.host.searchPath,
          schedulerOf: appSchedulers(store, { ...(await schedulerDeps(ctx)), docker }),
          progress: progress(ctx),
          signal: ctx.signal,
          imageRetention: config.imageRetention,
          drainMs: config.drainTimeoutMs,
          docker,
          ...(config.appNetworks ? { appNetworks: config.appNetworks } : {}),
        },
        ctx.stdin,
        { force: options.force === true, currentOnly: options['only-current'] === true },
      );
      return outcomes.every((o) => o.ok) ? EXIT.ok : EXIT.failed;
    },
  },
];
