// Runs Berth commands through the real dispatcher for a given actor, with
// captured output, against a store on a fresh key prefix.
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after } from 'node:test';
import type { CommandContext } from '../../cli/command.ts';
import { dispatch } from '../../cli/dispatch.ts';
import type { Actor } from '../../services/core/actor.ts';
import { type Config, loadConfig } from '../../services/core/config.ts';
import type { Store } from '../../services/core/store/index.ts';
import { newTestRunId, testLabels } from './docker.ts';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A data directory of the test's own: app commands touch git repositories under it. */
function scratchConfig(): Config {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-commands-'));
  after(() => rm(dataDir, { recursive: true, force: true }));
  return loadConfig({ BERTH_DOMAIN: 'berth.test', BERTH_DATA_DIR: dataDir });
}

export function commandRunner(store: Store, config: Config = scratchConfig()) {
  // Under the runner (BERTH_TEST_RUN), the datastores the commands make carry
  // the run's id, so that the runner's last clean-up finds what a killed
  // test file left.
  const runLabels = process.env.BERTH_TEST_RUN ? { dockerLabels: testLabels(newTestRunId()) } : {};
  return async (
    actor: Actor,
    argv: string[],
    stdin: string | Buffer = '',
    /** The client going away (a follow ends with it); `onOutput` sees stdout as it comes. */
    o: { signal?: AbortSignal; onOutput?: (text: string) => void } = {},
  ): Promise<CommandResult> => {
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = '';
    let stderr = '';
    out.on('data', (d) => {
      stdout += d;
      o.onOutput?.(stdout);
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
      signal: o.signal ?? new AbortController().signal,
      ...runLabels,
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
