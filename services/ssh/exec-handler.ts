// What an SSH exec request runs: a git service (push, fetch, clone) or a
// Berth command through the one dispatcher the local `berth` uses too.
import type { CommandContext } from '../../cli/command.ts';
import { splitCommandLine } from '../../cli/command-line.ts';
import { dispatch } from '../../cli/dispatch.ts';
import { findCommand } from '../../cli/registry.ts';
import type { Config } from '../core/config.ts';
import { errorLine, isBerthError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store/index.ts';
import type { ExecHandler } from './exec-request.ts';
import { type GitHandler, parseGitCommand } from './git-service.ts';

export interface ExecDeps {
  config: Config;
  store: Store;
  git: GitHandler;
  log?: Logger;
}

export function createExecHandler(deps: ExecDeps): ExecHandler {
  return async (actor, command, io) => {
    let argv: string[];
    try {
      argv = splitCommandLine(command);
    } catch (e) {
      io.stderr.write(`berth: ${errorLine(e)}\n`);
      return isBerthError(e) ? e.exitCode : 1;
    }
    const git = parseGitCommand(argv);
    if (git) return deps.git(actor, git.service, git.repoArg, io);
    const { terminal } = io;
    const ctx: CommandContext = {
      actor,
      stdin:
        terminal && !findCommand(argv[0] ?? '')?.ownsTerminal ? terminal.cookedInput() : io.stdin,
      stdout: io.stdout,
      stderr: io.stderr,
      signal: io.signal,
      config: () => deps.config,
      store: async () => deps.store,
      // Over SSH nobody is root on the server: local-only commands are refused.
      host: undefined,
      ...(terminal ? { terminal } : {}),
    };
    return dispatch(argv, ctx, deps.log);
  };
}
