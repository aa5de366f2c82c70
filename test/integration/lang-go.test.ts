// Issue 18: Go apps, built by the real builder
// (services/builder/worker.ts → run-build.ts → toolchain-image.ts and
// buildpack-build.ts) from a fixture app like a getting-started app, then run
// and asked over HTTP (test/harness/language-builds.ts). The first run on a
// machine makes the toolchain image (mmdebstrap, kept for later runs).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LABELS } from '../../services/core/docker.ts';

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
});
