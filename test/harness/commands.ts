// Runs Berth commands through the real dispatcher for a given actor, with
// captured output, against a store on a fresh key prefix.
import { PassThrough, Readable } from 'node:stream';
import type { CommandContext } from '../../cli/command.ts';
import { dispatch } from '../../cli/dispatch.ts';
import type { Actor } from '../../services/core/actor.ts';
import { type Config, loadConfig } from '../../services/core/config.ts';
import type { Store } from '../../services/core/store/index.ts';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function commandRunner(
  store: Store,
  config: Config = loadConfig({ BERTH_DOMAIN: 'berth.test' }),
) {
  return async (actor: Actor, argv: string[], stdin = ''): Promise<CommandResult> => {
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = '';
    let stderr = '';
    out.on('data', (d) => {
      stdout += d;
    });
    err.on('data', (d) => {
      stderr += d;
    });
    const ctx: CommandContext = {
      actor,
      stdin: Readable.from([stdin]),
      stdout: out,
      stderr: err,
      config: () => config,
      store: async () => store,
      host: undefined,
      signal: new AbortController().signal,
    };
    const code = await dispatch(argv, ctx);
    return { code, stdout, stderr };
  };
}

export const userActor = (user: string, role: 'admin' | 'user' = 'user'): Actor => ({
  kind: 'user',
  user,
  role,
  credential: `SHA256:${user}`,
});
