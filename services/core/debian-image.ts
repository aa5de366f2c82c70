// A Debian root filesystem made by mmdebstrap on the host, streamed into the
// Docker Engine's image import: how the stack image, the toolchain images
// and the datastore images are all made. mmdebstrap runs on the host because
// the host's apt reaches a mirror and containers here reach none.
//
// The import is completed only when mmdebstrap exits 0 (the tar's end is
// held back until then), so a failure leaves no image behind.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { followStream, removeImage } from './docker-images.ts';

const execFileP = promisify(execFile);

/** An image described by what it is made of, for mmdebstrapArgs. */
export interface MmdebstrapImage {
  /** The Debian suite (bookworm, trixie), from the host's apt sources. */
  suite: string;
  /** Packages beyond the essentials (mmdebstrap leaves out their Recommends). */
  packages: readonly string[];
  /** Files copied into the root filesystem before it is packed, with their mode (an entry point). */
  uploads?: readonly { source: string; target: string; mode: string }[];
}

/** mmdebstrap's arguments for `image`: a tar on stdout. */
export function mmdebstrapArgs(image: MmdebstrapImage): string[] {
  const hooks = (image.uploads ?? []).flatMap((u) => [
    `--customize-hook=upload ${u.source} ${u.target}`,
    // "$1" is the root filesystem: mmdebstrap runs the hook with sh.
    `--customize-hook=chmod ${u.mode} "$1${u.target}"`,
  ]);
  return [
    '--variant=apt',
    ...(image.packages.length > 0 ? [`--include=${image.packages.join(',')}`] : []),
    ...hooks,
    image.suite,
    '-',
  ];
}

export interface DebianImportOptions {
  docker: Docker;
  /** mmdebstrap's arguments, ending with the suite, `-` (a tar on stdout) and any archive lines. */
  args: readonly string[];
  /** Scratch space for the root filesystem mmdebstrap makes before its tar (a few hundred MB). */
  workDir: string;
  /** Dockerfile instructions for the import (CMD, ENV, LABEL). */
  changes: readonly string[];
  /** Each of mmdebstrap's own step lines ("downloading packages with apt..."), and the import's size. */
  onLine: (line: string) => void;
  /** Every line of mmdebstrap's, for callers that show all of it. */
  onRawLine?: (line: string) => void;
  signal?: AbortSignal;
}

/** Runs mmdebstrap into the Engine's import; resolves with the new image's id and size. */
export async function importDebianRootfs(
  o: DebianImportOptions,
): Promise<{ id: string; bytes: number }> {
  await mkdir(o.workDir, { recursive: true });
  const tmp = await mkdtemp(path.join(o.workDir, 'mmdebstrap-'));
  let child: ChildProcess | undefined;
  let failed = false;
  const kill = () => child?.kill('SIGTERM');
  o.signal?.addEventListener('abort', kill, { once: true });
  try {
    child = spawn('mmdebstrap', [...o.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // mmdebstrap makes the root filesystem in $TMPDIR before writing the tar.
      env: { ...process.env, TMPDIR: tmp },
    });
    const proc = child;
    const tail: string[] = [];
    if (proc.stderr) {
      createInterface({ input: proc.stderr }).on('line', (line) => {
        o.onRawLine?.(line);
        if (/^I: /.test(line)) o.onLine(line.slice(3));
        tail.push(line);
        if (tail.length > 20) tail.shift();
      });
    }
    const exited = new Promise<string | undefined>((resolve) => {
      proc.on('error', (e) =>
        resolve(
          (e as NodeJS.ErrnoException).code === 'ENOENT'
            ? 'mmdebstrap is not installed on the server: apt-get install -y mmdebstrap (npm start installs it)'
            : e.message,
        ),
      );
      proc.on('close', (code, signal) => {
        if (code === 0) return resolve(undefined);
        const last =
          tail.filter((l) => /^E: /.test(l)).at(-1) ?? tail.filter((l) => l.trim()).at(-1);
        const how = signal ? `killed by ${signal}` : `exit code ${code}`;
        resolve(`mmdebstrap failed (${how})${last ? `: ${last.trim()}` : ''}`);
      });
    });

    let bytes = 0;
    let shown = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        bytes += chunk.length;
        if (bytes - shown > 100e6) {
          shown = bytes;
          o.onLine(`importing into the Engine: ${(bytes / 1e6).toFixed(0)} MB`);
        }
        done(null, chunk);
      },
      // The end of the tar reaches the Engine only once mmdebstrap succeeded.
      flush(done: TransformCallback) {
        exited.then((failure) => done(failure ? new Error(failure) : null));
      },
    });
    if (!proc.stdout) throw new Error('mmdebstrap has no stdout');
    proc.stdout.pipe(counter);

    const importFailed = new Promise<never>((_, reject) => counter.on('error', reject));
    const importing = (async () => {
      const stream = await o.docker.importImage(counter, { changes: [...o.changes] });
      let id: string | undefined;
      await followStream(o.docker, stream, (event) => {
        if (event.status && /^sha256:[0-9a-f]{64}$/.test(event.status)) id = event.status;
      });
      return id;
    })();
    // Whichever loses the race must not become an unhandled rejection.
    importing.catch(() => {});
    importFailed.catch(() => {});
    const id = await Promise.race([importing, importFailed]);
    const failure = await exited;
    if (failure) {
      if (id) await removeImage(o.docker, id, true).catch(() => {});
      throw new Error(failure);
    }
    if (!id) throw new Error('the Engine did not say which image it imported');
    return { id, bytes };
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', kill);
    // mmdebstrap unmounts what it mounted in its root (/proc, /sys) on its
    // way out: its directory goes once it has exited (bounded), or rm meets
    // those mounts (EBUSY) and its error takes the place of the one that
    // ended the import (a timeout, a failed download).
    const running = child;
    if (running && running.exitCode === null && running.signalCode === null) {
      const gone = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGTERM');
      const late = setTimeout(() => running.kill('SIGKILL'), 30_000);
      await gone;
      clearTimeout(late);
    }
    // Killed while setting up, mmdebstrap may leave its chroot's /proc and
    // /sys mounted all the same.
    await unmountUnder(tmp);
    await rm(tmp, { recursive: true, force: true }).catch((e: unknown) => {
      if (!failed) throw e;
    });
  }
}

/** Lazily unmounts every mount point at or under `dir`, deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of points) {
    await execFileP('umount', ['-l', point]).catch(() => {});
  }
}
