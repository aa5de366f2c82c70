// Apps built by buildpacks run as a user of their own, not root, with the
// real builder, the real Engine and the commands a tenant types. The app's
// build script (npm run build, as root in the build container, as on
// Heroku) plants a set-user-ID copy of bash outside /app, the way a tenant
// would try to keep root for later. Without the image's user, `id -u` says 0;
// without no-new-privileges, the planted shell gives euid 0 back to the app
// user; without the storage step, the app user cannot write the volume its
// app wrote while it ran as root (or a new one where the image has nothing).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../services/core/config.ts';
import { Store } from '../../services/core/store/index.ts';
import { APP_USER } from '../../services/platform/build/buildpack-build.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { buildHarness } from '../harness/builds.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { quietDeployDeps, serveText } from '../harness/deploy.ts';
import { ensureTestStackImage, removeAppFromEngine, testStackImage } from '../harness/docker.ts';
import { TEST_RUNTIMES } from '../harness/node-runtime.ts';
import { redisClient } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const { docker, paths, startBuilder, newApp, commit, build } =
  await buildHarness('berth-tenant-nonroot');
// Node.js from the runtimes cache every test run on this machine shares.
const builder = await startBuilder({ paths: { ...paths, runtimes: TEST_RUNTIMES } });
const store = new Store(await redisClient(builder.prefix), builder.prefix);
const config = loadConfig({
  BERTH_DATA_DIR: await tempDir('berth-tenant-nonroot-data'),
  DOCKER_HOST: process.env.DOCKER_HOST,
});
const run = commandRunner(store, config);
const ada = userActor('ada', 'admin');
const deps = () => quietDeployDeps(store, schedulerNamed('docker-local', { docker }));
// At the top level: a Redis client made in a hook is cleaned up after it.
const app = await newApp(builder.prefix);

/** A one-off as `run APP command` runs it; its output, or the failure. */
async function oneOff(command: string): Promise<string> {
  const r = await run(ada, ['run', app, command]);
  assert.equal(r.code, 0, `run ${command}: exit ${r.code}: ${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

before(async () => {
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  // The app's first release ran as root (an image built before apps had a
  // user of their own) and wrote its storage.
  assert.equal((await run(ada, ['storage:mount', app, 'data:/data', '--no-restart'])).code, 0);
  await deployImage(deps(), {
    app,
    image: testStackImage(),
    processes: { web: `echo old >/data/old.txt && ${serveText('as root')}` },
    by: 'ada',
    description: 'Deploy as root',
  });
});
after(() => removeAppFromEngine(docker, app));

describe('apps built by buildpacks run as a user of their own', () => {
  test('the app user runs the app, owns /app and its storage, and cannot get root back', async () => {
    const rev = await commit(app, {
      'package.json': JSON.stringify({
        name: 'nonroot',
        version: '1.0.0',
        private: true,
        scripts: { build: 'sh plant.sh' },
      }),
      'plant.sh': 'cp /bin/bash /usr/local/bin/rootsh && chmod 4755 /usr/local/bin/rootsh\n',
      'server.js': '',
    });
    const built = await build(builder, app, rev);
    assert.equal(
      built.result.status,
      'succeeded',
      `${built.result.error}\n${built.lines.join('\n')}`,
    );
    const image = built.result.image ?? '';
    assert.equal((await docker.getImage(image).inspect()).Config.User, APP_USER);
    await deployImage(deps(), {
      app,
      image,
      processes: { web: serveText('as the app user') },
      by: 'ada',
      description: 'Deploy the build',
    });

    assert.equal(await oneOff('id -u; id -un'), '32767\napp');
    // The planted shell is there, set-user-ID root, and gives nothing.
    assert.equal(await oneOff('stat -c %U:%a /usr/local/bin/rootsh'), 'root:4755');
    assert.equal(await oneOff('/usr/local/bin/rootsh -p -c "id -u"'), '32767');
    assert.equal(await oneOff('grep NoNewPrivs /proc/self/status'), 'NoNewPrivs:\t1');
    // Apps write beside their code, as on Heroku; the Node.js runtime stays root's.
    assert.equal(await oneOff('echo here >/app/written && cat /app/written'), 'here');
    assert.equal(await oneOff('stat -c %U /app/.heroku/node/bin/node'), 'root');
    // What the root release wrote is the app user's now, and the user can add to it.
    assert.equal(await oneOff('echo new >>/data/old.txt && cat /data/old.txt'), 'old\nnew');
    assert.equal(await oneOff('stat -c %u:%g /data /data/old.txt'), `${APP_USER}\n${APP_USER}`);
    // A volume made new where the image has nothing is the app user's too.
    assert.equal((await run(ada, ['storage:mount', app, 'fresh:/srv/fresh'])).code, 0);
    assert.equal(await oneOff('echo ok >/srv/fresh/f && cat /srv/fresh/f'), 'ok');

    // The instance itself runs as the app user with no way to gain privileges.
    const [web] = await docker.listContainers({
      filters: { label: [`berth.app=${app}`, 'berth.process=web'] },
    });
    const info = await docker.getContainer(web?.Id ?? '').inspect();
    assert.equal(info.Config.User, APP_USER);
    assert.deepEqual(info.HostConfig.SecurityOpt, ['no-new-privileges']);
  });
});
