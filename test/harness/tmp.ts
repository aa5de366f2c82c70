import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';

/** A fresh directory for this test, removed when the test file ends. */
export async function tempDir(label = 'berth-test'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `${label}-`));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
