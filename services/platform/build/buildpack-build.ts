// A buildpack build with the Heroku buildpack API, in one container:
//
//   container from the base image (the stack, the stack plus the Node.js
//   runtime: ./node-image.ts, or a language's toolchain image:
//   ./toolchain-image.ts), `sleep infinity` under docker-init
//     /app                      BUILD_DIR: the commit's files, then the slug
//     /berth/cache              CACHE_DIR: the app's cache volume, kept between builds
//     /berth/env                ENV_DIR: one file per config var (read-only)
//     /berth/buildpacks/<name>  the buildpacks Berth ships (read-only)
//     /berth/fetched/<n>        third-party buildpacks fetched by URL (./buildpack-fetch.ts; read-only)
//     /berth/ca                 with BERTH_BUILD_CA_BUNDLE: the CA bundle (./build-network.ts)
//   exec bin/detect /app         for each candidate until one says yes
//                                (every pinned one must say yes, and all of them run)
//   exec bin/compile /app /berth/cache /berth/env    output streamed to the build log
//   (Python: the container starts from the app's venv layer when it has one,
//   and a new venv is saved as that layer: ./venv-layer.ts)
//   exec bin/release /app        the last buildpack's default_process_types (YAML)
//   commit the container         only /app and what compile changed outside the
//                                mounts; mounts are never part of an image
//   (runImage: /app copied into a container of that image, which is committed
//   instead: a Go app runs on the stack, without the toolchain it built on)
//
// The image runs its processes as Heroku does: `bash -c <command>` in /app
// after sourcing /app/.profile.d/*.sh (LAUNCHER below), so `docker run IMAGE`
// starts `web` and `docker run IMAGE <command>` runs a one-off command.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { parse as parseYaml } from 'yaml';
import type { BuildNetwork } from '../../core/config.ts';
import { CONFINED, LABELS } from '../../core/docker.ts';
import { execInContainer } from '../../core/docker-exec.ts';
import { commitContainer, tagImage } from '../../core/docker-images.ts';
import { BerthError } from '../../core/errors.ts';
import { type BuildResources, buildHostConfig } from './build-limits.ts';
import type { BuildLog } from './build-log.ts';
import {
  APP_CA_FILE,
  buildpackEnv,
  CA_DIR,
  COMBINE_CA,
  COPY_CA_TO_APP,
  caEnv,
} from './build-network.ts';
import { cacheVolumeName } from './image-names.ts';
import { type ProcessTypes, parseProcfile } from './procfile.ts';
import { BUILDPACKS_DIR } from './shipped-buildpacks.ts';
import { saveVenvLayer, type VenvLayer } from './venv-layer.ts';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export const BUILD_DIR = '/app';
export const CACHE_DIR = '/berth/cache';
export const ENV_DIR = '/berth/env';
export const PACKS_DIR = '/berth/buildpacks';
export const FETCHED_DIR = '/berth/fetched';

/**
 * The user an app built by buildpacks runs as: not root, so a process that
 * breaks out of the app's code holds no root in the container (Heroku runs
 * dynos as a user of their own; Dokku's herokuish images run as
 * herokuishuser, the same 32767). Numeric, so that the Engine and anything
 * reading the image's config need no /etc/passwd lookup; the build also
 * writes it into the image's passwd and group files, for the tools that ask
 * for the user's name.
 */
export const APP_UID = 32767;
export const APP_USER = `${APP_UID}:${APP_UID}`;

/**
 * Run as root in the build container before it is committed: the passwd and
 * group entries, and /app (what the buildpacks wrote there) owned by the app
 * user, since apps write beside their code as on Heroku (caches, uploads,
 * SQLite files). The Node.js runtime of the base image stays root's: an app
 * has no reason to change it, and chowning it would copy 190 MB into every
 * app image. chown by root also clears set-user-ID bits under /app.
 */
const OWN_APP_DIR = [
  '/bin/sh',
  '-c',
  [
    'set -e',
    `grep -q '^app:' /etc/group || echo 'app:x:${APP_UID}:' >>/etc/group`,
    `grep -q '^app:' /etc/passwd || echo 'app:x:${APP_UID}:${APP_UID}:Berth app:/app:/bin/bash' >>/etc/passwd`,
    // Only what is not the app user's yet (or carries a set-ID bit): a file
    // of a lower layer that is already theirs (a Python app's venv layer,
    // ./venv-layer.ts) is left alone, since changing it, even to the same
    // owner, copies it into this build's layer and saves it again.
    `find /app -path /app/.heroku/node -prune -o \\( ! -user ${APP_UID} -o ! -group ${APP_UID} -o -perm /6000 \\) -exec chown -h ${APP_USER} {} +`,
  ].join('\n'),
];

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const baseEnv = [`PATH=${PATH}`, `HOME=${BUILD_DIR}`, 'STACK=bookworm', 'LANG=C.UTF-8'];

/**
 * The image's entrypoint: profile.d first, then the command (Procfile
 * commands are shell command lines, run by bash as on Heroku). `$0` is the
 * launcher's name, so "$*" is exactly the command given.
 */
export const LAUNCHER = [
  '/bin/bash',
  '-c',
  'shopt -s nullglob; for f in /app/.profile.d/*.sh; do . "$f"; done; exec /bin/bash -c "$*"',
  'berth-launch',
];

/** A buildpack image: its entrypoint is Berth's launcher. */
export function usesLauncher(image: Docker.ImageInspectInfo | undefined): boolean {
  return JSON.stringify(image?.Config?.Entrypoint ?? []) === JSON.stringify(LAUNCHER);
}

/**
 * How a Procfile command runs in an image, for every scheduler: a buildpack
 * image runs it with bash after .profile.d (the launcher takes it as one
 * word); any other image gets a shell line, handed to its own ENTRYPOINT when
 * it has one (as `docker run IMAGE sh -c ...` would).
 */
export function commandFor(image: Docker.ImageInspectInfo | undefined, command: string): string[] {
  return usesLauncher(image) ? [command] : ['/bin/sh', '-c', command];
}

export interface BuildpackBuild {
  docker: Docker;
  app: string;
  id: string;
  rev: string;
  /** The commit's files as a tar archive (source.ts). */
  contextTar: string;
  /** The commit's Procfile, if it has one. */
  procfile: string | undefined;
  /** Buildpacks to ask, in order. */
  candidates: readonly string[];
  /** Pinned (buildpacks:set, .buildpacks): every one must apply, and all run. */
  pinned: boolean;
  /** The image the build container starts from. */
  baseImage: string;
  /**
   * The image the app runs on when it is not the build's (Go: the stack,
   * with what the build left in /app; the toolchain stays behind).
   */
  runImage?: string;
  /**
   * A Python app's venv layer: present, the build keeps one; `layer`, the
   * app's current one on baseImage, which the build container starts from.
   */
  venv?: { layer: VenvLayer | undefined };
  /** The app's config vars (ENV_DIR). */
  env: Readonly<Record<string, string>>;
  /** A scratch directory of this build (ENV_DIR is written here). */
  workDir: string;
  /** Memory, CPU weight, processes and network of the build container; undefined: the Engine's defaults. */
  resources?: BuildResources;
  /** The operator's CA bundle and proxies (BERTH_BUILD_*); undefined: none. */
  network?: BuildNetwork;
  /** Default BUILDPACKS_DIR. */
  buildpacksDir?: string;
  /** The candidates that are URLs → the host folder each was fetched into. */
  fetched?: Readonly<Record<string, string>>;
  /** Tags: the first is the build's own. */
  tags: readonly string[];
  /** Labels for the build container, its cache volume and the image. */
  labels: Readonly<Record<string, string>>;
  log: BuildLog;
  signal: AbortSignal;
}

export interface BuildpackResult {
  imageId: string;
  buildpacks: string[];
  processes: ProcessTypes;
}

/** default_process_types from bin/release's YAML; BERTH_E_BUILD_FAILED when it is not that. */
export function parseRelease(text: string, buildpack: string): ProcessTypes {
  if (text.trim() === '') return {};
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new BerthError('BERTH_E_BUILD_FAILED', {
      where: `buildpack ${buildpack}: bin/release`,
      reason: `its output is not YAML (${(e as Error).message.split('\n')[0]})`,
    });
  }
  const types = (doc as { default_process_types?: unknown } | null)?.default_process_types;
  if (types === undefined || types === null) return {};
  if (typeof types !== 'object' || Array.isArray(types)) {
    throw new BerthError('BERTH_E_BUILD_FAILED', {
      where: `buildpack ${buildpack}: bin/release`,
      reason: 'default_process_types is not a map of process type to command',
    });
  }
  // The same rules as a Procfile's lines.
  const asProcfile = Object.entries(types as Record<string, unknown>)
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join('\n');
  return parseProcfile(asProcfile, `buildpack ${buildpack}: default_process_types line`);
}

/** ENV_DIR as the buildpack API has it: a file per variable, named by the key. */
async function writeEnvDir(dir: string, env: Readonly<Record<string, string>>): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [key, value] of Object.entries(env)) {
    await writeFile(path.join(dir, key), value, { mode: 0o600 });
  }
}

export async function buildWithBuildpacks(b: BuildpackBuild): Promise<BuildpackResult> {
  const { docker, log, signal } = b;
  const packsDir = b.buildpacksDir ?? BUILDPACKS_DIR;
  const [tag, ...moreTags] = b.tags;
  if (tag === undefined) throw new Error('buildWithBuildpacks: no tag');
  const envDir = path.join(b.workDir, 'env');
  await writeEnvDir(envDir, b.env);
  const caBundle = b.network?.caBundle;
  const binds = [`${packsDir}:${PACKS_DIR}:ro`, `${envDir}:${ENV_DIR}:ro`];
  // A fetched buildpack by its number, never by its URL: the container's paths stay plain.
  const fetched = Object.entries(b.fetched ?? {});
  for (const [i, [, dir]] of fetched.entries()) binds.push(`${dir}:${FETCHED_DIR}/${i}:ro`);
  const bin = (name: string, script: string) => {
    const i = fetched.findIndex(([url]) => url === name);
    return i === -1 ? `${PACKS_DIR}/${name}/bin/${script}` : `${FETCHED_DIR}/${i}/bin/${script}`;
  };
  if (caBundle) {
    // Writable: the container combines it with the stack's certificates in place.
    const caDir = path.join(b.workDir, 'ca');
    await mkdir(caDir, { recursive: true, mode: 0o755 });
    await writeFile(path.join(caDir, 'operator.pem'), caBundle.pem, { mode: 0o644 });
    binds.push(`${caDir}:${CA_DIR}`);
  }
  const volume = cacheVolumeName(b.app);
  await docker.createVolume({ Name: volume, Labels: { ...b.labels } });
  signal.throwIfAborted();

  const venvLayer = b.venv?.layer;
  const container = await docker.createContainer({
    Image: venvLayer?.ref ?? b.baseImage,
    Cmd: ['sleep', 'infinity'],
    WorkingDir: BUILD_DIR,
    // SOURCE_VERSION is Heroku's name for the commit during a build; GIT_REV Berth's.
    Env: [...baseEnv, `SOURCE_VERSION=${b.rev}`, `GIT_REV=${b.rev}`],
    Labels: { ...b.labels, [LABELS.build]: b.id },
    HostConfig: {
      ...buildHostConfig(b.resources),
      Init: true,
      ...CONFINED,
      Binds: binds,
      Mounts: [{ Type: 'volume', Source: volume, Target: CACHE_DIR }],
    },
  });
  // A stop (cancel, timeout) kills the container, which ends whatever runs in it.
  let runContainer: Docker.Container | undefined;
  const kill = () => {
    void container.kill().catch(() => {});
    void runContainer?.kill().catch(() => {});
  };
  signal.addEventListener('abort', kill, { once: true });
  try {
    await container.start();
    await container.putArchive(b.contextTar, { path: BUILD_DIR });
    // The operator's CA bundle and proxies go to each step, not into the
    // container's Env: a commit keeps every variable of the container's Env
    // that the image's config does not name (the Engine merges them), and a
    // proxy URL may hold credentials.
    const env = buildpackEnv(b.network);
    const run = (cmd: string[], onLine?: (line: string) => void) =>
      execInContainer(container, cmd, {
        signal,
        ...(env.length > 0 ? { env } : {}),
        ...(onLine ? { onLine } : {}),
      });
    if (caBundle) {
      const combined = await run(COMBINE_CA);
      if (combined.exitCode !== 0) {
        throw new BerthError('BERTH_E_BUILD_FAILED', {
          where: 'the CA bundle (BERTH_BUILD_CA_BUNDLE)',
          reason: combined.stdout.trim().split('\n').pop() || `exit code ${combined.exitCode}`,
        });
      }
      log.detail(`Trusting the CA certificates of ${caBundle.path} besides the stack's`);
    }
    // Named, not shown: a proxy URL may hold credentials.
    const proxies = [
      ...(b.network?.httpProxy ? ['BERTH_BUILD_HTTP_PROXY'] : []),
      ...(b.network?.httpsProxy ? ['BERTH_BUILD_HTTPS_PROXY'] : []),
    ];
    if (proxies.length > 0) log.detail(`Through the proxy of ${proxies.join(' and ')}`);

    // Detect: the first that applies, or every pinned one.
    const chosen: string[] = [];
    for (const name of b.candidates) {
      const detect = await run([bin(name, 'detect'), BUILD_DIR]);
      if (detect.exitCode === 0) {
        const said = detect.stdout.trim().split('\n')[0] || name;
        log.heading(`${said} app detected (buildpack ${name})`);
        chosen.push(name);
        if (!b.pinned) break;
      } else if (b.pinned) {
        throw new BerthError('BERTH_E_BUILD_FAILED', {
          where: `buildpack ${name}`,
          reason: 'its bin/detect says this app is not for it; unpin it with buildpacks:clear',
        });
      }
    }
    if (chosen.length === 0) {
      throw new BerthError('BERTH_E_BUILD_NO_BUILDPACK', { tried: b.candidates.join(', ') });
    }
    // A static.json is read by the static buildpack only; as on Heroku, a
    // detected Node.js app runs its own server and the file does nothing.
    // An app written for Heroku's static buildpack (a Vite or React build)
    // names both buildpacks: said here, before a build that cannot serve it.
    if (
      !b.pinned &&
      chosen[0] === 'node' &&
      (await run(['test', '-f', `${BUILD_DIR}/static.json`])).exitCode === 0
    ) {
      log.detail(
        `static.json is served only by the static buildpack, which this build does not run: to build with Node.js and serve the result, name both in .buildpacks (heroku/nodejs, then heroku-community/static) or run buildpacks:set ${b.app} heroku/nodejs heroku-community/static`,
      );
    }

    let release: ProcessTypes = {};
    for (const name of chosen) {
      let last = '';
      const compile = await run([bin(name, 'compile'), BUILD_DIR, CACHE_DIR, ENV_DIR], (line) => {
        log.write(line);
        if (line.trim() !== '') last = line.trim();
      });
      if (compile.exitCode !== 0) {
        // Buildpacks end a failure with their own ` !     ` line saying why.
        const why = last.replace(/^!\s*/, '') || `exit code ${compile.exitCode}`;
        throw new BerthError('BERTH_E_BUILD_FAILED', {
          where: `buildpack ${name}`,
          reason: why,
        });
      }
    }
    if (b.venv) {
      const t0 = performance.now();
      const saved = await saveVenvLayer({
        docker,
        app: b.app,
        baseImage: b.baseImage,
        build: container,
        usedKey: venvLayer?.key,
        owner: APP_USER,
        labels: b.labels,
        signal,
      });
      if (saved) {
        log.detail(
          `Saved the virtual environment as a layer of its own for the next pushes (${seconds(performance.now() - t0)})`,
        );
      }
    }
    const lastPack = chosen[chosen.length - 1] as string;
    const rel = await run([bin(lastPack, 'release'), BUILD_DIR]);
    if (rel.exitCode !== 0) {
      throw new BerthError('BERTH_E_BUILD_FAILED', {
        where: `buildpack ${lastPack}: bin/release`,
        reason: `exit code ${rel.exitCode}`,
      });
    }
    release = parseRelease(rel.stdout, lastPack);
    // The Procfile wins over the buildpack's defaults, type by type.
    const processes = { ...release, ...(b.procfile ? parseProcfile(b.procfile) : {}) };
    if (Object.keys(processes).length === 0) throw new BerthError('BERTH_E_BUILD_NO_PROCESSES');
    for (const [type, command] of Object.entries(processes)) log.detail(`${type}: ${command}`);

    const appCa = caBundle !== undefined && b.network?.appCaBundle === true;
    if (appCa) {
      const copied = await run(COPY_CA_TO_APP);
      if (copied.exitCode !== 0) {
        throw new BerthError('BERTH_E_BUILD_FAILED', {
          where: 'the CA bundle for the app (BERTH_APP_CA_BUNDLE)',
          reason: copied.stdout.trim().split('\n').pop() || `exit code ${copied.exitCode}`,
        });
      }
      log.detail(`The app trusts the same CA bundle (${APP_CA_FILE}; BERTH_APP_CA_BUNDLE)`);
    }
    // The container committed: the build's own, or one of the run image with the build's /app.
    let target = container;
    let runOn = run;
    if (b.runImage !== undefined && b.runImage !== b.baseImage) {
      target = await docker.createContainer({
        Image: b.runImage,
        Cmd: ['sleep', 'infinity'],
        WorkingDir: BUILD_DIR,
        Env: [...baseEnv],
        Labels: { ...b.labels, [LABELS.build]: b.id },
        HostConfig: {
          ...buildHostConfig(b.resources),
          Init: true,
          ...CONFINED,
          NetworkMode: 'none',
        },
      });
      runContainer = target;
      await target.start();
      const slug = await container.getArchive({ path: BUILD_DIR });
      await target.putArchive(slug, { path: path.dirname(BUILD_DIR) });
      const inRun = target;
      runOn = (cmd) => execInContainer(inRun, cmd, { signal });
      log.detail(`The app runs on ${b.runImage} with /app from the build`);
    }
    const t0 = performance.now();
    const owned = await runOn(OWN_APP_DIR);
    if (owned.exitCode !== 0) {
      throw new BerthError('BERTH_E_BUILD_FAILED', {
        where: "making /app the app user's",
        reason: owned.stdout.trim().split('\n').pop() || `exit code ${owned.exitCode}`,
      });
    }
    signal.throwIfAborted();
    await target.kill().catch(() => {}); // sleep is all that runs; a stopped container commits the same
    const web = processes.web ?? Object.values(processes)[0];
    const imageId = await commitContainer(target, {
      ref: tag,
      comment: `berth build ${b.id} of ${b.rev}`,
      config: {
        Entrypoint: LAUNCHER,
        Cmd: web === undefined ? [] : [web],
        WorkingDir: BUILD_DIR,
        User: APP_USER,
        // The app knows the commit it runs as GIT_REV; the app's config may override the CA's.
        Env: [...baseEnv, `GIT_REV=${b.rev}`, ...(appCa ? caEnv(APP_CA_FILE) : [])],
        Labels: {
          ...b.labels,
          [LABELS.build]: b.id,
          [LABELS.commit]: b.rev,
          [LABELS.processes]: JSON.stringify(processes),
          [LABELS.buildpacks]: chosen.join(','),
        },
      },
    });
    for (const more of moreTags) await tagImage(docker, imageId, more);
    log.detail(`Saved the app's image (${seconds(performance.now() - t0)})`);
    return { imageId: imageId, buildpacks: chosen, processes };
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    throw e;
  } finally {
    signal.removeEventListener('abort', kill);
    // With its anonymous volumes (an image's VOLUME lines), which would outlive it.
    await container.remove({ force: true, v: true }).catch(() => {});
    await runContainer?.remove({ force: true, v: true }).catch(() => {});
  }
}
