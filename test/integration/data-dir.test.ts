// An unusable data directory stops start-up with one line and creates nothing.
// Root ignores permission bits, so the read-only case uses a real read-only
// mount (tmpfs, ro) rather than chmod.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { prepareDataDir } from '../../infra/bootstrap/data-dir.ts';
import { BerthError } from '../../services/core/errors.ts';
import { DATA_LAYOUT } from '../../services/core/paths.ts';
import { tempDir } from '../harness/tmp.ts';

const isRoot = process.getuid?.() === 0;

describe('prepareDataDir', () => {
  test('creates the layout in a new directory, and again without harm', async () => {
    const root = path.join(await tempDir(), 'a', 'berth');
    const paths = await prepareDataDir(root);
    for (const sub of Object.values(DATA_LAYOUT))
      assert.ok((await stat(path.join(root, sub))).isDirectory());
    await writeFile(path.join(paths.repos, 'keep'), 'x');
    await prepareDataDir(root);
    assert.deepEqual(await readdir(paths.repos), ['keep']);
  });

  test('a path through a file is refused with one line, nothing created', async () => {
    const base = await tempDir();
    await writeFile(path.join(base, 'file'), 'x');
    const root = path.join(base, 'file', 'berth');
    await assert.rejects(prepareDataDir(root), (e: unknown) => {
      assert.ok(e instanceof BerthError && e.code === 'BERTH_E_DATA_DIR');
      assert.match(e.toLine(), /is a file, not a directory — set BERTH_DATA_DIR/);
      return true;
    });
    assert.deepEqual(await readdir(base), ['file']);
  });

  test('a read-only file system is refused with one line, nothing created', {
    skip: !isRoot && 'needs root to mount',
  }, async () => {
    const mnt = path.join(await tempDir(), 'ro');
    await mkdir(mnt);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mnt]);
    assert.equal(mounted.status, 0, String(mounted.stderr));
    try {
      await assert.rejects(prepareDataDir(path.join(mnt, 'berth')), (e: unknown) => {
        assert.ok(e instanceof BerthError && e.code === 'BERTH_E_DATA_DIR');
        assert.match(e.toLine(), /not writable: the file system is read-only/);
        return true;
      });
      assert.deepEqual(await readdir(mnt), []);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  test('an existing data directory that is a file is refused', async () => {
    const base = await tempDir();
    await mkdir(path.join(base, 'x'));
    await writeFile(path.join(base, 'x', 'berth'), '');
    await assert.rejects(prepareDataDir(path.join(base, 'x', 'berth')), /it is a file/);
  });
});
