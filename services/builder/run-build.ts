// One build from start to image, in the order a person reads it in the log:
// the commit (from the push's quarantine or the repository), how to build it
// (detect.ts), the context archive (source.ts) less what .dockerignore lists
// (dockerignore.ts), the Docker build (dockerfile.ts). Stopping is the
// caller's: every step honours `signal`, and the build rejects with the
// signal's reason. The scratch directory is removed whatever happens.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { LABELS, MANAGED_LABELS } from '../core/docker.ts';
import type { BuildLog } from './build-log.ts';
import { detectBuilder } from './detect.ts';
import { buildDockerfile } from './dockerfile.ts';
import { describeDockerfile } from './dockerfile-syntax.ts';
import { DOCKERIGNORE, dockerignoreFilter, filterTar } from './dockerignore.ts';
import { CommitSource, makeWorkDir, type SourcePaths } from './source.ts';
import type { BuildRequest, BuildResult } from './types.ts';

/** The image repository of an app's builds. */
export const appImageRepo = (app: string): string => `berth/${app}`;
/** The image a build makes: `berth/<app>:<build id>`. */
export const buildImageRef = (app: string, id: string): string => `${appImageRepo(app)}:${id}`;

export interface BuildDeps {
  docker: Docker;
  paths: SourcePaths;
  /** PATH to find git in. */
  searchPath: string;
  /** More labels for every image (tests put berth.test-run here). */
  labels?: Readonly<Record<string, string>>;
}

export interface BuildRun {
  id: string;
  request: BuildRequest;
  log: BuildLog;
  signal: AbortSignal;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function runBuild(deps: BuildDeps, run: BuildRun): Promise<BuildResult> {
  const started = performance.now();
  const { request, log, signal } = run;
  log.heading(`Building ${request.app} from ${request.rev.slice(0, 7)}`);
  const source = await CommitSource.open(deps.paths, request, deps.searchPath);
  signal.throwIfAborted();
  const detection = await detectBuilder(source);
  log.heading(`Dockerfile build (${detection.reason})`);
  const info = describeDockerfile(await source.readFile(detection.dockerfile));
  const work = await makeWorkDir(deps.paths.root, run.id);
  try {
    let contextTar = path.join(work, 'commit.tar');
    await source.exportArchive(contextTar);
    signal.throwIfAborted();
    // As `docker build`: what the root's .dockerignore lists is not sent.
    const ignore = await source.entry(DOCKERIGNORE);
    if (ignore?.type === 'blob' && ignore.mode !== '120000') {
      const excluded = dockerignoreFilter(
        await source.readFile(DOCKERIGNORE),
        detection.dockerfile,
      );
      const filtered = path.join(work, 'context.tar');
      const left = await filterTar(contextTar, filtered, excluded);
      contextTar = filtered;
      log.detail(
        `${DOCKERIGNORE}: ${left} ${left === 1 ? 'path' : 'paths'} left out of the context`,
      );
      signal.throwIfAborted();
    }
    const image = buildImageRef(request.app, run.id);
    const built = await buildDockerfile({
      docker: deps.docker,
      contextTar,
      dockerfile: detection.dockerfile,
      info,
      tags: [image, `${appImageRepo(request.app)}:latest`],
      // Two labels, both the same on every build of the app: the Engine (20.10's
      // classic builder) runs one uncached LABEL step per label after the last
      // changed layer, ~70 ms each. The build id is in the tag, the commit in
      // the build's history (builds:info).
      labels: {
        ...MANAGED_LABELS,
        [LABELS.app]: request.app,
        ...deps.labels,
      },
      // The commit, for a Dockerfile that asks for it (ARG GIT_REV); passing
      // an undeclared build arg only makes Docker print a warning.
      buildArgs: info.args.has('GIT_REV') ? { GIT_REV: request.rev } : {},
      log,
      signal,
    });
    const cached =
      built.cachedSteps > 0 ? `, ${built.cachedSteps} of ${built.steps} steps cached` : '';
    log.heading(`Built ${image} (${seconds(performance.now() - started)}${cached})`);
    return { status: 'succeeded', image };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
