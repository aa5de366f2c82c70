// The builder's buildpack contract (buildpacks/README.md), run by hand against
// the real Engine, so that the buildpacks are tested without the builder: one
// build container from the stack image with the app in /app, the cache volume
// at /berth/cache, the config at /berth/env and the buildpacks read-only at
// /berth/buildpacks; detect, compile and release run in it, and the container
// is committed as the app image. Apps then run as the builder's launcher runs
// them: the .profile.d scripts sourced, then `bash -c <command>` with PORT set.

import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, urlToHttpOptions } from 'node:url';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { execInContainer } from '../../services/core/docker-exec.ts';
import { LAUNCHER } from '../../services/platform/build/buildpack-build.ts';
import {
  BUILDPACKS_DIR,
  DEFAULT_BUILDPACKS,
} from '../../services/platform/build/shipped-buildpacks.ts';
import { type HttpAnswer, httpRequest } from './http.ts';
import { tempDir } from './tmp.ts';

export const FIXTURE_APPS_DIR = fileURLToPath(new URL('../fixtures/apps', import.meta.url));
export { BUILDPACKS_DIR, DEFAULT_BUILDPACKS as BUILDPACK_ORDER };
export type BuildpackName = (typeof DEFAULT_BUILDPACKS)[number];

/** The port apps are given at run time in these tests. */
export const APP_PORT = 5000;

export interface Ran {
  code: number;
  out: string;
}

/** Runs `cmd` in a running container as root from /app; stdout and stderr as one text. */
export async function execIn(
  _docker: Docker,
  container: Docker.Container,
  cmd: string[],
): Promise<Ran> {
  // The builder's own exec (services/core/docker-exec.ts), its lines collected as one text.
  const lines: string[] = [];
  const { exitCode } = await execInContainer(container, cmd, {
    workingDir: '/app',
    onLine: (line) => lines.push(line),
  });
  return { code: exitCode, out: lines.map((l) => `${l}\n`).join('') };
}

/** Copies the contents of host directory `from` into `to` in the container (tar, as docker cp does). */
export async function copyInto(container: Docker.Container, from: string, to: string) {
  const tar = spawn('tar', ['-C', from, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => tar.on('close', resolve));
  await container.putArchive(tar.stdout, { path: to });
  const code = await exited;
  if (code !== 0) throw new Error(`tar -C ${from} exited with ${code}`);
}

export interface BuildOptions {
  docker: Docker;
  stackImage: string;
  /** Put on the build container, its cache volume and the image committed from it. */
  labels: Record<string, string>;
  /** The app's files (a fixture directory). */
  appDir: string;
  /** The buildpack to run detect, compile and release of. */
  buildpack: BuildpackName;
  /** A Node.js runtime (with npm) to copy to /app/.heroku/node, as the builder provides one for package.json apps. */
  nodeRuntime?: string;
  /** Config vars, one file each in ENV_DIR. */
  env?: Record<string, string>;
  /** A name for the cache volume (created when missing); a fresh one by default. */
  cacheVolume?: string;
}

export interface BuildResult {
  detect: Ran;
  compile: Ran;
  release: Ran;
  /** What /app holds at its top level after compile (the image's /app). */
  files: string[];
  /** The committed app image (only when compile succeeded). */
  image?: string;
}

/** The IPv4 address of a network interface of this host, as `ip -4 -json addr` lists it. */
async function bridgeAddress(name: string): Promise<string | undefined> {
  const { stdout } = await promisify(execFile)('ip', [
    '-4',
    '-json',
    'addr',
    'show',
    'dev',
    name,
  ]).catch(() => ({ stdout: '[]' }));
  const links = JSON.parse(stdout) as { addr_info?: { local?: string }[] }[];
  return links[0]?.addr_info?.[0]?.local;
}

/** The Docker bridge's address on the host: what build containers reach the host by. */
export async function bridgeGateway(docker: Docker): Promise<string> {
  const info = (await docker.getNetwork('bridge').inspect()) as {
    IPAM?: { Config?: { Gateway?: string }[] };
    Options?: Record<string, string>;
  };
  const bridge = info.Options?.['com.docker.network.bridge.name'] ?? 'docker0';
  const gateway =
    info.IPAM?.Config?.find((c) => c.Gateway)?.Gateway ??
    // An Engine that found its bridge already up (docker0 with its address)
    // names no gateway: the bridge's own address on this host is it (read
    // with ip(8): Node's list of interfaces leaves out one with no carrier,
    // as a bridge with no container on it).
    (await bridgeAddress(bridge));
  if (!gateway) throw new Error(`the bridge network (${bridge}) has no gateway address`);
  return gateway;
}

/** Runs the contract; the build container is removed whatever happens. */
export async function buildWithBuildpack(o: BuildOptions): Promise<BuildResult> {
  const { docker } = o;
  const envDir = await tempDir('berth-env');
  for (const [key, value] of Object.entries(o.env ?? {})) {
    await writeFile(path.join(envDir, key), value);
  }
  const volume = o.cacheVolume ?? `berth-test-cache-${Math.random().toString(36).slice(2, 10)}`;
  await docker.createVolume({ Name: volume, Labels: o.labels });
  const container = await docker.createContainer({
    Image: o.stackImage,
    Cmd: ['sleep', 'infinity'],
    WorkingDir: '/app',
    Env: ['HOME=/app', 'STACK=bookworm'],
    Labels: o.labels,
    HostConfig: {
      Binds: [
        `${BUILDPACKS_DIR}:/berth/buildpacks:ro`,
        `${envDir}:/berth/env:ro`,
        `${volume}:/berth/cache`,
      ],
    },
  });
  try {
    await container.start();
    await copyInto(container, o.appDir, '/app');
    if (o.nodeRuntime) {
      await execIn(docker, container, ['mkdir', '-p', '/app/.heroku/node']);
      await copyInto(container, o.nodeRuntime, '/app/.heroku/node');
    }
    const bin = (name: string) => `/berth/buildpacks/${o.buildpack}/bin/${name}`;
    const detect = await execIn(docker, container, [bin('detect'), '/app']);
    const compile = await execIn(docker, container, [
      bin('compile'),
      '/app',
      '/berth/cache',
      '/berth/env',
    ]);
    const release = await execIn(docker, container, [bin('release'), '/app']);
    const files = (await execIn(docker, container, ['ls', '-A', '/app'])).out
      .split('\n')
      .filter(Boolean);
    if (compile.code !== 0) return { detect, compile, release, files };
    await container.kill();
    // The image carries the container's labels, so the test run's clean-up finds it.
    const { Id } = (await container.commit({})) as { Id: string };
    return { detect, compile, release, files, image: Id };
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

/** The last line of a build's output, the one the builder shows as the reason it failed. */
export function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1) ?? '';
}

export interface RunningApp {
  container: Docker.Container;
  /** http://<container IP on the bridge>:<PORT> */
  url: string;
}

/**
 * Starts `command` (undefined: the image's own, its web process) from `image`
 * through the launcher with PORT set, and waits until it answers HTTP.
 */
export async function runApp(
  docker: Docker,
  image: string,
  command: string | undefined,
  labels: Record<string, string>,
  /** More environment variables (a deploy's DYNO, the app's config). */
  env: Record<string, string> = {},
): Promise<RunningApp> {
  const container = await docker.createContainer({
    Image: image,
    // The builder's own entrypoint, as a buildpack image made by the builder has
    // it. (Setting an entrypoint clears the image's CMD, so only with a command.)
    ...(command === undefined ? {} : { Entrypoint: LAUNCHER, Cmd: [command], WorkingDir: '/app' }),

    Env: [`PORT=${APP_PORT}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)],
    Labels: labels,
  });
  await container.start();
  const info = await container.inspect();
  const url = `http://${info.NetworkSettings.Networks.bridge?.IPAddress}:${APP_PORT}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await httpGet(`${url}/`);
      return { container, url };
    } catch (e) {
      const state = (await container.inspect()).State;
      if (!state.Running || Date.now() > deadline) {
        const logs = ((await container.logs({ stdout: true, stderr: true })) as Buffer).toString();
        await container.remove({ force: true }).catch(() => {});
        throw new Error(
          `${command ?? image} did not answer on ${url} (${state.Running ? 'still running' : `exited ${state.ExitCode}`}): ${(e as Error).message}\n${logs}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A plain GET, answered within 5 s. */
export function httpGet(url: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return httpRequest({ ...urlToHttpOptions(new URL(url)), headers, timeoutMs: 5000 });
}

export type { HttpAnswer };
