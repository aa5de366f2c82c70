// The `berth` entry point: the only place that reads process.env, parses
// argv and calls process.exit.
import { parseArgs } from 'node:util';
import { systemSearchPath } from '../infra/bootstrap/programs.ts';
import { type Config, ConfigError, loadConfig } from '../services/core/config.ts';
import { BerthError, EXIT, errorLine } from '../services/core/errors.ts';
import type { CommandContext } from './command.ts';
import { COMMANDS } from './commands.ts';

async function main(argv: string[]): Promise<number> {
  const [name = 'help', ...rest] = argv;
  const key = name === '--help' || name === '-h' ? 'help' : name === '--version' ? 'version' : name;
  const command = COMMANDS.find((c) => c.name === key);
  if (!command) throw new BerthError('BERTH_E_UNKNOWN_COMMAND', { command: name });

  let config: Config | undefined;
  const ctx: CommandContext = {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    config: () => {
      config ??= loadConfig(process.env);
      return config;
    },
    host: {
      searchPath: systemSearchPath(process.env.PATH),
      isRoot: process.getuid?.() === 0,
      baseEnv: process.env,
    },
  };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: command.options ?? {},
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new BerthError('BERTH_E_USAGE', { reason: `${command.name}: ${(e as Error).message}` });
  }
  return command.run(
    ctx,
    parsed.positionals,
    parsed.values as Record<string, string | boolean | undefined>,
  );
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof ConfigError) {
      for (const p of e.problems) process.stderr.write(`berth: ${p.toLine()}\n`);
      process.exit(EXIT.usage);
    }
    process.stderr.write(`berth: ${errorLine(e)}\n`);
    process.exit(e instanceof BerthError ? e.exitCode : EXIT.failed);
  },
);
