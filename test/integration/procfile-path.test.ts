// ps:set APP procfile-path (issue 20), through the real builder: the build
// reads the process types from the path the app names, from the pushed
// commit, and the root Procfile is not read then. A path missing from the
// commit is no Procfile, as on Dokku.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Store } from '../../services/core/store/index.ts';
import { buildHarness } from '../harness/builds.ts';
import { testStackImage } from '../harness/docker.ts';

const { main, newApp, commit, build } = await buildHarness('berth-procfile-path');
const store = new Store(main.redis, main.prefix);

const files = {
  Dockerfile: `FROM ${testStackImage()}\nCMD ["sleep", "1"]\n`,
  Procfile: 'web: echo root\n',
  '.dokku/Procfile': 'worker: echo from-dokku\n',
};

describe('procfile-path', () => {
  test('the build reads the app’s Procfile path, else the global one, else Procfile', async () => {
    const app = await newApp();
    const rev = await commit(app, files);
    await store.apps.setDeploySetting(app, 'procfilePath', '.dokku/Procfile');
    const named = await build(main, app, rev);
    assert.equal(named.result.status, 'succeeded', named.lines.join('\n'));
    assert.deepEqual(named.result.processes, { web: null, worker: 'echo from-dokku' });
    assert.ok(named.lines.some((l) => /Procfile: \.dokku\/Procfile/.test(l)));

    await store.apps.setDeploySetting(app, 'procfilePath', null);
    await store.platform.set('procfilePath', 'missing/Procfile');
    try {
      const missing = await build(main, app, rev);
      assert.equal(missing.result.status, 'succeeded', missing.lines.join('\n'));
      assert.deepEqual(missing.result.processes, { web: null });
    } finally {
      await store.platform.set('procfilePath', null);
    }
    const root = await build(main, app, rev);
    assert.deepEqual(root.result.processes, { web: 'echo root' });
  });
});
