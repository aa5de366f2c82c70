import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitCommandLine } from '../../cli/command-line.ts';
import { BerthError } from '../../services/core/errors.ts';

test('words, quotes and escapes as a shell splits them, with no expansion', () => {
  assert.deepEqual(splitCommandLine('apps:list'), ['apps:list']);
  assert.deepEqual(splitCommandLine('  config:set api \'A=b c\'  B="x y" C=d\\ e '), [
    'config:set',
    'api',
    'A=b c',
    'B=x y',
    'C=d e',
  ]);
  assert.deepEqual(splitCommandLine("git-receive-pack '/api.git'"), [
    'git-receive-pack',
    '/api.git',
  ]);
  assert.deepEqual(splitCommandLine('x "" \'\''), ['x', '', '']);
  assert.deepEqual(splitCommandLine('a "q\\"uote" "\\n"'), ['a', 'q"uote', '\\n']);
});

test('shell syntax is only characters: nothing is expanded or run', () => {
  assert.deepEqual(splitCommandLine('apps:create $(id)'), ['apps:create', '$(id)']);
  assert.deepEqual(splitCommandLine('apps:create app;id'), ['apps:create', 'app;id']);
  assert.deepEqual(splitCommandLine('apps:create `id` $HOME *'), [
    'apps:create',
    '`id`',
    '$HOME',
    '*',
  ]);
});

test('control characters and broken quoting are usage errors', () => {
  for (const bad of ['apps:list\nid', 'apps:list\rx', 'a\x00b', "a 'open", 'a "open', 'a\\']) {
    assert.throws(
      () => splitCommandLine(bad),
      (e: unknown) => e instanceof BerthError && e.code === 'BERTH_E_USAGE' && e.exitCode === 2,
    );
  }
});
