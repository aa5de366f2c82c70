import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { BerthError, ERRORS, type ErrorCode, errorLine } from '../../services/core/errors.ts';

describe('the error registry', () => {
  test('docs/errors.md lists every code with its exit code and HTTP status, and no others', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = new Map<string, string[]>();
    for (const line of doc.split('\n')) {
      const m = /^\| `(BERTH_E_[A-Z_]+)` *\| *(\d) *\| *(\d{3}) *\|/.exec(line);
      if (m) rows.set(m[1] ?? '', [m[2] ?? '', m[3] ?? '']);
    }
    for (const [code, spec] of Object.entries(ERRORS)) {
      assert.deepEqual(
        rows.get(code),
        [String(spec.exitCode), String(spec.httpStatus)],
        `${code} in docs/errors.md`,
      );
    }
    assert.deepEqual([...rows.keys()].sort(), Object.keys(ERRORS).sort());
  });

  test('messages fill their parameters and stay on one line', () => {
    const e = new BerthError('BERTH_E_APP_NOT_FOUND', { app: 'web\nx' });
    assert.equal(e.message, 'app "web x" does not exist');
    assert.equal(e.toLine(), 'app "web x" does not exist — run "berth apps:list" to see the apps');
    assert.equal(e.exitCode, 1);
    assert.equal(e.httpStatus, 404);
  });

  test('every registered message has all its placeholders known by name', () => {
    for (const code of Object.keys(ERRORS) as ErrorCode[]) {
      const e = new BerthError(code, {});
      assert.ok(e.toLine().length > 0);
      assert.ok(e.exitCode >= 1 && e.exitCode <= 2, code);
    }
  });

  test('errorLine turns any thrown value into one line', () => {
    assert.equal(errorLine(new Error('a\nb')), 'a b');
    assert.equal(errorLine('plain'), 'plain');
  });
});
