import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';

/**
 * A fresh directory, removed when the test that asked for it ends (or the
 * file, at top level).
 *
 * Call it at a file's top level or in a test, not in a before() hook: the
 * after() it registers would belong to the hook and run as soon as the hook
 * ends (it closed a backend and deleted Pebble's files under the full suite).
 */
export async function tempDir(label = 'berth-test'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `${label}-`));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The files directly in `dir` with their contents, as one string (for before/after comparisons). */
export async function filesSnapshot(dir: string): Promise<string> {
  const files = (await readdir(dir)).sort();
  const contents = await Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8')));
  return JSON.stringify(files.map((f, i) => [f, contents[i]]));
}
