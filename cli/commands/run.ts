// run, run:detached — one-off processes from the current release.

import { createDockerClient } from '../../services/core/docker.ts';
import { EXIT } from '../../services/core/errors.ts';
import { runCommand, runDetached } from '../../services/platform/release/one-off.ts';
import type { Command, CommandContext } from '../command.ts';

/** A one-off's Engine, and the limits of instances whose app set none. */
const runDeps = async (ctx: CommandContext) => ({
  docker: await createDockerClient(ctx.config()),
  limits: ctx.config().defaultLimits,
});

export const runCommands: readonly Command[] = [
  {
    name: 'run',
    usage: 'APP COMMAND...',
    summary:
      "run a command once in a new container of the app's current release, attached to your input and output (a terminal with ssh -t); its exit code is run's",
    access: { app: 'push' },
    ownsTerminal: true,
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      return runCommand(
        await ctx.store(),
        await runDeps(ctx),
        app,
        args.join(' '),
        {
          stdin: ctx.stdin,
          stdout: ctx.stdout,
          stderr: ctx.stderr,
          ...(ctx.terminal ? { terminal: ctx.terminal } : {}),
        },
        ctx.signal,
      );
    },
  },
  {
    name: 'run:detached',
    usage: 'APP COMMAND...',
    summary: 'start a command in the background (see it with logs); prints its name',
    access: { app: 'push' },
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const name = await runDetached(await ctx.store(), await runDeps(ctx), app, args.join(' '));
      ctx.stdout.write(`-----> Started ${name}\n`);
      return EXIT.ok;
    },
  },
];
