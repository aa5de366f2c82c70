import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseProcfile } from '../../services/platform/build/procfile.ts';

describe('parseProcfile', () => {
  test('types and commands in order; comments, blank lines and CRLF are fine', () => {
    const text =
      '# the app\r\nweb: node server.js --port $PORT\r\n\r\nworker:bin/worker  -q\nrelease:  ./migrate\n';
    assert.deepEqual(parseProcfile(text), {
      web: 'node server.js --port $PORT',
      worker: 'bin/worker  -q',
      release: './migrate',
    });
    assert.deepEqual(Object.keys(parseProcfile(text)), ['web', 'worker', 'release']);
    assert.deepEqual(parseProcfile(''), {});
  });

  test('a command keeps its own colons (URLs, times)', () => {
    assert.deepEqual(parseProcfile('web: curl http://x:80/ && sleep 1:2'), {
      web: 'curl http://x:80/ && sleep 1:2',
    });
  });

  test('a bad line is named by file and line number with what to write instead', () => {
    const cases: [string, RegExp][] = [
      ['web: ok\njust a command\n', /^Procfile:2: not a process line; write `type: command`/],
      ['web: ok\n\nweb: again', /^Procfile:3: process type web is defined twice/],
      ['web:   \n', /^Procfile:1: process type web has no command/],
      ['-web: x', /^Procfile:1: "-web" is not a process type name/],
      [`${'w'.repeat(64)}: x`, /is not a process type name/],
      ['we$b: x', /^Procfile:1: "we\$b" is not a process type name/],
    ];
    for (const [text, expected] of cases) {
      assert.throws(
        () => parseProcfile(text),
        (e: Error) => expected.test(e.message),
        JSON.stringify(text),
      );
    }
  });
});
