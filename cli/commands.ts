// The command table. Issue 3 brings the full Dokku-style grammar; these are
// the commands the foundation needs on the server itself.

import { prepareDataDir } from '../infra/bootstrap/data-dir.ts';
import { ensureDockerEngine } from '../infra/bootstrap/docker-engine.ts';
import { createProgress } from '../infra/bootstrap/progress.ts';
import { ensureStackImage } from '../infra/bootstrap/stack-image.ts';
import { start } from '../infra/start.ts';
import { createDockerClient } from '../services/core/docker.ts';
import { EXIT } from '../services/core/errors.ts';
import { VERSION } from '../services/core/version.ts';
import type { Command } from './command.ts';

export const COMMANDS: readonly Command[] = [
  {
    name: 'start',
    args: '',
    summary: 'install what is missing, then run every Berth service until Ctrl-C',
    run: (ctx) => start(ctx.config(), ctx.host),
  },
  {
    name: 'stack:rebuild',
    args: '',
    summary: 'rebuild the Debian 12 stack image that builds and apps run on',
    async run(ctx) {
      const config = ctx.config();
      const progress = createProgress(ctx.stderr as NodeJS.WriteStream);
      const paths = await prepareDataDir(config.dataDir);
      await ensureDockerEngine({ config, progress, logDir: paths.logs });
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
  {
    name: 'version',
    args: '',
    summary: "print Berth's version",
    async run(ctx) {
      ctx.stdout.write(`berth ${VERSION}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'help',
    args: '',
    summary: 'list the commands',
    async run(ctx) {
      ctx.stdout.write(helpText());
      return EXIT.ok;
    },
  },
];

export function helpText(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.args}`.length));
  const rows = COMMANDS.map((c) => `  ${`${c.name} ${c.args}`.padEnd(width)}  ${c.summary}`);
  return `Usage: berth COMMAND [APP] [ARGS...]\n\nCommands:\n${rows.join('\n')}\n`;
}
