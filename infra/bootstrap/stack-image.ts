// The stack image: the Debian 12 (bookworm) image that builds and apps run on.
// Where a registry answers, it is debian:bookworm-slim plus Berth's labels;
// where none does (the usual case here), a root filesystem made by mmdebstrap
// from the host's own apt sources, imported into the Engine. It is built once
// and kept: ensureStackImage returns in milliseconds when it exists.
//
// The image is also tagged debian:bookworm-slim when nothing has that tag, so
// that ordinary Dockerfiles (FROM debian:bookworm-slim) build offline; a
// debian:bookworm-slim of the user's own is never replaced.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Transform, type TransformCallback } from 'node:stream';
import type Docker from 'dockerode';
import { describeDockerError, LABELS, MANAGED_LABELS } from '../../services/core/docker.ts';
import {
  followStream,
  inspectImage,
  removeImage,
  tagImage,
  tryPull,
} from '../../services/core/docker-images.ts';
import { BerthError } from '../../services/core/errors.ts';
import type { Progress, Step } from './progress.ts';

export const STACK = 'bookworm';
/** The Debian 12 release the stack is; /etc/debian_version starts with it. */
export const STACK_DEBIAN_VERSION = '12';
/** The public image the stack is equivalent to, tagged so that Dockerfiles build offline. */
export const BASE_IMAGE = 'debian:bookworm-slim';

/**
 * The labels on the stack image. Not berth.managed: image labels are inherited,
 * so every image a user builds FROM debian:bookworm-slim would carry it, and a
 * clean-up by that label could delete the user's images.
 */
export const STACK_LABELS: Readonly<Record<string, string>> = Object.freeze({
  [LABELS.stack]: STACK,
});

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The image configuration: what debian:bookworm-slim has, and Berth's labels. */
const IMAGE_CHANGES = [
  'CMD ["bash"]',
  `ENV ${PATH_ENV}`,
  'ENV LANG=C.UTF-8',
  `LABEL ${Object.entries(STACK_LABELS)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}`,
];

export interface EnsureStackImageOptions {
  docker: Docker;
  /** The tag to give it (Config.stackImage, berth/stack:bookworm by default). */
  image: string;
  progress: Progress;
  /** Build it again even when it exists (`berth stack:rebuild`). */
  rebuild?: boolean;
  /** Scratch space for mmdebstrap (it builds the root filesystem here first). */
  workDir: string;
  /** How long a pull may go without an answer from the registry (default 5 s). */
  pullTimeoutMs?: number;
  /** Try a registry first (default true); false goes straight to mmdebstrap. */
  pull?: boolean;
}

export interface StackImageResult {
  /** sha256:... of the image tagged `image`. */
  imageId: string;
  /**
   * existing: nothing was built; pulled: on debian:bookworm-slim from a registry;
   * local-base: on a debian:bookworm-slim the machine already had (not Berth's);
   * mmdebstrap: a root filesystem made here from the host's apt sources.
   */
  source: 'existing' | 'pulled' | 'local-base' | 'mmdebstrap';
  durationMs: number;
  /** The image debian:bookworm-slim points to now (undefined: none). */
  baseImageId: string | undefined;
  /** The stack image this one replaced, when it could be removed. */
  removedImageId?: string;
}

/** Makes sure `image` exists, building it when it does not (or when asked to). */
export async function ensureStackImage(o: EnsureStackImageOptions): Promise<StackImageResult> {
  const started = Date.now();
  const { docker, image, progress } = o;
  const old = await inspectImage(docker, image);
  if (old && !o.rebuild) {
    const baseImageId = await tagBaseIfFree(docker, old.Id, undefined);
    return { imageId: old.Id, source: 'existing', durationMs: Date.now() - started, baseImageId };
  }

  const step = progress.step(
    `${old ? 'Rebuilding' : 'Building'} the stack image ${image} (Debian 12)`,
  );
  let built: Built | undefined;
  try {
    built = await buildStack(o, step);
    step.update(`checking ${shortId(built.id)}`);
    await verifyStack(docker, built.id);
    await tagImage(docker, built.id, image);
  } catch (e) {
    // Leave nothing half-made: the new image was not tagged, so it goes.
    if (built) await removeImage(docker, built.id, true).catch(() => {});
    const reason = e instanceof BerthError ? e.message : describeDockerError(e);
    step.fail(reason);
    throw new BerthError('BERTH_E_STACK_BUILD', { image, reason }, { cause: e });
  }
  const baseImageId = await tagBaseIfFree(docker, built.id, old?.Id);
  let removedImageId: string | undefined;
  if (old && old.Id !== built.id) {
    // Still tagged elsewhere, or used by a container or a child image: the Engine refuses, and it stays.
    if (await removeImage(docker, old.Id, false).catch(() => false)) removedImageId = old.Id;
    else progress.info(`kept the previous stack image ${shortId(old.Id)}: still in use`);
  }
  const durationMs = Date.now() - started;
  step.done(`${shortId(built.id)} from ${built.source}${built.detail ? `, ${built.detail}` : ''}`);
  return {
    imageId: built.id,
    source: built.source,
    durationMs,
    baseImageId,
    ...(removedImageId ? { removedImageId } : {}),
  };
}

interface Built {
  id: string;
  source: StackImageResult['source'];
  /** Shown when the step ends. */
  detail?: string;
}

async function buildStack(o: EnsureStackImageOptions, step: Step): Promise<Built> {
  const { docker } = o;
  const base = await inspectImage(docker, BASE_IMAGE);
  const baseIsOurs = base?.Config?.Labels?.[LABELS.stack] !== undefined;
  const usersBase = base !== undefined && !baseIsOurs;
  let pullFailure = 'pulling was not tried';
  // A debian:bookworm-slim of the user's own is used as it is, except that a
  // rebuild first asks the registry for the current one.
  if (o.pull !== false && (!usersBase || o.rebuild)) {
    step.update(`pulling ${BASE_IMAGE}`);
    const pulled = await tryPull(docker, BASE_IMAGE, o.pullTimeoutMs ?? 5000, (line) =>
      step.update(line),
    );
    if (pulled.ok) return { id: await buildOnBase(o, step), source: 'pulled' };
    pullFailure = pulled.reason;
    step.update(`no registry (${pulled.reason})`);
  }
  if (usersBase) {
    step.update(`building on the local ${BASE_IMAGE} ${shortId(base.Id)}`);
    return { id: await buildOnBase(o, step), source: 'local-base' };
  }
  step.update('building with mmdebstrap');
  const { id, bytes } = await mmdebstrapImport(o, step, pullFailure);
  return { id, source: 'mmdebstrap', detail: `${(bytes / 1e6).toFixed(0)} MB imported` };
}

/** debian:bookworm-slim with the stack's configuration and labels (an offline build). */
async function buildOnBase(o: EnsureStackImageOptions, step: Step): Promise<string> {
  const dir = await mkdtemp(path.join(await ensureDir(o.workDir), 'stack-build-'));
  try {
    const dockerfile = [`FROM ${BASE_IMAGE}`, ...IMAGE_CHANGES].join('\n');
    await writeFile(path.join(dir, 'Dockerfile'), `${dockerfile}\n`);
    const stream = await o.docker.buildImage(
      { context: dir, src: ['Dockerfile'] },
      { rm: true, forcerm: true, labels: { ...STACK_LABELS } },
    );
    let id: string | undefined;
    await followStream(o.docker, stream, (event) => {
      if (event.aux?.ID) id = event.aux.ID;
      if (event.stream) step.update(event.stream);
    });
    if (!id) throw new Error('the build gave no image id');
    return id;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * `mmdebstrap --variant=apt bookworm -` (the host's apt sources, a tar on
 * stdout) streamed into the Engine's image import. The import is only
 * completed when mmdebstrap exits 0, so a failure leaves no image.
 */
async function mmdebstrapImport(
  o: EnsureStackImageOptions,
  step: Step,
  pullFailure: string,
): Promise<{ id: string; bytes: number }> {
  const tmp = await mkdtemp(path.join(await ensureDir(o.workDir), 'mmdebstrap-'));
  let child: ChildProcess | undefined;
  try {
    child = spawn('mmdebstrap', ['--variant=apt', STACK, '-'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // mmdebstrap makes the root filesystem in $TMPDIR before writing the tar.
      env: { ...process.env, TMPDIR: tmp },
    });
    const proc = child;
    const tail: string[] = [];
    if (proc.stderr) {
      createInterface({ input: proc.stderr }).on('line', (line) => {
        step.update(line);
        tail.push(line);
        if (tail.length > 20) tail.shift();
      });
    }
    const exited = new Promise<string | undefined>((resolve) => {
      proc.on('error', (e) =>
        resolve(
          (e as NodeJS.ErrnoException).code === 'ENOENT'
            ? `mmdebstrap is not installed (apt-get install -y mmdebstrap), and ${BASE_IMAGE} could not be pulled: ${pullFailure}`
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
          step.update(`importing: ${(bytes / 1e6).toFixed(0)} MB`);
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
      const stream = await o.docker.importImage(counter, { changes: IMAGE_CHANGES });
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
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Runs `cat /etc/debian_version` in the new image: it must say Debian 12. */
async function verifyStack(docker: Docker, id: string): Promise<void> {
  const container = await docker.createContainer({
    Image: id,
    Cmd: ['cat', '/etc/debian_version'],
    Tty: true,
    Labels: { ...MANAGED_LABELS },
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    await container.start().catch((e: unknown) => {
      throw new Error(`the new image does not run: ${describeDockerError(e)}`);
    });
    const result = (await container.wait()) as { StatusCode: number };
    const out = ((await container.logs({ stdout: true, stderr: true })) as Buffer)
      .toString()
      .trim();
    if (result.StatusCode !== 0 || !out.startsWith(`${STACK_DEBIAN_VERSION}.`)) {
      throw new Error(
        `the new image is not Debian ${STACK_DEBIAN_VERSION}: cat /etc/debian_version said "${out}" (exit ${result.StatusCode})`,
      );
    }
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

/**
 * Tags `id` as debian:bookworm-slim when nothing has that tag, or when it is
 * an earlier stack image of ours (`previousId`, or one labelled berth.stack).
 * Returns what the tag points to afterwards.
 */
async function tagBaseIfFree(
  docker: Docker,
  id: string,
  previousId: string | undefined,
): Promise<string | undefined> {
  const base = await inspectImage(docker, BASE_IMAGE);
  if (base?.Id === id) return id;
  const ours =
    base && (base.Id === previousId || base.Config?.Labels?.[LABELS.stack] !== undefined);
  if (base && !ours) return base.Id;
  await tagImage(docker, id, BASE_IMAGE);
  return id;
}

async function ensureDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  return dir;
}

const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);
