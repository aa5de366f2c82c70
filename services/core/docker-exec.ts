// Runs a command in a running container (docker exec) with an argument
// array, never a shell string, and hands its output over line by line.
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';

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
  /** The whole of stdout (for small outputs such as bin/detect's and bin/release's). */
  stdout: string;
}

/** Splits a byte stream into lines; the last one without a newline is given at the end. */
function lines(stream: PassThrough, onLine: (line: string) => void, collect?: string[]) {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    collect?.push(chunk);
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) onLine(p.replace(/\r$/, ''));
  });
  return () => {
    if (rest !== '') onLine(rest);
    rest = '';
  };
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
  const out = new PassThrough();
  const err = new PassThrough();
  const collected: string[] = [];
  const endOut = lines(out, (l) => o.onLine?.(l, 'stdout'), collected);
  const endErr = lines(err, (l) => o.onLine?.(l, 'stderr'));
  container.modem.demuxStream(stream, out, err);
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      stream.destroy();
      reject(o.signal?.reason);
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      o.signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', (e) => {
      o.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
  });
  endOut();
  endErr();
  const info = await exec.inspect();
  return { exitCode: info.ExitCode ?? -1, stdout: collected.join('') };
}
