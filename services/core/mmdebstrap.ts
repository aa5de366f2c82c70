// An image made from Debian's packages without a registry: mmdebstrap makes
// a root filesystem from the host's own apt sources (a container has no
// route to a mirror here; the host does) and writes it as a tar, streamed
// into the Engine's image import. The image is only completed when
// mmdebstrap exits 0, so a failure leaves no image.
//
// The stack image (infra/bootstrap/stack-image.ts) was the first user, with
// a copy of its own; the datastores' images (services/platform/datastores/)
// use this one, which also uploads files into the root filesystem (an entry
// point) before it is packed.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Transform, type TransformCallback } from 'node:stream';
import type Docker from 'dockerode';
import { followStream, removeImage } from './docker-images.ts';

export interface MmdebstrapImage {
  /** The Debian suite (bookworm, trixie), from the host's apt sources. */
  suite: string;
  /** Packages beyond the essentials (mmdebstrap leaves out their Recommends). */
  packages: readonly string[];
  /** Files copied into the root filesystem before it is packed, with their mode. */
  uploads?: readonly { source: string; target: string; mode: string }[];
  /** Dockerfile instructions for the image's configuration (CMD, ENV, LABEL, ...). */
  changes: readonly string[];
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

/**
 * Builds `image` into the Engine; its id and the bytes imported. `onLine`
 * gets mmdebstrap's lines and the import's progress as they come; a failure
 * throws with mmdebstrap's last line.
 */
export async function mmdebstrapImport(
  docker: Docker,
  image: MmdebstrapImage,
  o: { workDir: string; onLine: (line: string) => void },
): Promise<{ id: string; bytes: number }> {
  await mkdir(o.workDir, { recursive: true });
  const tmp = await mkdtemp(path.join(o.workDir, 'mmdebstrap-'));
  let child: ChildProcess | undefined;
  try {
    child = spawn('mmdebstrap', mmdebstrapArgs(image), {
      stdio: ['ignore', 'pipe', 'pipe'],
      // mmdebstrap makes the root filesystem in $TMPDIR before writing the tar.
      env: { ...process.env, TMPDIR: tmp },
    });
    const proc = child;
    const tail: string[] = [];
    if (proc.stderr) {
      createInterface({ input: proc.stderr }).on('line', (line) => {
        o.onLine(line);
        tail.push(line);
        if (tail.length > 20) tail.shift();
      });
    }
    const exited = new Promise<string | undefined>((resolve) => {
      proc.on('error', (e) =>
        resolve(
          (e as NodeJS.ErrnoException).code === 'ENOENT'
            ? 'mmdebstrap is not installed: apt-get install -y mmdebstrap (npm start installs it)'
            : e.message,
        ),
      );
      proc.on('close', (code, signal) => {
        if (code === 0) return resolve(undefined);
        const last = tail
          .filter((l) => l.trim() !== '')
          .at(-1)
          ?.trim();
        const how = signal ? `killed by ${signal}` : `exit code ${code}`;
        resolve(`mmdebstrap failed (${how})${last ? `: ${last}` : ''}`);
      });
    });

    let bytes = 0;
    let lastShown = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        bytes += chunk.length;
        if (Date.now() - lastShown > 500) {
          lastShown = Date.now();
          o.onLine(`importing: ${(bytes / 1e6).toFixed(0)} MB`);
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
      const stream = await docker.importImage(counter, { changes: [...image.changes] });
      let id: string | undefined;
      await followStream(docker, stream, (event) => {
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
      if (id) await removeImage(docker, id, true).catch(() => {});
      throw new Error(failure);
    }
    if (!id) throw new Error('the Engine did not say which image it imported');
    return { id, bytes };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await rm(tmp, { recursive: true, force: true });
  }
}
