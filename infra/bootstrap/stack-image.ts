// The stack image: the Debian 12 (bookworm) image that builds and apps run on.
// A root filesystem made by mmdebstrap from the host's own apt sources, with
// the packages the buildpacks need (STACK_PACKAGES), imported into the Engine.
// It is built once and kept: ensureStackImage returns in milliseconds when it
// exists and carries the revision of this package list; an image made from
// another list (or before there was one) is rebuilt and replaced.
//
// It is always mmdebstrap, even where a registry would answer: a pulled
// debian:bookworm-slim lacks the packages, and installing them needs apt in a
// container, which has no route to a mirror here. mmdebstrap runs on the
// host, which does.
//
// The image is also tagged debian:bookworm-slim when nothing has that tag, so
// that ordinary Dockerfiles (FROM debian:bookworm-slim) build offline; a
// debian:bookworm-slim of the user's own is never replaced.
import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import { importDebianRootfs } from '../../services/core/debian-image.ts';
import { describeDockerError, LABELS, MANAGED_LABELS } from '../../services/core/docker.ts';
import { inspectImage, removeImage, tagImage } from '../../services/core/docker-images.ts';
import { BerthError } from '../../services/core/errors.ts';
import type { Progress, Step } from './progress.ts';

export const STACK = 'bookworm';
/** The Debian 12 release the stack is; /etc/debian_version starts with it. */
export const STACK_DEBIAN_VERSION = '12';
/** The public image the stack is equivalent to, tagged so that Dockerfiles build offline. */
export const BASE_IMAGE = 'debian:bookworm-slim';

/**
 * What the buildpacks (buildpacks/) need from the stack, installed without
 * their Recommends (mmdebstrap's default) to keep the image small:
 * python3 and python3-venv (the venv's pip comes from python3-venv's wheels)
 * for the python buildpack, nginx-light for the static buildpack's server,
 * ca-certificates for HTTPS package indexes and apps' own HTTPS requests,
 * libatomic1 for Node.js 26 and later (their binaries link it).
 * Changing this list changes STACK_REVISION, so every machine rebuilds its
 * stack at its next start.
 */
export const STACK_PACKAGES: readonly string[] = Object.freeze([
  'ca-certificates',
  'libatomic1',
  'nginx-light',
  'python3',
  'python3-venv',
]);

/** mmdebstrap's arguments: the host's apt sources, a tar on stdout. */
const MMDEBSTRAP_ARGS: readonly string[] = [
  '--variant=apt',
  `--include=${STACK_PACKAGES.join(',')}`,
  STACK,
  '-',
];

/**
 * Names what the image is made of: a hash of mmdebstrap's arguments (suite,
 * variant, package list). An image whose berth.stack.revision differs, or that
 * has none (made before the stack had packages), is out of date.
 */
export const STACK_REVISION = createHash('sha256')
  .update(MMDEBSTRAP_ARGS.join('\0'))
  .digest('hex')
  .slice(0, 12);

/**
 * The labels on the stack image. Not berth.managed: image labels are inherited,
 * so every image a user builds FROM debian:bookworm-slim would carry it, and a
 * clean-up by that label could delete the user's images. (The revision is
 * inherited too, which tells which stack an app image was built on.)
 */
export const STACK_LABELS: Readonly<Record<string, string>> = Object.freeze({
  [LABELS.stack]: STACK,
  [LABELS.stackRevision]: STACK_REVISION,
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
  /**
   * Also tag it debian:bookworm-slim by the rules above (default true). False
   * leaves that tag alone: a stack under a tag of its own (a test's, on an
   * Engine shared with a running Berth) must not move the machine's.
   */
  tagBase?: boolean;
}

export interface StackImageResult {
  /** sha256:... of the image tagged `image`. */
  imageId: string;
  /**
   * existing: nothing was built (the image has the current revision);
   * mmdebstrap: a root filesystem made here from the host's apt sources.
   */
  source: 'existing' | 'mmdebstrap';
  /** STACK_REVISION, which the image now carries. */
  revision: string;
  durationMs: number;
  /** The image debian:bookworm-slim points to now (undefined: none). */
  baseImageId: string | undefined;
  /** The stack image this one replaced, when it could be removed. */
  removedImageId?: string;
}

/**
 * Makes sure `image` exists with the current STACK_REVISION, building it when
 * it does not exist, is of another revision, or when asked to.
 */
export async function ensureStackImage(o: EnsureStackImageOptions): Promise<StackImageResult> {
  const started = Date.now();
  const { docker, image, progress } = o;
  const tagBase = o.tagBase ?? true;
  const old = await inspectImage(docker, image);
  const oldRevision = old?.Config?.Labels?.[LABELS.stackRevision];
  if (old && !o.rebuild && oldRevision === STACK_REVISION) {
    const baseImageId = tagBase
      ? await tagBaseIfFree(docker, old.Id, undefined)
      : (await inspectImage(docker, BASE_IMAGE))?.Id;
    return {
      imageId: old.Id,
      source: 'existing',
      revision: STACK_REVISION,
      durationMs: Date.now() - started,
      baseImageId,
    };
  }

  const why =
    old && !o.rebuild
      ? `, its packages changed: revision ${oldRevision ?? '(none)'} → ${STACK_REVISION}`
      : '';
  const step = progress.step(
    `${old ? 'Rebuilding' : 'Building'} the stack image ${image} (Debian 12${why})`,
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
  const baseImageId = tagBase
    ? await tagBaseIfFree(docker, built.id, old?.Id)
    : (await inspectImage(docker, BASE_IMAGE))?.Id;
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
    revision: STACK_REVISION,
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
  step.update(`building with mmdebstrap (${STACK_PACKAGES.join(', ')})`);
  const { id, bytes } = await mmdebstrapImport(o, step);
  return { id, source: 'mmdebstrap', detail: `${(bytes / 1e6).toFixed(0)} MB imported` };
}

/**
 * `mmdebstrap --variant=apt --include=... bookworm -` (the host's apt sources,
 * a tar on stdout) into the Engine's image import (core/debian-image.ts),
 * every line of mmdebstrap's shown as the step's progress.
 */
function mmdebstrapImport(
  o: EnsureStackImageOptions,
  step: Step,
): Promise<{ id: string; bytes: number }> {
  return importDebianRootfs({
    docker: o.docker,
    args: MMDEBSTRAP_ARGS,
    workDir: o.workDir,
    changes: IMAGE_CHANGES,
    onLine: (line) => {
      if (line.startsWith('importing')) step.update(line);
    },
    onRawLine: (line) => step.update(line),
  });
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
    await container.remove({ force: true, v: true }).catch(() => {});
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

const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);
