// A small npm registry the test itself serves, since build containers have no
// route to the public one: packages made on the spot (package/package.json and
// the files given, as npm pack lays them out) or packed from the public
// registry on the host (npm pack, cached between runs), their metadata at
// /<name> and their tarballs at /<name>/-/<name>-<version>.tgz. It counts the
// tarballs it serves, so a test can tell a cached install from a downloading one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './tmp.ts';

const run = promisify(execFile);

export interface TestPackage {
  name: string;
  version: string;
  /** Files besides package.json, by path inside the package. */
  files?: Record<string, string>;
  /** Or a tarball made by npm pack (publicPackage). */
  tgz?: string;
  /** More package.json fields (such as "bin"). */
  manifest?: Record<string, unknown>;
}

const PACK_CACHE = path.join(os.homedir(), '.cache', 'berth-test', 'npm-pack');

/** A package of the public registry, packed on the host once and kept between runs. */
export async function publicPackage(name: string, version: string): Promise<TestPackage> {
  const tgz = path.join(PACK_CACHE, `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`);
  try {
    await access(tgz);
    return { name, version, tgz };
  } catch {}
  const tmp = await tempDir('berth-npm-pack');
  const { stdout } = await run('npm', ['pack', '--silent', `${name}@${version}`], { cwd: tmp });
  await mkdir(PACK_CACHE, { recursive: true });
  await rename(path.join(tmp, stdout.trim()), `${tgz}.${process.pid}`);
  await rename(`${tgz}.${process.pid}`, tgz);
  return { name, version, tgz };
}

export interface PublishedPackage extends TestPackage {
  /** Its package.json. */
  manifest: Record<string, unknown>;
  /** Where the registry serves the tarball. */
  tarball: string;
  /** sha512-... as npm lock files hold it. */
  integrity: string;
}

export interface TestRegistry {
  /** http://host:port/ (NPM_CONFIG_REGISTRY). */
  url: string;
  packages: PublishedPackage[];
  /** Tarballs served since the start, of one package or of all. */
  tarballsServed(name?: string): number;
  close(): Promise<void>;
}

/**
 * Serves `packages` on `host` (the Docker bridge's gateway, for build
 * containers to reach it); over HTTPS with `tls`'s key and certificate, as
 * a registry behind a TLS-intercepting proxy looks to a build; its URLs then
 * name `tls.name` when given (a name only a proxy resolves).
 */
export async function startTestRegistry(
  host: string,
  packages: TestPackage[],
  tls?: { key: string; cert: string; name?: string },
): Promise<TestRegistry> {
  const dir = await tempDir('berth-registry');
  const tarballs = new Map<string, Buffer>();
  const published: PublishedPackage[] = [];
  const served = new Map<string, number>();
  const handler: http.RequestListener = (req, res) => {
    const url = decodeURIComponent(req.url ?? '/');
    const tgz = tarballs.get(url);
    if (tgz) {
      const name = url.slice(1, url.indexOf('/-/'));
      served.set(name, (served.get(name) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(tgz);
      return;
    }
    const pkgs = published.filter((p) => `/${p.name}` === url);
    if (pkgs.length === 0) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
      return;
    }
    const versions = Object.fromEntries(
      pkgs.map((p) => [
        p.version,
        { ...p.manifest, dist: { tarball: p.tarball, integrity: p.integrity } },
      ]),
    );
    const latest = pkgs.at(-1)?.version;
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ name: pkgs[0]?.name, 'dist-tags': { latest }, versions }));
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const url = `${tls ? 'https' : 'http'}://${tls?.name ?? host}:${port}/`;

  for (const p of packages) {
    const file = p.tgz ?? (await pack(p, dir));
    const tgz = await readFile(file);
    // The registry's version entry is the package.json (npm links bins from its "bin").
    const manifest = JSON.parse(
      (await run('tar', ['-xzOf', file, 'package/package.json'], { maxBuffer: 1 << 20 })).stdout,
    );
    const urlPath = `/${p.name}/-/${p.name}-${p.version}.tgz`;
    tarballs.set(urlPath, tgz);
    published.push({
      ...p,
      manifest,
      tarball: `${url}${urlPath.slice(1)}`,
      integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}`,
    });
  }

  return {
    url,
    packages: published,
    tarballsServed: (name) =>
      name === undefined
        ? [...served.values()].reduce((a, b) => a + b, 0)
        : (served.get(name) ?? 0),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** package/package.json and the package's files in a .tgz, as npm pack makes it. */
async function pack(p: TestPackage, dir: string): Promise<string> {
  const root = path.join(dir, `${p.name}-${p.version}`);
  const files = {
    ...p.files,
    'package.json': JSON.stringify({ ...p.manifest, name: p.name, version: p.version }),
  };
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, 'package', file)), { recursive: true });
    await writeFile(path.join(root, 'package', file), text);
  }
  const out = path.join(root, 'package.tgz');
  await run('tar', ['-C', root, '--owner=0', '--group=0', '-czf', out, 'package']);
  await rm(path.join(root, 'package'), { recursive: true });
  return out;
}

/** The packages the node-deps fixture depends on (one dependency, one devDependency). */
export const NODE_DEPS_PACKAGES: readonly TestPackage[] = [
  {
    name: 'berth-fixture-greeting',
    version: '1.0.0',
    files: { 'index.js': "module.exports = 'hello from a dependency';\n" },
  },
  {
    name: 'berth-fixture-shout',
    version: '1.0.0',
    files: { 'index.js': 'module.exports = (s) => s.toUpperCase();\n' },
  },
];

/** A lock file of `tool` for the node-deps fixture (test/fixtures/apps), pointing at `registry`. */
export function nodeDepsLockfile(tool: 'npm' | 'yarn' | 'pnpm', registry: TestRegistry): string {
  const dep = (name: string) => {
    const p = registry.packages.find((p) => p.name === name);
    assert.ok(p, name);
    return p;
  };
  const greeting = dep('berth-fixture-greeting');
  const shout = dep('berth-fixture-shout');
  if (tool === 'npm') {
    const entry = (p: typeof greeting, dev: boolean) => ({
      version: p.version,
      resolved: p.tarball,
      integrity: p.integrity,
      ...(dev && { dev }),
    });
    return JSON.stringify({
      name: 'node-deps',
      version: '1.0.0',
      lockfileVersion: 3,
      requires: true,
      packages: {
        '': {
          name: 'node-deps',
          version: '1.0.0',
          dependencies: { [greeting.name]: '1.0.0' },
          devDependencies: { [shout.name]: '1.0.0' },
        },
        [`node_modules/${greeting.name}`]: entry(greeting, false),
        [`node_modules/${shout.name}`]: entry(shout, true),
      },
    });
  }
  if (tool === 'yarn') {
    const entry = (p: typeof greeting) =>
      `${p.name}@${p.version}:\n  version "${p.version}"\n  resolved "${p.tarball}"\n  integrity ${p.integrity}\n`;
    return `# yarn lockfile v1\n\n\n${entry(greeting)}\n${entry(shout)}`;
  }
  return [
    "lockfileVersion: '9.0'",
    'settings:',
    '  autoInstallPeers: true',
    '  excludeLinksFromLockfile: false',
    'importers:',
    '  .:',
    '    dependencies:',
    `      ${greeting.name}:`,
    '        specifier: 1.0.0',
    '        version: 1.0.0',
    '    devDependencies:',
    `      ${shout.name}:`,
    '        specifier: 1.0.0',
    '        version: 1.0.0',
    'packages:',
    `  ${greeting.name}@1.0.0:`,
    `    resolution: {integrity: ${greeting.integrity}}`,
    `  ${shout.name}@1.0.0:`,
    `    resolution: {integrity: ${shout.integrity}}`,
    'snapshots:',
    `  ${greeting.name}@1.0.0: {}`,
    `  ${shout.name}@1.0.0: {}`,
    '',
  ].join('\n');
}

/**
 * Every package an npm lock file (lockfileVersion 3) names, packed from the
 * public registry on the host (one npm pack for those not cached yet) and
 * checked against the lock's integrity: a registry serving them answers a
 * build's npm ci as the public one would (npm points the lock's
 * registry.npmjs.org URLs at the configured registry).
 */
export async function lockedPublicPackages(lockFile: string): Promise<TestPackage[]> {
  const lock = JSON.parse(await readFile(lockFile, 'utf8')) as {
    packages: Record<string, { version?: string; integrity?: string }>;
  };
  const wanted = Object.entries(lock.packages)
    .filter(([key]) => key !== '')
    .map(([key, entry]) => ({
      name: key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length),
      version: entry.version ?? '',
      integrity: entry.integrity ?? '',
    }));
  const file = (name: string, version: string) =>
    path.join(PACK_CACHE, `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`);
  const missing = [];
  for (const w of wanted) {
    try {
      await access(file(w.name, w.version));
    } catch {
      missing.push(w);
    }
  }
  if (missing.length > 0) {
    const tmp = await tempDir('berth-npm-pack');
    await run('npm', ['pack', '--silent', ...missing.map((w) => `${w.name}@${w.version}`)], {
      cwd: tmp,
    });
    await mkdir(PACK_CACHE, { recursive: true });
    for (const w of missing) {
      const packed = path.join(tmp, path.basename(file(w.name, w.version)));
      await rename(packed, `${file(w.name, w.version)}.${process.pid}`);
      await rename(`${file(w.name, w.version)}.${process.pid}`, file(w.name, w.version));
    }
  }
  const packages: TestPackage[] = [];
  for (const w of wanted) {
    const tgz = file(w.name, w.version);
    const integrity = `sha512-${createHash('sha512')
      .update(await readFile(tgz))
      .digest('base64')}`;
    assert.equal(integrity, w.integrity, `${w.name}@${w.version}: not the tarball the lock names`);
    packages.push({ name: w.name, version: w.version, tgz });
  }
  return packages;
}

/** The node-vite fixture's bundler, a devDependency (test/fixtures/npm/bundle.js). */
export async function nodeViteBundler(): Promise<TestPackage> {
  return {
    name: 'berth-fixture-bundler',
    version: '1.0.0',
    manifest: { bin: { 'berth-fixture-bundle': 'bundle.js' } },
    files: {
      'bundle.js': await readFile(
        path.join(import.meta.dirname, '..', 'fixtures', 'npm', 'bundle.js'),
        'utf8',
      ),
    },
  };
}
