// One build from start to image, in the order a person reads it in the log:
// the commit (from the push's quarantine or the repository), how to build it
// (detect.ts), the context archive (source.ts) less what .dockerignore lists
// (dockerignore.ts), the Docker build (dockerfile.ts). Stopping is the
// caller's: every step honours `signal`, and the build rejects with the
// signal's reason. The scratch directory is removed whatever happens.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { type BuildNetwork, DEFAULTS } from '../../core/config.ts';
import { LABELS, MANAGED_LABELS } from '../../core/docker.ts';
import { inspectImage, tagImage, tryPull } from '../../core/docker-images.ts';
import { BerthError } from '../../core/errors.ts';
import type { Detection, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { APP_JSON, NO_MANIFEST, parseAppJson } from './app-json.ts';
import type { BuildResources } from './build-limits.ts';
import type { BuildLog } from './build-log.ts';
import { dockerfileBuildArgs } from './build-network.ts';
import { buildWithBuildpacks } from './buildpack-build.ts';
import { fetchBuildpack } from './buildpack-fetch.ts';
import { detectBuilder, effectiveBuildSettings } from './detect.ts';
import { buildDockerfile } from './dockerfile.ts';
import { describeDockerfile } from './dockerfile-syntax.ts';
import { DOCKERIGNORE, dockerignoreFilter, filterTar } from './dockerignore.ts';
import { exposedTcpPorts } from './exposed-ports.ts';
import { appImageRepo, buildImageRef } from './image-names.ts';
import { checkDockerfile, checkImage, type ImagePolicy } from './image-policy.ts';
import { ensureNodeImage, parsePackageJson } from './node-image.ts';
import { ensureNodeRuntime } from './node-runtime.ts';
import { PROCFILE, type ProcessTypes, parseProcfile } from './procfile.ts';
import { noteLeftover } from './retention.ts';
import { shippedBuildpacks } from './shipped-buildpacks.ts';
import { CommitSource, makeWorkDir, type SourcePaths } from './source.ts';
import { chooseToolchain } from './toolchain-choice.ts';
import { ensureToolchainImage } from './toolchain-image.ts';
import type { BuildRequest, BuildResult, GitBuildRequest, ImageBuildRequest } from './types.ts';
import { findVenvLayer } from './venv-layer.ts';

export interface BuildDeps {
  docker: Docker;
  /** The app's build settings and config vars. */
  store: Store;
  paths: SourcePaths & { runtimes: string };
  /** PATH to find git in. */
  searchPath: string;
  /** The image buildpack builds start from (Config.stackImage). */
  stackImage: string;
  /** Where Node.js runtimes come from (default the public npm registry). */
  runtimeRegistry?: string;
  /** Default BUILDPACKS_DIR. */
  buildpacksDir?: string;
  /** BERTH_BUILDPACK_URLS; default its default (public https URLs). */
  buildpackUrls?: readonly string[];
  /** BERTH_ALLOWED_BASE_IMAGES; default its default (Docker Hub's official images). */
  allowedBaseImages?: readonly string[];
  /** What each build may use (build-limits.ts); undefined: the Engine's defaults. */
  resources?: BuildResources;
  /** The operator's CA bundle and proxies for builds (build-network.ts); undefined: none. */
  network?: BuildNetwork;
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
  const request = run.request;
  return request.image !== undefined
    ? imageBuild(deps, run, request)
    : gitBuild(deps, run, request);
}

/** git:from-image: the image, tagged as the app's next one; nothing is built. */
async function imageBuild(
  deps: BuildDeps,
  run: BuildRun,
  request: ImageBuildRequest,
): Promise<BuildResult> {
  const { docker } = deps;
  const { log, signal } = run;
  log.heading(`Deploying ${request.app} from the image ${request.image}`);
  await checkImage(await imagePolicy(deps, request.app), request.image, 'git:from-image');
  let info = await inspectImage(docker, request.image);
  if (info === undefined) {
    log.detail(`${request.image} is not on this machine; pulling it`);
    const pulled = await tryPull(docker, request.image, 10_000, (line) => log.detail(line));
    signal.throwIfAborted();
    if (!pulled.ok) {
      throw new BerthError('BERTH_E_IMAGE_MISSING', {
        image: request.image,
        reason: pulled.reason,
      });
    }
    info = await inspectImage(docker, request.image);
    if (info === undefined) {
      throw new BerthError('BERTH_E_IMAGE_MISSING', {
        image: request.image,
        reason: 'gone after the pull',
      });
    }
  }
  const image = buildImageRef(request.app, run.id);
  await tagImage(docker, info.Id, image);
  await tagImage(docker, info.Id, `${appImageRepo(request.app)}:latest`);
  // An image Berth built knows its process types; any other runs its own CMD as web.
  const label = info.Config?.Labels?.[LABELS.processes];
  const processes = (label && processesFromLabel(label)) || { web: null };
  for (const [type, command] of Object.entries(processes))
    log.detail(`${type}: ${command ?? "(the image's CMD)"}`);
  await recordDetection(deps, run, { builder: 'image', reason: `git:from-image ${request.image}` });
  log.heading(`Tagged ${info.Id.slice(7, 19)} as ${image}`);
  return {
    status: 'succeeded',
    image,
    processes,
    exposedPorts: exposedTcpPorts(info.Config?.ExposedPorts),
  };
}

/** The berth.processes label of an image Berth built; undefined when it is not one. */
function processesFromLabel(text: string): ProcessTypes | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const lines = Object.entries(value).map(([k, v]) => `${k}: ${String(v)}`);
    return parseProcfile(lines.join('\n'), 'label');
  } catch {
    return undefined;
  }
}

async function gitBuild(
  deps: BuildDeps,
  run: BuildRun,
  request: GitBuildRequest,
): Promise<BuildResult> {
  const started = performance.now();
  const { log, signal } = run;
  log.heading(`Building ${request.app} from ${request.rev.slice(0, 7)}`);
  const source = await CommitSource.open(deps.paths, request, deps.searchPath);
  signal.throwIfAborted();
  // The app's own settings, else the --global ones (builder:set, builder-dockerfile:set).
  const settings = await effectiveBuildSettings(deps.store, request.app);
  const buildpackUrls = deps.buildpackUrls ?? [validate.PUBLIC_HTTPS];
  const detection = await detectBuilder(
    source,
    settings,
    request.app,
    () => shippedBuildpacks(deps.buildpacksDir),
    buildpackUrls,
  );
  const work = await makeWorkDir(deps.paths.root, run.id);
  try {
    const contextTar = path.join(work, 'commit.tar');
    await source.exportArchive(contextTar);
    signal.throwIfAborted();
    const image = buildImageRef(request.app, run.id);
    const tags = [image, `${appImageRepo(request.app)}:latest`];
    // app.json is read now, so a mistake fails the build, not the deploy.
    const appJson =
      (await source.entry(APP_JSON))?.type === 'blob'
        ? parseAppJson(await source.readFile(APP_JSON))
        : NO_MANIFEST;
    if (appJson.unused.length > 0) {
      log.detail(`app.json: Berth does not use ${appJson.unused.join(', ')}`);
    }
    // ps:set APP procfile-path (else --global's, else Procfile), relative to
    // the commit's root and read from the commit (validate.procfilePath); a
    // path that is not there is no Procfile, as on Dokku.
    const running = await deps.store.apps.deploySettings(request.app);
    const procfilePath = running.procfilePath ?? running.global.procfilePath ?? PROCFILE;
    if (procfilePath !== PROCFILE) log.detail(`Procfile: ${procfilePath} (ps:set procfile-path)`);
    const procfile =
      (await source.entry(procfilePath))?.type === 'blob'
        ? await source.readFile(procfilePath)
        : undefined;
    let result: BuildResult;
    let summary = '';
    if (detection.builder === 'dockerfile') {
      log.heading(`Dockerfile build (${detection.reason})`);
      let note: string;
      ({ result, note } = await dockerfileBuild(
        deps,
        run,
        request.rev,
        source,
        detection.dockerfile,
        contextTar,
        work,
        tags,
        procfile,
        settings.buildArgs,
      ));
      summary = note;
      await recordDetection(deps, run, { builder: 'dockerfile', reason: detection.reason });
    } else {
      log.heading(`Buildpack build (${detection.reason})`);
      const config = await deps.store.config.merged(request.app);
      let baseImage = deps.stackImage;
      let runImage: string | undefined;
      // Go, Ruby, PHP and a Python other than the stack's: their toolchain image.
      const choice = await chooseToolchain(source, detection.candidates);
      if (choice) {
        log.heading(`${choice.toolchain.title} (${choice.because})`);
        const made = await ensureToolchainImage({
          docker: deps.docker,
          toolchain: choice.toolchain,
          workDir: work,
          onLine: (line) => log.detail(line),
          signal,
        });
        baseImage = made.ref;
        if (choice.runOnStack) runImage = deps.stackImage;
      } else if (
        detection.candidates.includes('node') &&
        (await source.entry('package.json'))?.type === 'blob'
      ) {
        baseImage = await nodeBaseImage(deps, run, await source.readFile('package.json'));
      }
      // Python: the app's venv as a layer of its own (venv-layer.ts), unless
      // the commit brings a .venv, which the buildpack replaces.
      const venv =
        detection.candidates.includes('python') && (await source.entry('.venv')) === undefined
          ? { layer: await findVenvLayer(deps.docker, request.app, baseImage) }
          : undefined;
      // Third-party buildpacks by URL: fetched on the host, mounted read-only.
      const fetched: Record<string, string> = {};
      for (const candidate of detection.candidates) {
        if (!validate.looksLikeUrl(candidate)) continue;
        fetched[candidate] = await fetchBuildpack({
          value: candidate,
          allowed: buildpackUrls,
          cacheDir: path.join(deps.paths.runtimes, 'buildpacks'),
          workDir: work,
          searchPath: deps.searchPath,
          signal,
          progress: (line) => log.detail(line),
        });
      }
      const built = await buildWithBuildpacks({
        fetched,
        docker: deps.docker,
        app: request.app,
        id: run.id,
        rev: request.rev,
        contextTar,
        procfile,
        candidates: detection.candidates,
        pinned: detection.pinned,
        baseImage,
        ...(runImage ? { runImage } : {}),
        ...(venv ? { venv } : {}),
        env: config,
        workDir: work,
        ...(deps.resources ? { resources: deps.resources } : {}),
        ...(deps.network ? { network: deps.network } : {}),
        ...(deps.buildpacksDir ? { buildpacksDir: deps.buildpacksDir } : {}),
        tags,
        labels: { ...MANAGED_LABELS, [LABELS.app]: request.app, ...deps.labels },
        log,
        signal,
      });
      await recordDetection(deps, run, {
        builder: 'buildpacks',
        buildpacks: built.buildpacks,
        reason: detection.reason,
      });
      result = { status: 'succeeded', image, processes: built.processes, exposedPorts: [] };
    }
    log.heading(`Built ${image} (${seconds(performance.now() - started)}${summary})`);
    return {
      ...result,
      healthchecks: appJson.healthchecks,
      ...(appJson.formation ? { formation: appJson.formation } : {}),
      ...(Object.keys(appJson.env).length > 0 ? { env: appJson.env } : {}),
      ...(Object.keys(appJson.scripts).length > 0 ? { scripts: appJson.scripts } : {}),
      // Always given, so a deploy whose app.json dropped its cron drops the schedule.
      cron: appJson.cron,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** What the app's builds may use (image-policy.ts). */
async function imagePolicy(deps: BuildDeps, app: string): Promise<ImagePolicy> {
  const record = await deps.store.apps.get(app);
  if (!record) throw new BerthError('BERTH_E_APP_NOT_FOUND', { app });
  return {
    docker: deps.docker,
    app: record,
    stackImage: deps.stackImage,
    allowed: deps.allowedBaseImages ?? DEFAULTS.BERTH_ALLOWED_BASE_IMAGES.split(','),
  };
}

/** What this build chose, for builder:report (a failure to record it does not fail the build). */
async function recordDetection(
  deps: BuildDeps,
  run: BuildRun,
  d: Pick<Detection, 'builder' | 'reason' | 'buildpacks'>,
): Promise<void> {
  const detected: Detection = { build: run.id, at: new Date().toISOString(), ...d };
  await deps.store.apps.setBuildSetting(run.request.app, 'detected', detected).catch(() => {});
}

/** The Node.js runtime package.json asks for, on the stack: the build's base image. */
async function nodeBaseImage(deps: BuildDeps, run: BuildRun, packageJson: string): Promise<string> {
  const { log, signal } = run;
  const pkg = parsePackageJson(packageJson);
  const range = pkg.engines?.node;
  if (range !== undefined && typeof range !== 'string') {
    throw new BerthError('BERTH_E_BUILD_FAILED', {
      where: 'package.json',
      reason: 'engines.node must be a version range such as "22.x"',
    });
  }
  log.heading('Node.js runtime');
  const runtime = await ensureNodeRuntime({
    cacheDir: deps.paths.runtimes,
    range,
    ...(deps.runtimeRegistry ? { registry: deps.runtimeRegistry } : {}),
    signal,
    onProgress: (line) => log.detail(line),
  });
  log.detail(
    `Node.js ${runtime.version}, npm ${runtime.npmVersion}${range ? ` (engines.node ${range})` : ''}`,
  );
  const made = await ensureNodeImage({
    docker: deps.docker,
    stackImage: deps.stackImage,
    runtime,
    labels: deps.labels ?? {},
    signal,
  });
  if (made.made) log.detail(`Made ${made.ref} on ${deps.stackImage}`);
  return made.ref;
}

async function dockerfileBuild(
  deps: BuildDeps,
  run: BuildRun,
  rev: string,
  source: CommitSource,
  dockerfile: string,
  commitTar: string,
  work: string,
  tags: string[],
  procfile: string | undefined,
  buildArgKeys: readonly string[],
): Promise<{ result: BuildResult; note: string }> {
  const { request, log, signal } = run;
  const text = await source.readFile(dockerfile);
  const declared = describeDockerfile(text).args;
  let contextTar = commitTar;
  // As `docker build`: what the root's .dockerignore lists is not sent.
  const ignore = await source.entry(DOCKERIGNORE);
  if (ignore?.type === 'blob' && ignore.mode !== '120000') {
    const excluded = dockerignoreFilter(await source.readFile(DOCKERIGNORE), dockerfile);
    const filtered = path.join(work, 'context.tar');
    const left = await filterTar(contextTar, filtered, excluded);
    contextTar = filtered;
    log.detail(`${DOCKERIGNORE}: ${left} ${left === 1 ? 'path' : 'paths'} left out of the context`);
    signal.throwIfAborted();
  }
  // The commit, for a Dockerfile that asks for it (ARG GIT_REV); passing an
  // undeclared build arg only makes Docker print a warning. Then the config
  // vars builder-dockerfile:set named as build args.
  const buildArgs: Record<string, string> = declared.has('GIT_REV') ? { GIT_REV: rev } : {};
  if (buildArgKeys.length > 0) {
    const config = await deps.store.config.merged(request.app);
    for (const key of buildArgKeys) {
      const value = config[key];
      if (value === undefined)
        log.detail(
          `Build arg ${key} is not set (config:set ${request.app} ${key}=...); not passed`,
        );
      else buildArgs[key] = value;
    }
    const passed = buildArgKeys.filter((k) => k in buildArgs);
    if (passed.length > 0) log.detail(`Build args from the app's config: ${passed.join(', ')}`);
  }
  // The operator's proxies as Docker's predefined args (RUN steps see them
  // without an ARG line; the image's history does not keep them); the app's
  // own build args win.
  const proxyArgs = dockerfileBuildArgs(deps.network);
  for (const [k, v] of Object.entries(proxyArgs)) if (!(k in buildArgs)) buildArgs[k] = v;
  if (Object.keys(proxyArgs).length > 0) {
    log.detail(
      'Proxies of BERTH_BUILD_*_PROXY passed as build args (HTTP_PROXY, HTTPS_PROXY, NO_PROXY)',
    );
  }
  // What the file names, with the values the build passes, before the Engine fetches or reads it.
  const info = describeDockerfile(text, buildArgs);
  await checkDockerfile(await imagePolicy(deps, request.app), info, dockerfile);
  signal.throwIfAborted();
  let lastLayer: string | undefined;
  const building = buildDockerfile({
    docker: deps.docker,
    contextTar,
    dockerfile,
    info,
    tags,
    // Two labels, both the same on every build of the app: the Engine (20.10's
    // classic builder) runs one uncached LABEL step per label after the last
    // changed layer, ~70 ms each. The build id is in the tag, the commit in
    // the build's history (builds:info).
    labels: { ...MANAGED_LABELS, [LABELS.app]: request.app, ...deps.labels },
    buildArgs,
    log,
    ...(deps.resources ? { resources: deps.resources } : {}),
    onLayer: (id) => {
      lastLayer = id;
    },
    signal,
  });
  const built = await building.catch(async (e: unknown) => {
    // The finished layers stay as the next attempt's cache; noted, so that retention removes them.
    if (lastLayer) {
      await noteLeftover(deps.store.redis, deps.store.keys.prefix, request.app, lastLayer).catch(
        () => {},
      );
    }
    throw e;
  });
  const cached =
    built.cachedSteps > 0 ? `, ${built.cachedSteps} of ${built.steps} steps cached` : '';
  // The image's own CMD is `web` unless the Procfile says otherwise.
  const processes: ProcessTypes | Record<string, null> = {
    web: null,
    ...(procfile ? parseProcfile(procfile) : {}),
  };
  const image = tags[0] as string;
  const exposed = (await inspectImage(deps.docker, image))?.Config?.ExposedPorts;
  return {
    result: { status: 'succeeded', image, processes, exposedPorts: exposedTcpPorts(exposed, text) },
    note: cached,
  };
}
