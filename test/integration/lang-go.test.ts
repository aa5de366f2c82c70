// Issue 18: Go apps, built by the real builder
// (services/builder/worker.ts → run-build.ts → toolchain-image.ts and
// buildpack-build.ts) from a fixture app like a getting-started app, then run
// and asked over HTTP (test/harness/language-builds.ts). The first run on a
// machine makes the toolchain image (mmdebstrap, kept for later runs).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LABELS } from '../../services/core/docker.ts';
import { bridgeGateway } from '../harness/buildpacks.ts';
import { startGoProxy } from '../harness/go-proxy.ts';

import { languageBuilds } from '../harness/language-builds.ts';

const h = await languageBuilds('go');

describe('Go apps', () => {
  test('go: go.mod go 1.22 compiles on Go 1.22, the app runs on the plain stack, the build cache is reused', async (t) => {
    const r = await h.twice(t, 'go-web', {
      file: 'main.go',
      from: /go-web on/,
      to: 'go-web, again, on',
    });
    assert.ok(
      r.first.lines.includes('-----> Go 1.22, Debian 12 backports (go.mod: go 1.22)'),
      r.first.lines.join('\n'),
    );
    assert.ok(r.first.lines.includes('-----> Go app detected (buildpack go)'));
    assert.deepEqual(r.first.result.processes, { web: 'bin/go-web' });
    assert.match(r.body, /^go-web on go1\.22\.\d+$/m);
    assert.match(r.body2, /^go-web, again, on go1\.22\./m);
    // The app image is the stack's, not the toolchain's.
    const labels = await h.labelsOf(r.second.result.image);
    assert.equal(labels[LABELS.toolchain], undefined);
    assert.equal(labels[LABELS.buildpacks], 'go');
  });

  test('go: a re-push downloads no module (the module cache is reused); a changed go.mod and go.sum build the new version', async (t) => {
    const greet = (version: string, words: string) => ({
      path: 'example.com/greet',
      version,
      files: {
        'go.mod': 'module example.com/greet\n\ngo 1.22\n',
        'greet.go': `package greet\n\nfunc Hello() string { return "${words}" }\n`,
      },
    });
    const proxy = await startGoProxy(await bridgeGateway(h.docker()), [
      greet('v1.0.0', 'hello from greet v1.0.0'),
      greet('v1.1.0', 'hello from greet v1.1.0'),
    ]);
    t.after(() => proxy.close());
    const files = (version: string, note: string) => ({
      'go.mod': `module example.com/greeter\n\ngo 1.22\n\nrequire example.com/greet ${version}\n`,
      'go.sum': proxy.sum('example.com/greet', version),
      'main.go': [
        'package main',
        '',
        'import (',
        '\t"fmt"',
        '\t"net/http"',
        '\t"os"',
        '',
        '\t"example.com/greet"',
        ')',
        '',
        'func main() {',
        '\thttp.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {',
        `\t\tfmt.Fprintf(w, "%s (${note})\\n", greet.Hello())`,
        '\t})',
        '\thttp.ListenAndServe(":"+os.Getenv("PORT"), nil)',
        '}',
        '',
      ].join('\n'),
    });
    const { app, work } = await h.appFrom(undefined, {});
    await h.store.config.set(app, { GOPROXY: proxy.url, GOSUMDB: 'off' });
    const first = await h.build(app, await h.commit(app, work, files('v1.0.0', 'first')));
    h.ok(first);
    assert.equal(proxy.downloads(), 1, first.lines.join('\n'));
    const body = async (image: string | undefined) =>
      (await h.answerAt(image ?? '', '/')).body.toString();
    assert.equal(await body(first.result.image), 'hello from greet v1.0.0 (first)\n');

    // Only the app's code changes: nothing is fetched, the new code runs.
    const second = await h.build(app, await h.commit(app, work, files('v1.0.0', 'second')));
    h.ok(second);
    assert.equal(proxy.downloads(), 1, `the re-push fetched a module\n${second.lines.join('\n')}`);
    assert.equal(await body(second.result.image), 'hello from greet v1.0.0 (second)\n');

    // go.mod and go.sum name another version: it is fetched and built in, never the cached one.
    const third = await h.build(app, await h.commit(app, work, files('v1.1.0', 'third')));
    h.ok(third);
    assert.equal(proxy.downloads(), 2, third.lines.join('\n'));
    assert.equal(await body(third.result.image), 'hello from greet v1.1.0 (third)\n');
    t.diagnostic(
      `greeter: first push ${Math.round(first.ms)} ms, re-push ${Math.round(second.ms)} ms, new module ${Math.round(third.ms)} ms`,
    );
  });
});
