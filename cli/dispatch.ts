// Runs one command line for an actor: finds the command, parses its options,
// checks who may run it (and, for app commands, that the app exists and the
// actor may act on it), then runs it. Errors become one line on stderr and
// the registry's exit code. The SSH server and the local `berth` both call
// this, so a command behaves the same however it arrives.
import { parseArgs } from 'node:util';
import { explainDiskFull, redisDiskFullCaused } from '../services/core/disk-full.ts';
import { BerthError, EXIT, errorLine, isBerthError } from '../services/core/errors.ts';
import type { Logger } from '../services/core/log.ts';
import { redisDataDir } from '../services/core/redis.ts';
import * as validate from '../services/core/validate.ts';
import { authorizeApp, requireAdmin } from '../services/platform/apps/access.ts';
import type { Command, CommandContext } from './command.ts';
import { commandUsage, findCommand } from './registry.ts';

const ALIASES: Readonly<Record<string, string>> = {
  '--help': 'help',
  '-h': 'help',
  '--version': 'version',
  apps: 'apps:list',
};

const usageError = (c: Command, reason: string) =>
  new BerthError('BERTH_E_USAGE', {
    reason: `${reason}; usage: berth ${`${c.name} ${c.usage}`.trimEnd()}`,
  });

/**
 * A pass-through command's arguments, split where the app is: the options
 * before it, and the app and everything after it (one `--` right after the
 * app dropped, as the option parser would). A string option's value may be
 * the next word, so it is skipped over.
 */
function splitAtApp(command: Command, args: readonly string[]): [string[], string[]] {
  let i = 0;
  while (i < args.length && (args[i] ?? '').startsWith('-')) {
    const arg = args[i] ?? '';
    if (arg === '--') return [args.slice(0, i), args.slice(i + 1)];
    const option = command.options?.[arg.replace(/^--?/, '')];
    i += option?.type === 'string' && !arg.includes('=') ? 2 : 1;
  }
  const [app, ...after] = args.slice(i);
  if (app === undefined) return [[...args], []];
  return [args.slice(0, i), [app, ...(after[0] === '--' ? after.slice(1) : after)]];
}

async function runCommand(argv: readonly string[], ctx: CommandContext): Promise<number> {
  const [first = 'help', ...rest] = argv;
  const name = ALIASES[first] ?? first;
  const command = findCommand(name);
  if (!command) throw new BerthError('BERTH_E_UNKNOWN_COMMAND', { command: first });
  const [optionArgs, passed] = command.passThrough ? splitAtApp(command, rest) : [rest, []];

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...optionArgs],
      options: {
        ...(command.options ?? {}),
        ...(command.json ? { format: { type: 'string' } } : {}),
        help: { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    // parseArgs' messages are long and multi-line; the first sentence says it.
    const reason = (e as Error).message.split(/\.\s/)[0] ?? 'bad option';
    throw usageError(command, reason.replace(/\.$/, ''));
  }
  const options = parsed.values as Record<string, string | boolean | undefined>;
  if (options.help === true) {
    ctx.stdout.write(commandUsage(command));
    return EXIT.ok;
  }
  let positionals = [...parsed.positionals, ...passed];

  const access = command.access;
  if (access === 'local' && ctx.host === undefined) {
    throw new BerthError('BERTH_E_FORBIDDEN', { action: command.name, who: 'root on the server' });
  }
  if (access === 'admin') requireAdmin(ctx.actor, command.name);
  let app: Awaited<ReturnType<typeof authorizeApp>> | undefined;
  if (typeof access === 'object') {
    const [appArg, ...afterApp] = positionals;
    if (appArg === undefined) throw usageError(command, 'name the app');
    app = await authorizeApp(await ctx.store(), ctx.actor, validate.appName(appArg), access.app);
    positionals = afterApp;
  }
  const [min, max] = command.arity;
  if (positionals.length < min) throw usageError(command, 'missing argument');
  if (positionals.length > max)
    throw usageError(command, `unexpected argument "${positionals[max]}"`);
  return command.run({ ctx, app, args: positionals, options });
}

/** Runs argv; never throws: failures are printed as one line and returned as an exit code. */
export async function dispatch(
  argv: readonly string[],
  ctx: CommandContext,
  log?: Logger,
): Promise<number> {
  try {
    return await runCommand(argv, ctx);
  } catch (thrown) {
    // A full disk is the operator's to fix, not a failure of the command: one line saying so.
    const redisDir = redisDiskFullCaused(thrown)
      ? await ctx.store().then(
          (s) => redisDataDir(s.redis),
          () => undefined,
        )
      : undefined;
    const e = explainDiskFull(thrown, redisDir);
    if (!isBerthError(e)) log?.error({ err: e, argv }, 'command failed unexpectedly');
    ctx.stderr.write(`berth: ${errorLine(e)}\n`);
    return isBerthError(e) ? e.exitCode : EXIT.failed;
  }
}
