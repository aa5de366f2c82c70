// PORT and DYNO as a Heroku-style app reads them, with the real Engine: an
// app that sets its own PORT listens there and is checked and routed there
// (it was overridden with 5000 and the push failed after a 60 s wait);
// DYNO names the process (`web.1`, `run.1`), which frameworks read to tell a
// server from a laptop.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { engineApp, quietDeployDeps, serveText } from '../harness/deploy.ts';
import { testStackImage } from '../harness/docker.ts';

const { prefix, store, app, docker, ada, run } = await engineApp('pd');

describe('PORT and DYNO', () => {
  test('an app that sets PORT listens, is checked and is routed there; DYNO names the process', async () => {
    for (const bad of ['abc', '0', '70000']) {
      const r = await run(ada, ['config:set', app, `PORT=${bad}`, '--no-restart']);
      assert.equal(r.code, 2, `PORT=${bad}`);
      assert.match(r.stderr, /not a port number/);
    }
    assert.equal((await run(ada, ['config:set', app, 'PORT=8000', '--no-restart'])).code, 0);
    const release = await deployImage(
      quietDeployDeps(store, schedulerNamed('docker-local', { docker }), {
        signal: AbortSignal.timeout(30_000),
      }),
      {
        app,
        image: testStackImage(),
        processes: { web: serveText('on 8000') },
        by: 'ada',
        description: 'Deploy',
      },
    );
    assert.equal(release.status, 'succeeded');
    const routes = JSON.stringify(await getRoutes(store.redis, prefix, app));
    assert.match(routes, /:8000/, routes);
    const r = await run(ada, ['run', app, 'echo', '$PORT', '$DYNO']);
    assert.equal(r.stdout.trim(), '8000 run.1', r.stderr);
    const [web] = await docker.listContainers({
      filters: { label: [`berth.app=${app}`, 'berth.process=web'] },
    });
    const env = (await docker.getContainer(web?.Id ?? '').inspect()).Config.Env;
    assert.ok(env.includes('PORT=8000') && env.includes('DYNO=web.1'), env.join(' '));
  });
});
