// A Dockerfile build through the Docker Engine API (the Engine's classic
// builder, as `docker build` without BuildKit): the commit's tar archive is the
// context, the image is tagged `berth/<app>:<build id>` and `berth/<app>:latest`,
// and layers are cached by the Engine across builds as with `docker build`.
// Docker's own lines go to the build log, indented; a failure becomes one line
// that names the Dockerfile line and what the Engine said. Stopping (cancel,
// timeout) aborts the request, which makes the Engine stop the build; the
// step's container is then checked gone, and removed if the Engine left it.
import { createReadStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { describeDockerError, dockerStatus } from '../../core/docker.ts';
import {
  followStream,
  inspectImage,
  type StreamEvent,
  splitImageRef,
  tagImage,
} from '../../core/docker-images.ts';
import { BerthError } from '../../core/errors.ts';
import { LineSplitter } from '../../core/lines.ts';
import { type BuildResources, buildOptions } from './build-limits.ts';
import type { BuildLog } from './build-log.ts';
import { type DockerfileInfo, fromImage, type Instruction } from './dockerfile-syntax.ts';

export interface DockerfileBuild {
  docker: Docker;
  /** The build context: a tar archive (source.ts). */
  contextTar: string;
  /** The Dockerfile's path in the context. */
  dockerfile: string;
  info: DockerfileInfo;
  /** Tags for the image: the first is the build's own (`berth/<app>:<id>`). */
  tags: readonly string[];
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
  log: BuildLog;
  /** Each layer image the build makes or reuses, as Docker reports it (` ---> <id>`). */
  onLayer?: (id: string) => void;
  /** Aborting stops the build; the build rejects with the signal's reason. */
  signal: AbortSignal;
  /** Memory, CPU weight, processes and network of its steps; undefined: the Engine's defaults. */
  resources?: BuildResources;
}

export interface DockerfileResult {
  /** sha256:... */
  imageId: string;
  /** Steps the Engine took from its cache, and all steps. */
  cachedSteps: number;
  steps: number;
  /**
   * The layer images the build made or reused, from Docker's ` ---> <id>`
   * lines, less the FROM steps' base images (a failed build leaves its
   * finished layers behind, untagged, as `docker build` does; they are the
   * cache of the next attempt).
   */
  layers: string[];
}

/** The build stream as it goes: the step, its container, what Docker said. */
class Progress {
  step: { index: number; total: number; text: string } | undefined;
  container: string | undefined;
  imageId: string | undefined;
  cachedSteps = 0;
  layers: string[] = [];
  private readonly lines = new LineSplitter();

  constructor(
    private readonly log: BuildLog,
    private readonly onLayer?: (id: string) => void,
  ) {}

  event(e: StreamEvent) {
    if (e.aux?.ID) this.imageId = e.aux.ID;
    if (typeof e.stream === 'string') for (const l of this.lines.push(e.stream)) this.line(l);
    // A base image being pulled: its status lines, without the progress bars.
    else if (e.status !== undefined && e.progress === undefined) {
      this.log.detail(`${e.id ? `${e.id}: ` : ''}${e.status}`);
    }
  }

  end() {
    for (const l of this.lines.end()) this.line(l);
  }

  private line(raw: string) {
    const line = raw.replace(/\s+$/, '');
    if (line === '') return;
    this.log.detail(line);
    const step = /^Step (\d+)\/(\d+) : (.*)$/.exec(line);
    if (step) {
      this.step = { index: Number(step[1]), total: Number(step[2]), text: step[3] ?? '' };
      this.container = undefined;
      return;
    }
    // A FROM step's " ---> id" is its base image (the stack, another instance's
    // image): never this build's layer, so never a leftover to remove.
    const fromStep = /^FROM\s/i.test(this.step?.text ?? '');
    const running = /^ ---> Running in ([0-9a-f]{12,64})$/.exec(line);
    const layer = /^ ---> ([0-9a-f]{12,64})$/.exec(line);
    if (/^ ---> Using cache$/.test(line)) this.cachedSteps++;
    else if (running) this.container = running[1];
    else if (/^Removing intermediate container /.test(line)) this.container = undefined;
    else if (layer?.[1] && !fromStep) {
      this.layers.push(layer[1]);
      this.onLayer?.(layer[1]);
    }
  }
}

/** The instruction the Engine's step `index` (1-based) runs, when the file's count matches. */
function instructionOf(info: DockerfileInfo, index: number): Instruction | undefined {
  return info.instructions[index - 1];
}

const short = (text: string, max = 80) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** One line for a failed build: where (Dockerfile:line) and what the Engine said. */
function failure(build: DockerfileBuild, progress: Progress, message: string): BerthError {
  const reason = message.replace(/[\r\n]+/g, ' ').trim();
  const parse = /dockerfile parse error line (\d+): (.*)$/i.exec(reason);
  if (parse) {
    return new BerthError('BERTH_E_BUILD_FAILED', {
      where: `${build.dockerfile}:${parse[1]}`,
      reason: parse[2] ?? reason,
    });
  }
  const step = progress.step;
  if (step === undefined) {
    return new BerthError('BERTH_E_BUILD_FAILED', { where: build.dockerfile, reason });
  }
  const ins = instructionOf(build.info, step.index);
  const keyword = step.text.split(/\s/, 1)[0]?.toUpperCase();
  if (keyword === 'FROM') {
    const image = fromImage(step.text.slice(4)).image;
    return new BerthError('BERTH_E_BUILD_BASE_IMAGE', { image, reason });
  }
  const where =
    ins !== undefined && ins.keyword === keyword
      ? `${build.dockerfile}:${ins.line}`
      : `${build.dockerfile} step ${step.index}/${step.total}`;
  return new BerthError('BERTH_E_BUILD_FAILED', { where: `${where}: ${short(step.text)}`, reason });
}

/** Waits for the step's container to be gone after a stop; removes it if the Engine did not. */
async function reapContainer(docker: Docker, id: string | undefined, log: BuildLog) {
  if (id === undefined) return;
  const container = docker.getContainer(id);
  for (let i = 0; i < 25; i++) {
    try {
      await container.inspect();
    } catch (e) {
      if (dockerStatus(e) === 404) return;
    }
    await sleep(200);
  }
  // With its anonymous volumes (an image's VOLUME lines), which would outlive it.
  await container.remove({ force: true, v: true }).catch(() => {});
  log.detail(`Removed the build container ${id.slice(0, 12)}`);
}

/** Runs the build; resolves with the image, rejects with one line (a BerthError) or the signal's reason. */
export async function buildDockerfile(build: DockerfileBuild): Promise<DockerfileResult> {
  const { docker, log, signal } = build;
  const [tag, ...moreTags] = build.tags;
  if (tag === undefined) throw new Error('buildDockerfile: no tag');
  signal.throwIfAborted();
  for (const ref of build.info.baseImages) {
    const full = ref.includes('@') ? ref : `${splitImageRef(ref).repo}:${splitImageRef(ref).tag}`;
    const here = await inspectImage(docker, full).catch(() => 'unknown' as const);
    if (here === undefined) {
      log.detail(
        `Base image ${full} is not on this machine; the Docker Engine will try to pull it`,
      );
    }
  }
  const progress = new Progress(log, build.onLayer);
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(createReadStream(build.contextTar), {
      t: tag,
      dockerfile: build.dockerfile,
      labels: build.labels,
      buildargs: build.buildArgs,
      rm: true,
      forcerm: true,
      ...buildOptions(build.resources),
      abortSignal: signal,
    } as Docker.ImageBuildOptions);
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    // The Engine refuses a Dockerfile it cannot parse before building (HTTP 400).
    if (dockerStatus(e) === undefined) throw e;
    throw failure(build, progress, describeDockerError(e).replace(/^HTTP \d+: /, ''));
  }
  // An {error} event (a failing step) or a broken stream (an abort) rejects.
  const outcome = await followStream(docker, stream, (event) => progress.event(event)).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  progress.end();
  if (signal.aborted) {
    await reapContainer(docker, progress.container, log);
    throw signal.reason;
  }
  if (outcome !== undefined) throw failure(build, progress, outcome.message);
  const imageId = progress.imageId;
  if (imageId === undefined) throw failure(build, progress, 'the Engine reported no image');
  for (const more of moreTags) await tagImage(docker, imageId, more);
  return {
    imageId,
    cachedSteps: progress.cachedSteps,
    steps: progress.step?.total ?? 0,
    layers: progress.layers,
  };
}
