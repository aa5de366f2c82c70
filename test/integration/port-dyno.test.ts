// PORT and DYNO as a Heroku-style app reads them, with the real Engine: an
// app that sets its own PORT listens there and is checked and routed there
// (it was overridden with 5000 and the push failed after a 60 s wait);
// DYNO names the process (`web.1`, `run.1`), which frameworks read to tell a
// server from a laptop.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { loadConfig } from '../../services/core/config.ts';
import { Store } from '../../services/core/store/index.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { quietDeployDeps, serveText } from '../harness/deploy.ts';
import {
  ensureTestStackImage,
  removeAppFromEngine,
  testDocker,
  testStackImage,
} from '../harness/docker.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const store = new Store(await redisClient(prefix), prefix);
const app = `pd${randomBytes(3).toString('hex')}`;
const ada = userActor('ada', 'user');
const config = loadConfig({
  BERTH_DATA_DIR: await tempDir('berth-port-dyno'),
  DOCKER_HOST: process.env.DOCKER_HOST,
});
const run = commandRunner(store, config);
let docker: Docker;

before(async () => {
  docker = (await testDocker()).docker;
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  await store.users.create('ada', 'user');
  await store.apps.create({ name: app, owner: 'ada' });
});
after(() => removeAppFromEngine(docker, app));

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
