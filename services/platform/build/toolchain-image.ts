// A toolchain image (./toolchains.ts): the stack's packages plus one
// language's, from the Debian suite that carries the version, made the way
// the stack image is (infra/bootstrap/stack-image.ts): mmdebstrap on the
// host, where apt reaches a mirror (build containers reach none), streamed
// into the Engine's image import. Made once, on the first build that needs
// it (about a minute or two, shown in the push), labelled with a revision
// of what it was made from, and kept: later builds find it in milliseconds.
// A list changed in a new Berth changes the revision, and the image is made
// again. Toolchain images are not any app's: retention and apps:destroy
// leave them, as they leave the stack.
import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import { importDebianRootfs } from '../../core/debian-image.ts';
import { describeDockerError, LABELS, MANAGED_LABELS } from '../../core/docker.ts';
import { inspectImage, removeImage, tagImage } from '../../core/docker-images.ts';
import { BerthError } from '../../core/errors.ts';
import { STACK_BASE_PACKAGES, SUITES, type Toolchain } from './toolchains.ts';

/** mmdebstrap's arguments for a toolchain: its suite's archive lines, a tar on stdout. */
export function mmdebstrapArgs(t: Toolchain): string[] {
  const suite = SUITES[t.suite];
  return ['--variant=apt', `--include=${t.packages.join(',')}`, suite.release, '-', ...suite.lines];
}

/** A hash of what the image is made of; an image labelled otherwise is made again. */
export function toolchainRevision(t: Toolchain): string {
  return createHash('sha256').update(mmdebstrapArgs(t).join('\0')).digest('hex').slice(0, 12);
}

/** The command that prints the version the image carries (checked before it is tagged). */
function versionCommand(t: Toolchain): string[] {
  switch (t.language) {
    case 'go':
      return [`/usr/lib/go-${t.version}/bin/go`, 'version'];
    case 'ruby':
      return ['ruby', '-e', 'print RUBY_VERSION'];
    case 'php':
      return ['php', '-r', 'echo PHP_VERSION;'];
    case 'python':
      return ['python3', '-c', 'import platform; print(platform.python_version())'];
  }
}

export interface ToolchainImageOptions {
  docker: Docker;
  toolchain: Toolchain;
  /** Scratch space for mmdebstrap's root filesystem (a few hundred MB). */
  workDir: string;
  /** Progress, one line at a time (the push shows them). */
  onLine: (line: string) => void;
  signal: AbortSignal;
}

/** Two builds that need the same image at once wait for one making of it. */
const making = new Map<string, Promise<{ ref: string; made: boolean; version: string }>>();

/** The toolchain's image, made now when it is missing or of another revision. */
export async function ensureToolchainImage(
  o: ToolchainImageOptions,
): Promise<{ ref: string; made: boolean; version: string }> {
  const { docker, toolchain: t } = o;
  const revision = toolchainRevision(t);
  const have = await inspectImage(docker, t.ref);
  const labels = have?.Config?.Labels ?? {};
  if (have && labels[LABELS.toolchainRevision] === revision) {
    return { ref: t.ref, made: false, version: t.version };
  }
  let pending = making.get(t.ref);
  if (!pending) {
    pending = makeImage(o, revision, have?.Id).finally(() => making.delete(t.ref));
    making.set(t.ref, pending);
  }
  return pending;
}

async function makeImage(
  o: ToolchainImageOptions,
  revision: string,
  oldId: string | undefined,
): Promise<{ ref: string; made: boolean; version: string }> {
  const { docker, toolchain: t, onLine } = o;
  const started = Date.now();
  onLine(
    `Making the toolchain image ${t.ref} (${t.title}), once for every app that asks for it: mmdebstrap ${t.suite} with ${t.packages.slice(STACK_BASE_PACKAGES.length).join(', ') || 'python3'}`,
  );
  let id: string | undefined;
  try {
    id = await mmdebstrapImport(o, revision);
    const version = await verify(docker, id, t);
    await tagImage(docker, id, t.ref);
    // The previous revision goes unless an app image still builds on it (the Engine refuses then).
    if (oldId && oldId !== id) await removeImage(docker, oldId, false).catch(() => {});
    onLine(`Made ${t.ref}: ${version}, in ${Math.round((Date.now() - started) / 1000)} s`);
    return { ref: t.ref, made: true, version };
  } catch (e) {
    if (id) await removeImage(docker, id, true).catch(() => {});
    if (o.signal.aborted) throw o.signal.reason;
    const reason = e instanceof BerthError ? e.message : describeDockerError(e);
    throw new BerthError(
      'BERTH_E_BUILD_FAILED',
      { where: `the toolchain image ${t.ref}`, reason },
      { cause: e },
    );
  }
}

/** mmdebstrap's tar into the Engine's import (core/debian-image.ts), labelled with the revision. */
async function mmdebstrapImport(o: ToolchainImageOptions, revision: string): Promise<string> {
  const { toolchain: t } = o;
  const { id } = await importDebianRootfs({
    docker: o.docker,
    args: mmdebstrapArgs(t),
    workDir: o.workDir,
    changes: [
      'CMD ["bash"]',
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'ENV LANG=C.UTF-8',
      `LABEL ${LABELS.toolchain}=${t.language}-${t.version} ${LABELS.toolchainRevision}=${revision}`,
    ],
    onLine: o.onLine,
    signal: o.signal,
  });
  return id;
}

/** Runs the toolchain's version command in the new image; it must name the version. */
async function verify(docker: Docker, id: string, t: Toolchain): Promise<string> {
  const container = await docker.createContainer({
    Image: id,
    Cmd: versionCommand(t),
    Tty: true,
    Labels: { ...MANAGED_LABELS },
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    await container.start();
    const result = (await container.wait()) as { StatusCode: number };
    const out = ((await container.logs({ stdout: true, stderr: true })) as Buffer)
      .toString()
      .trim();
    const version = /(\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1] ?? '';
    if (result.StatusCode !== 0 || !version.startsWith(`${t.version}.`)) {
      throw new Error(
        `the new image does not carry ${t.title}: ${versionCommand(t).join(' ')} said "${out.slice(0, 200)}" (exit ${result.StatusCode})`,
      );
    }
    return version;
  } finally {
    await container.remove({ force: true, v: true }).catch(() => {});
  }
}
