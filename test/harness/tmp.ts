import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';

/** A fresh directory, removed when the test that asked for it ends (or the file, at top level). */
export async function tempDir(label = 'berth-test'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `${label}-`));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
