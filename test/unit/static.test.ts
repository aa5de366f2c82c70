// Type-checking and the linter are part of the suite: a type error or a lint
// finding fails `npm test` like a failing test does.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const bin = (name: string) => `${ROOT}node_modules/.bin/${name}`;

test('tsc --noEmit finds no type errors', () => {
  const r = spawnSync(bin('tsc'), ['--noEmit', '-p', '.'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('biome check (lint and format) is clean', () => {
  const r = spawnSync(bin('biome'), ['check', '--error-on-warnings', '--colors=off', '.'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
