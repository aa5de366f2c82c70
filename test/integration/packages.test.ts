// What `npm start` says on a machine where it cannot install: one line,
// nothing run. The non-root case runs Berth for real as user nobody.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ensurePackages, missingPackages } from '../../infra/bootstrap/packages.ts';
import { silentProgress } from '../../infra/bootstrap/progress.ts';
import { BerthError } from '../../services/core/errors.ts';
import { platformEnv } from '../harness/platform.ts';
import { tempDir } from '../harness/tmp.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PATH = process.env.PATH ?? '/usr/bin:/bin';
const isRoot = process.getuid?.() === 0;

describe('ensurePackages', () => {
  test('finds nothing to do when every program is there (no apt run)', async () => {
    assert.deepEqual(await missingPackages(PATH, { sh: 'dash', git: 'git' }), []);
    assert.deepEqual(
      await ensurePackages({
        progress: silentProgress,
        searchPath: PATH,
        isRoot: false,
        programs: { sh: 'dash' },
      }),
      [],
    );
  });

  test('names the missing packages, once each, in order', async () => {
    const programs = {
      'berth-nope-b': 'pkg-b',
      'berth-nope-a': 'pkg-a',
      'berth-nope-a2': 'pkg-a',
      sh: 'dash',
    };
    assert.deepEqual(await missingPackages(PATH, programs), ['pkg-a', 'pkg-b']);
  });

  test('not root: one line saying so, nothing installed', async () => {
    await assert.rejects(
      ensurePackages({
        progress: silentProgress,
        searchPath: PATH,
        isRoot: false,
        programs: { 'berth-nope': 'berth-nope' },
      }),
      (e: unknown) =>
        e instanceof BerthError &&
        e.code === 'BERTH_E_NOT_ROOT' &&
        e.toLine() ===
          'installing berth-nope needs root — run it as root (sudo npm start) on a Debian 12 machine',
    );
  });

  test('no apt-get: one line saying so', async () => {
    await assert.rejects(
      ensurePackages({
        progress: silentProgress,
        searchPath: '/nonexistent',
        isRoot: true,
        programs: { 'berth-nope': 'berth-nope' },
      }),
      (e: unknown) =>
        e instanceof BerthError &&
        e.code === 'BERTH_E_NO_APT' &&
        /apt-get is not available/.test(e.message),
    );
  });
});

test('berth start as a user who is not root stops with one clear line', {
  skip: !isRoot && 'needs root to switch user',
}, async () => {
  const dataDir = path.join(await tempDir(), 'data');
  await chmod(path.dirname(dataDir), 0o777);
  const env = await platformEnv(dataDir);
  const r = spawnSync(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      '--import',
      'tsx',
      path.join(ROOT, 'cli/main.ts'),
      'start',
    ],
    { cwd: ROOT, env: { PATH, HOME: '/tmp', ...env }, encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', /^berth: .*needs root — run it as root/);
});
