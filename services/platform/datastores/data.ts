// What goes in and out of a running datastore through `docker exec` in its
// container: export (the kind's dump to stdout), import (its restore, from
// stdin, bounded), connect (its client on the person's terminal), enter (a
// shell there) and logs.
// The commands run as the kind's entry point has them, over the server's
// local socket, so no password travels.
import { type Duplex, Transform } from 'node:stream';
import type Docker from 'dockerode';
import { BerthError } from '../../core/errors.ts';
import type { Datastore } from '../../core/store/index.ts';
import type { ClientTerminal, TerminalSize } from '../../core/terminal.ts';
import type { DatastoreKind } from './kind.ts';
import { type EngineDeps, lastLines, serverName, serverState } from './server.ts';

/** The most an import reads: past this it is refused, and nothing is changed. */
export const IMPORT_MAX_BYTES = 4 * 1024 * 1024 * 1024;

async function running(d: EngineDeps, kind: DatastoreKind, ds: Datastore) {
  if ((await serverState(d, ds)).status !== 'running') {
    throw new BerthError('BERTH_E_DATASTORE_STOPPED', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
    });
  }
  return d.docker.getContainer(serverName(ds.kind, ds.name));
}

/** Keeps the last `max` characters written to it (an error's reason). */
function tailOf(max = 2000) {
  let text = '';
  return {
    stream: {
      write(chunk: Buffer | string) {
        text = (text + chunk.toString()).slice(-max);
        return true;
      },
      end() {},
      on() {},
      once() {},
      emit() {},
    } as unknown as NodeJS.WritableStream,
    text: () => text,
  };
}

/** Runs `cmd` in the server, stdin from `input` when given; its exit code and last stderr. */
export async function execStream(
  container: Docker.Container,
  cmd: readonly string[],
  io: { stdin?: NodeJS.ReadableStream; stdout: NodeJS.WritableStream },
  signal: AbortSignal,
): Promise<{ exitCode: number; stderr: string }> {
  const exec = await container.exec({
    Cmd: [...cmd],
    AttachStdin: io.stdin !== undefined,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = (await exec.start({ hijack: true, stdin: io.stdin !== undefined })) as Duplex;
  const err = tailOf();
  container.modem.demuxStream(stream, io.stdout, err.stream);
  const ended = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', reject);
  });
  const onAbort = () => stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (io.stdin) io.stdin.pipe(stream);
    await ended;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  signal.throwIfAborted();
  const info = await exec.inspect();
  return { exitCode: info.ExitCode ?? -1, stderr: err.text().trim() };
}

/** export: the kind's dump of the whole datastore, to `out`. */
export async function exportDatastore(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Datastore,
  out: NodeJS.WritableStream,
  signal: AbortSignal,
): Promise<void> {
  const container = await running(d, kind, ds);
  const r = await execStream(container, kind.dumpCommand, { stdout: out }, signal);
  if (r.exitCode !== 0) {
    throw new BerthError('BERTH_E_DATASTORE_START', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
      reason: `its dump failed (exit ${r.exitCode}): ${lastLine(r.stderr)}`,
    });
  }
}

/**
 * import: a dump export made, from `input` (at most IMPORT_MAX_BYTES), into
 * the datastore in one transaction: anything wrong with it (not a dump, cut
 * short, too big) is refused with the restore's own line, and nothing changes.
 */
export async function importDatastore(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Datastore,
  input: NodeJS.ReadableStream,
  signal: AbortSignal,
  maxBytes = IMPORT_MAX_BYTES,
): Promise<void> {
  const container = await running(d, kind, ds);
  let bytes = 0;
  const tooBig = new AbortController();
  const bounded = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      // Cut off: the restore sees a dump cut short and its transaction rolls back.
      if (bytes > maxBytes) {
        tooBig.abort();
        done();
        return;
      }
      done(null, chunk);
    },
  });
  input.pipe(bounded);
  const out = tailOf();
  const r = await execStream(
    container,
    kind.restoreCommand,
    { stdin: bounded, stdout: out.stream },
    AbortSignal.any([signal, tooBig.signal]),
  ).catch((e: unknown) => {
    if (tooBig.signal.aborted) return { exitCode: -1, stderr: '' };
    throw e;
  });
  input.unpipe(bounded);
  if (tooBig.signal.aborted || r.exitCode !== 0) {
    throw new BerthError('BERTH_E_DATASTORE_IMPORT', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
      reason: tooBig.signal.aborted
        ? `it is larger than ${maxBytes} bytes`
        : lastLine(r.stderr) || `the restore exited with ${r.exitCode}`,
    });
  }
}

export const lastLine = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .at(-1)
    ?.slice(0, 300) ?? '';

/** What connect and enter attach to: the person's stdin, stdout, stderr and terminal (ssh -t). */
export interface AttachIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  terminal?: ClientTerminal;
}

/**
 * connect: the kind's client in the server's container, on the person's
 * terminal (ssh -t) or, without one, on their stdin and stdout (SQL piped
 * in); its exit code.
 */
export function connectDatastore(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Datastore,
  io: AttachIo,
  signal: AbortSignal,
): Promise<number> {
  return attachToServer(d, kind, ds, kind.clientCommand, io, signal);
}

/**
 * enter: a shell in the server's container (bash on a terminal, sh reading
 * stdin without one), or `command` as given (an argument array, no shell);
 * its exit code.
 */
export function enterDatastore(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Datastore,
  command: readonly string[],
  io: AttachIo,
  signal: AbortSignal,
): Promise<number> {
  const cmd = command.length > 0 ? command : io.terminal ? ['/bin/bash', '-l'] : ['/bin/sh'];
  return attachToServer(d, kind, ds, cmd, io, signal);
}

/** `cmd` in the server's container on the person's terminal, or their stdin and stdout. */
async function attachToServer(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Datastore,
  cmd: readonly string[],
  io: AttachIo,
  signal: AbortSignal,
): Promise<number> {
  const container = await running(d, kind, ds);
  const { terminal } = io;
  if (!terminal) {
    const r = await execStream(container, cmd, { stdin: io.stdin, stdout: io.stdout }, signal);
    if (r.stderr) io.stderr.write(`${r.stderr}\n`);
    return r.exitCode;
  }
  const exec = await container.exec({
    Cmd: [...cmd],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: true,
    Env: [`TERM=${terminal.term}`],
  });
  const stream = (await exec.start({ hijack: true, stdin: true, Tty: true })) as Duplex;
  const resize = ({ rows, cols }: TerminalSize) =>
    rows > 0 && cols > 0 ? exec.resize({ h: rows, w: cols }).catch(() => {}) : Promise.resolve();
  await resize(terminal.size);
  const unsubscribe = terminal.onResize((size) => void resize(size));
  const onAbort = () => stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    stream.pipe(terminal.output, { end: false });
    io.stdin.pipe(stream);
    await new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
  } finally {
    unsubscribe();
    io.stdin.unpipe(stream);
    signal.removeEventListener('abort', onAbort);
  }
  return (await exec.inspect()).ExitCode ?? 0;
}

/** logs: the server's last `tail` lines, then (follow) each new one until the signal aborts. */
export async function datastoreLogs(
  d: EngineDeps,
  ds: Datastore,
  o: { tail: number; follow: boolean; signal: AbortSignal },
  out: NodeJS.WritableStream,
): Promise<void> {
  const container = d.docker.getContainer(serverName(ds.kind, ds.name));
  if (!o.follow) {
    for (const line of await lastLines(d, ds, o.tail)) out.write(`${line}\n`);
    return;
  }
  const stream = (await container.logs({
    stdout: true,
    stderr: true,
    tail: o.tail,
    follow: true,
  })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  container.modem.demuxStream(stream, out, out);
  const onAbort = () => stream.destroy();
  o.signal.addEventListener('abort', onAbort, { once: true });
  await new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  o.signal.removeEventListener('abort', onAbort);
}
