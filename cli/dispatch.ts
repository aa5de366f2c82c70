// Runs one command line for an actor: finds the command, parses its options,
// checks who may run it (and, for app commands, that the app exists and the
// actor may act on it), then runs it. Errors become one line on stderr and
// the registry's exit code. The SSH server and the local `berth` both call
// this, so a command behaves the same however it arrives.
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { actorName } from '../services/core/actor.ts';
import { explainDiskFull, redisDiskFullCaused } from '../services/core/disk-full.ts';
import { BerthError, EXIT, errorLine, isBerthError } from '../services/core/errors.ts';
import type { Logger } from '../services/core/log.ts';
import { redisDataDir } from '../services/core/redis.ts';
import * as validate from '../services/core/validate.ts';
import {
  type AppAction,
  authorizeApp,
  mayAccess,
  requireAdmin,
} from '../services/platform/apps/access.ts';
import type { Command, CommandContext } from './command.ts';
import { type GlobalFlags, takeGlobalFlags } from './command-line.ts';
import { commandUsage, findCommand, helpCommand, isNamespace } from './registry.ts';

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
  const i = optionsEnd(command, args);
  if (args[i] === '--') return [args.slice(0, i), args.slice(i + 1)];
  const [app, ...after] = args.slice(i);
  if (app === undefined) return [[...args], []];
  return [args.slice(0, i), [app, ...(after[0] === '--' ? after.slice(1) : after)]];
}

/** Where a pass-through command's options end (at the app, or at `--`). */
function optionsEnd(command: Command, args: readonly string[]): number {
  let i = 0;
  while (i < args.length && (args[i] ?? '').startsWith('-')) {
    const arg = args[i] ?? '';
    if (arg === '--') return i;
    const option = command.options?.[arg.replace(/^--?/, '')];
    i += option?.type === 'string' && !arg.includes('=') ? 2 : 1;
  }
  return i;
}

const takesApp = (c: Command) => typeof c.access === 'object' || c.takesApp === true;

/**
 * A report's one-value flag (`--checks-disabled-list`) taken out of its
 * arguments: any --FLAG the command does not declare. cli/report.ts checks
 * it against the report's labels.
 */
function takeReportFlag(command: Command, args: string[]): [string[], string | undefined] {
  if (!command.report) return [args, undefined];
  const declared = new Set([...Object.keys(command.options ?? {}), 'format', 'help', 'global']);
  let flag: string | undefined;
  const kept = args.filter((a) => {
    if (!/^--[a-z0-9]/.test(a) || declared.has(a.slice(2).split('=')[0] ?? '')) return true;
    if (flag !== undefined) throw usageError(command, `give one report flag, not ${flag} and ${a}`);
    flag = a;
    return false;
  });
  return [kept, flag];
}

async function runCommand(
  argv: readonly string[],
  ctx: CommandContext,
  flags: GlobalFlags,
): Promise<number> {
  const [first = 'help', ...given] = argv;
  const name = ALIASES[first] ?? first;
  const command = findCommand(name) ?? namespaceHelp(name);
  if (!command) throw new BerthError('BERTH_E_UNKNOWN_COMMAND', { command: first });
  let rest = given;
  if (flags.app !== undefined) {
    // Dokku's `--app APP`: the app every app command takes first.
    if (!takesApp(command)) throw usageError(command, `--app: ${command.name} is not about an app`);
    const at = command.passThrough ? optionsEnd(command, rest) : 0;
    rest = [...rest.slice(0, at), flags.app, ...rest.slice(at)];
  }
  if (flags.force && command.options?.force?.type === 'boolean') rest = ['--force', ...rest];
  const [split, passed] = command.passThrough ? splitAtApp(command, rest) : [rest, []];
  const [optionArgs, reportFlag] = takeReportFlag(command, split);

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...optionArgs],
      options: {
        ...(command.options ?? {}),
        ...(command.json ? { format: { type: 'string' } } : {}),
        ...(command.global ? { global: { type: 'boolean' } } : {}),
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
  const global = command.global !== undefined && options.global === true;
  if (global && command.global === 'admin') requireAdmin(ctx.actor, `${command.name} --global`);
  // Dokku's --global stands where APP would: the platform-wide default.
  if (typeof access === 'object' && !global) {
    const [appArg, ...afterApp] = positionals;
    if (appArg === undefined && command.report) {
      return everyAppReport(command, ctx, access.app, options, reportFlag);
    }
    if (appArg === undefined) throw usageError(command, 'name the app');
    app = await authorizeApp(await ctx.store(), ctx.actor, validate.appName(appArg), access.app);
    positionals = afterApp;
  }
  const [min, max] = command.arity;
  if (positionals.length < min) throw usageError(command, 'missing argument');
  if (positionals.length > max)
    throw usageError(command, `unexpected argument "${positionals[max]}"`);
  return command.run({
    ctx,
    app,
    args: positionals,
    options,
    ...(reportFlag === undefined ? {} : { reportFlag }),
  });
}

/**
 * Dokku's `*:report` with no APP: each app the actor may see, in turn, by
 * name (Dokku's report per app, one JSON object a line with --format json,
 * one value a line with a report flag); Dokku's warning when there is none.
 */
async function everyAppReport(
  command: Command,
  ctx: CommandContext,
  action: AppAction,
  options: Record<string, string | boolean | undefined>,
  reportFlag: string | undefined,
): Promise<number> {
  const apps = (await (await ctx.store()).apps.list()).filter((a) =>
    mayAccess(ctx.actor, a, action),
  );
  if (apps.length === 0) {
    ctx.stderr.write(" !     You haven't deployed any applications yet\n");
    return EXIT.ok;
  }
  for (const app of apps) {
    const code = await command.run({
      ctx,
      app,
      args: [],
      options,
      ...(reportFlag === undefined ? {} : { reportFlag }),
    });
    if (code !== EXIT.ok) return code;
  }
  return EXIT.ok;
}

/** Dokku's `NAMESPACE` and `NAMESPACE:help` forms: that namespace's help. */
function namespaceHelp(name: string): Command | undefined {
  const namespace = name.endsWith(':help') ? name.slice(0, -':help'.length) : name;
  if (!isNamespace(namespace)) return undefined;
  return {
    ...helpCommand,
    arity: [0, 0],
    run: (call) => helpCommand.run({ ...call, args: [namespace] }),
  };
}

/**
 * Dokku's --quiet: the `----->` and `=====>` header lines dropped, the rest
 * (values, tables) passed on as it comes, line by line.
 */
function quietStream(out: NodeJS.WritableStream): { stream: Writable; flush(): void } {
  let partial = '';
  const keep = (line: string) => !/^(-----|=====)> /.test(line);
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      const text = lines
        .filter(keep)
        .map((l) => `${l}\n`)
        .join('');
      if (text === '') callback();
      else out.write(text, () => callback());
    },
  });
  return {
    stream,
    flush() {
      if (partial !== '' && keep(partial)) out.write(partial);
      partial = '';
    },
  };
}

/** A word as a shell would need it quoted, for --trace. */
const shown = (w: string) =>
  /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`;

/** Runs argv; never throws: failures are printed as one line and returned as an exit code. */
export async function dispatch(
  argv: readonly string[],
  ctx: CommandContext,
  log?: Logger,
): Promise<number> {
  let trace = false;
  try {
    const { flags, rest } = takeGlobalFlags(argv);
    trace = flags.trace;
    // Dokku's --trace shows the shell commands its plugins run; Berth runs
    // none, so it shows what it was asked to do, as whom, and the outcome.
    if (trace)
      ctx.stderr.write(`+ berth ${rest.map(shown).join(' ')} (as ${actorName(ctx.actor)})\n`);
    const quiet =
      flags.quiet && !findCommand(rest[0] ?? '')?.ownsTerminal
        ? quietStream(ctx.stdout)
        : undefined;
    const code = await runCommand(rest, quiet ? { ...ctx, stdout: quiet.stream } : ctx, flags);
    quiet?.flush();
    if (trace) ctx.stderr.write(`+ exit ${code}\n`);
    return code;
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
    const code = isBerthError(e) ? e.exitCode : EXIT.failed;
    if (trace) ctx.stderr.write(`+ exit ${code}\n`);
    return code;
  }
}
