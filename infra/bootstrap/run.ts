// Runs a program with an argument array (never a shell), feeding its output
// lines to a progress step and keeping the last lines for the error message.
import { type SpawnOptions, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Step } from './progress.ts';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of stdout and stderr, interleaved as they came. */
  tail: string[];
}

export interface RunOptions {
  step?: Step;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** How many output lines to keep for the result. */
  keep?: number;
  stdio?: SpawnOptions['stdio'];
}

export function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const keep = options.keep ?? 20;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    const take = (line: string) => {
      options.step?.update(line);
      tail.push(line);
      if (tail.length > keep) tail.shift();
    };
    if (child.stdout) createInterface({ input: child.stdout }).on('line', take);
    if (child.stderr) createInterface({ input: child.stderr }).on('line', take);
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, tail }));
  });
}

/** Like run, but a non-zero exit is an Error carrying the last output line. */
export async function runOk(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    const last = result.tail.filter((l) => l.trim() !== '').at(-1) ?? '';
    const how = result.signal ? `killed by ${result.signal}` : `exit code ${result.code}`;
    throw new Error(`${command} failed (${how})${last ? `: ${last.trim()}` : ''}`);
  }
  return result;
}
