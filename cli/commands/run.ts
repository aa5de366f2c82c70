// run, run:detached — one-off processes from the current release.

import { EXIT } from '../../services/core/errors.ts';
import { runCommand, runDetached } from '../../services/platform/release/one-off.ts';
import type { Command } from '../command.ts';
import { schedulerDeps } from '../release-run.ts';

export const runCommands: readonly Command[] = [
  {
    name: 'run',
    usage: 'APP COMMAND...',
    summary:
      "run a command once in a new container of the app's current release, attached to your input and output (a terminal with ssh -t); its exit code is run's",
    access: { app: 'push' },
    ownsTerminal: true,
    passThrough: true,
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      return runCommand(
        await ctx.store(),
        await schedulerDeps(ctx),
        app,
        args.join(' '),
        {
          stdin: ctx.stdin,
          stdout: ctx.stdout,
          stderr: ctx.stderr,
          ...(ctx.terminal ? { terminal: ctx.terminal } : {}),
        },
        ctx.signal,
        // On stderr: the command's stdout stays its own, for VALUE=$(berth run APP ...).
        (line) => ctx.stderr.write(`-----> ${line}\n`),
      );
    },
  },
  {
    name: 'run:detached',
    usage: 'APP COMMAND...',
    summary: 'start a command in the background (see it with logs); prints its name',
    access: { app: 'push' },
    passThrough: true,
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const name = await runDetached(
        await ctx.store(),
        await schedulerDeps(ctx),
        app,
        args.join(' '),
        (line) => ctx.stdout.write(`-----> ${line}\n`),
      );
      ctx.stdout.write(`-----> Started ${name}\n`);
      return EXIT.ok;
    },
  },
];
