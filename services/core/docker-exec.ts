// Runs a command in a running container (docker exec) with an argument
// array, never a shell string, and hands its output over line by line; and
// the line splitting of every multiplexed Engine stream (exec, attach, logs).
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { LineSplitter } from './lines.ts';

/** The most of a command's stdout kept whole (bin/detect's name, bin/release's YAML are small). */
export const MAX_COLLECTED = 1024 * 1024;

export interface ExecOptions {
  env?: string[];
  workingDir?: string;
  /** Each line of stdout and stderr, interleaved as they come, without the newline. */
  onLine?: (line: string, from: 'stdout' | 'stderr') => void;
  /** Aborting stops waiting; the caller stops the container to stop the command. */
  signal?: AbortSignal;
}

export interface ExecResult {
  exitCode: number;
  /** stdout, its first MAX_COLLECTED characters (for small outputs such as bin/detect's and bin/release's). */
  stdout: string;
}

/**
 * Splits a byte stream into bounded lines (./lines.ts); the last one without
 * a newline is given at the end. `collect` gets the text itself, up to
 * MAX_COLLECTED characters.
 */
function lines(stream: PassThrough, onLine: (line: string) => void, collect?: string[]) {
  const splitter = new LineSplitter();
  let collected = 0;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    if (collect && collected < MAX_COLLECTED) {
      collect.push(chunk.slice(0, MAX_COLLECTED - collected));
      collected += chunk.length;
    }
    for (const line of splitter.push(chunk)) onLine(line);
  });
  return () => {
    for (const line of splitter.end()) onLine(line);
  };
}

/**
 * The lines of a multiplexed Engine stream (a container without a TTY:
 * attach, logs, exec), stdout and stderr interleaved as they come. Resolves
 * when the stream ends, after the last line (also one without a newline).
 */
export async function streamLines(
  modem: Docker['modem'],
  stream: NodeJS.ReadableStream,
  onLine: (line: string, from: 'stdout' | 'stderr') => void,
  collectStdout?: string[],
): Promise<void> {
  const out = new PassThrough();
  const err = new PassThrough();
  const endOut = lines(out, (l) => onLine(l, 'stdout'), collectStdout);
  const endErr = lines(err, (l) => onLine(l, 'stderr'));
  modem.demuxStream(stream, out, err);
  try {
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
  } finally {
    endOut();
    endErr();
  }
}

export async function execInContainer(
  container: Docker.Container,
  cmd: readonly string[],
  o: ExecOptions = {},
): Promise<ExecResult> {
  o.signal?.throwIfAborted();
  const exec = await container.exec({
    Cmd: [...cmd],
    AttachStdout: true,
    AttachStderr: true,
    ...(o.env ? { Env: o.env } : {}),
    ...(o.workingDir ? { WorkingDir: o.workingDir } : {}),
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const collected: string[] = [];
  const done = streamLines(container.modem, stream, (l, from) => o.onLine?.(l, from), collected);
  const onAbort = () => stream.destroy();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await done;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  o.signal?.throwIfAborted();
  const info = await exec.inspect();
  return { exitCode: info.ExitCode ?? -1, stdout: collected.join('') };
}
