import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseHealthchecks } from '../../services/platform/build/app-json.ts';

describe('app.json healthchecks', () => {
  test("Dokku's format, with its defaults; only startup checks decide a rollout", () => {
    const checks = parseHealthchecks(
      JSON.stringify({
        name: 'shop',
        healthchecks: {
          web: [
            { type: 'startup', name: 'health', path: '/health', content: 'ok', attempts: 3 },
            { type: 'liveness', path: '/live' },
          ],
          worker: [{ type: 'readiness', path: '/x' }],
        },
      }),
    );
    assert.deepEqual(checks, {
      web: [
        {
          type: 'startup',
          name: 'health',
          path: '/health',
          content: 'ok',
          attempts: 3,
          timeout: 5,
          wait: 1,
          initialDelay: 0,
          uptime: 0,
        },
      ],
    });
    assert.deepEqual(parseHealthchecks('{"name": "no checks"}'), {});
  });

  test('mistakes fail the build with one line naming app.json and the field', () => {
    const cases: [string, RegExp][] = [
      ['{ nope', /^app\.json: not valid JSON/],
      [
        '{"healthchecks": {"web": [{"path": "health"}]}}',
        /^app\.json: healthchecks\.web\.0\.path: /,
      ],
      [
        '{"healthchecks": {"web": [{"attempts": 0}]}}',
        /^app\.json: healthchecks\.web\.0\.attempts: /,
      ],
      ['{"healthchecks": {"Web!": [{}]}}', /^app\.json: healthchecks\.Web!: not a process type/],
    ];
    for (const [text, expected] of cases) {
      assert.throws(
        () => parseHealthchecks(text),
        (e: Error) => expected.test(e.message),
        text,
      );
    }
  });
});
