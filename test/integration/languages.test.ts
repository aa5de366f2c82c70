// Issue 18: the Python an app asks for, and the versions and languages Berth
// refuses in one line, through the real builder
// (services/builder/worker.ts → run-build.ts → toolchain-image.ts and
// buildpack-build.ts) from a fixture app like a getting-started app, then run
// and asked over HTTP (test/harness/language-builds.ts). The first run on a
// machine makes the toolchain image (mmdebstrap, kept for later runs).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { languageBuilds } from '../harness/language-builds.ts';

const h = await languageBuilds('py');

describe('the Python an app asks for; versions and languages refused', () => {
  test("python: .python-version 3.13 runs on Debian 13's Python", async (t) => {
    const r = await h.twice(t, 'python-pinned', {
      file: 'app.py',
      from: /python-pinned on/,
      to: 'python-pinned, again, on',
    });
    assert.ok(
      r.first.lines.includes('-----> Python 3.13, Debian 13 (.python-version: 3.13)'),
      r.first.lines.join('\n'),
    );
    assert.ok(
      r.first.lines.some((l) => /^-----> Python 3\.13\.\d+ \(Debian's, as the app asks\)$/.test(l)),
      r.first.lines.join('\n'),
    );
    assert.match(r.body, /^python-pinned on Python 3\.13\.\d+$/m);
    assert.match(r.body2, /^python-pinned, again, on Python 3\.13/m);
  });

  test('a version Berth cannot provide is refused in one line naming the ones it can, before any image is made', async () => {
    for (const [fixture, files, error] of [
      [
        'python-pinned',
        { '.python-version': '3.12\n' },
        ".python-version: Python 3.12: Berth provides Python 3.11, 3.13 (Debian's packages); ask for one of them, or add a Dockerfile",
      ],
      [
        'python-plain',
        { 'runtime.txt': 'python-3.12.1\n' },
        "runtime.txt: Python 3.12.1: Berth provides Python 3.11, 3.13 (Debian's packages); ask for one of them, or add a Dockerfile",
      ],
      [
        'go-web',
        { 'go.mod': 'module example.com/go-web\n\ngo 1.99\n' },
        "go.mod: go 1.99 is newer than every Go Berth has: Berth provides Go 1.19, 1.21, 1.22, 1.23, 1.24, 1.25, 1.26, 1.27 (Debian's packages); ask for one of them, or add a Dockerfile",
      ],
      [
        'ruby-sinatra',
        { '.ruby-version': '2.7.8\n' },
        ".ruby-version: Ruby 2.7.8: Berth provides Ruby 3.1, 3.3 (Debian's packages); ask for one of them, or add a Dockerfile",
      ],
      [
        'php-web',
        { 'composer.json': '{"require":{"php":"^7.4"}}\n' },
        'composer.json: require.php "^7.4": Berth provides PHP 8.2, 8.4 (Debian\'s packages); ask for one of them, or add a Dockerfile',
      ],
    ] as const) {
      const { app, rev } = await h.appFrom(fixture, files);
      const b = await h.build(app, rev);
      assert.equal(b.result.status, 'failed', fixture);
      assert.equal(b.result.error, error);
      assert.ok(!b.lines.some((l) => /Making the toolchain image/.test(l)));
    }
  });

  test('an app in a language no buildpack knows is told to add a Dockerfile', async () => {
    const { app, rev } = await h.appFrom(undefined, {
      'Main.java': 'class Main { public static void main(String[] a) {} }\n',
      'pom.xml': '<project/>\n',
    });
    const b = await h.build(app, rev);
    assert.equal(b.result.status, 'failed');
    assert.equal(
      b.result.error,
      'no Dockerfile, and none of the buildpacks (ruby, node, python, php, go, static, procfile) recognises this app — add a Dockerfile (Berth builds Node.js, Python, Ruby, PHP and Go apps, static sites and Procfile apps without one)',
    );
  });
});
