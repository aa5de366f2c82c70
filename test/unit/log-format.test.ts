import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLogLine } from '../../infra/log-format.ts';

test('a pino line becomes time, component, level, message and fields', () => {
  const line = JSON.stringify({
    level: 50,
    time: Date.UTC(2026, 0, 1, 12, 3, 4),
    component: 'web',
    msg: 'boom',
    app: 'api',
  });
  assert.equal(formatLogLine(line), '12:03:04 web      ERROR boom app=api');
});

test('a line that is not JSON is shown as it is', () => {
  assert.equal(formatLogLine('    at foo (bar.ts:1:1)'), '    at foo (bar.ts:1:1)');
  assert.equal(formatLogLine('null'), 'null');
});
