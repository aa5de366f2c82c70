// Commands about Berth itself: version, start and the stack image.

import { prepareDataDir } from '../../infra/bootstrap/data-dir.ts';
import { ensureDockerEngine } from '../../infra/bootstrap/docker-engine.ts';
import { createProgress } from '../../infra/bootstrap/progress.ts';
import { ensureStackImage } from '../../infra/bootstrap/stack-image.ts';
import { start } from '../../infra/start.ts';
import { createDockerClient } from '../../services/core/docker.ts';
import { BerthError, EXIT } from '../../services/core/errors.ts';
import { VERSION } from '../../services/core/version.ts';
import type { Command, CommandContext, HostFacts } from '../command.ts';

/** What a command that acts on this machine needs; only the server-local `berth` has it. */
export function localHost(ctx: CommandContext): HostFacts {
  if (!ctx.host)
    throw new BerthError('BERTH_E_FORBIDDEN', {
      action: 'this command',
      who: 'root on the server',
    });
  return ctx.host;
}

export const systemCommands: readonly Command[] = [
  {
    name: 'version',
    usage: '',
    summary: "print Berth's version",
    access: 'anyone',
    arity: [0, 0],
    async run({ ctx }) {
      ctx.stdout.write(`berth ${VERSION}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'start',
    usage: '',
    summary: 'install what is missing, then run every Berth service until Ctrl-C',
    access: 'local',
    arity: [0, 0],
    run: ({ ctx }) => start(ctx.config(), localHost(ctx)),
  },
  {
    name: 'stack:rebuild',
    usage: '',
    summary: 'rebuild the Debian 12 stack image that builds and apps run on',
    access: 'local',
    arity: [0, 0],
    async run({ ctx }) {
      const host = localHost(ctx);
      const config = ctx.config();
      const progress = createProgress(ctx.stderr as NodeJS.WriteStream);
      const paths = await prepareDataDir(config.dataDir);
      await ensureDockerEngine({
        config,
        progress,
        logDir: paths.logs,
        searchPath: host.searchPath,
      });
      const docker = await createDockerClient(config);
      await ensureStackImage({
        docker,
        image: config.stackImage,
        progress,
        rebuild: true,
        workDir: paths.stack,
      });
      return EXIT.ok;
    },
  },
];
