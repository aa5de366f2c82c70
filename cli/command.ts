// The shape of a Berth command. One table of these (cli/commands.ts) serves
// the server-local `berth`, and later the SSH command channel and the laptop
// client, so parsing, help and errors are the same everywhere.
import type { ParseArgsConfig } from 'node:util';
import type { Config } from '../services/core/config.ts';

export interface CommandIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface CommandContext extends CommandIo {
  /** Read and validated on first use, so `help` works with a broken environment. */
  config(): Config;
  /** Facts about the host the server-local commands need. */
  host: { searchPath: string; isRoot: boolean; baseEnv: NodeJS.ProcessEnv };
}

export interface Command {
  name: string;
  /** Arguments after the name, as `help` shows them. */
  args: string;
  summary: string;
  options?: NonNullable<ParseArgsConfig['options']>;
  /** Returns the exit code. Throws BerthError for failures the user should see. */
  run(
    ctx: CommandContext,
    positionals: string[],
    values: Record<string, string | boolean | undefined>,
  ): Promise<number>;
}
