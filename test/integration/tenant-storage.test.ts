// Names do not inherit storage: a volume apps:destroy kept is its old
// owner's, with the real Engine and the commands a tenant types. Volumes are
// named for their app and Docker cannot relabel one, so without the check a
// new app of the same name mounts the kept volume (and its data) with
// storage:mount, lists it, and removes it with apps:destroy --remove-storage.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { loadConfig } from '../../services/core/config.ts';
import { LABELS } from '../../services/core/docker.ts';
import { Store } from '../../services/core/store/index.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { removeAppFromEngine, testDocker, volumeExists } from '../harness/docker.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const store = new Store(await redisClient(prefix), prefix);
const app = `vol${randomBytes(3).toString('hex')}`;
const volume = `berth-storage.${app}.data`;
const ada = userActor('ada', 'user');
const mallory = userActor('mallory', 'user');
const admin = userActor('root', 'admin');
let docker: Docker;
let run: ReturnType<typeof commandRunner>;
const config = loadConfig({
  BERTH_DATA_DIR: await tempDir('berth-tenant-storage'),
  DOCKER_HOST: process.env.DOCKER_HOST,
});

const listed = async (who: typeof ada) =>
  JSON.parse((await run(who, ['storage:list', app, '--format', 'json'])).stdout) as {
    name: string;
  }[];

before(async () => {
  docker = (await testDocker()).docker;
  run = commandRunner(store, config);
  for (const [name, role] of [
    ['ada', 'user'],
    ['mallory', 'user'],
    ['root', 'admin'],
  ] as const) {
    await store.users.create(name, role);
  }
});
after(() => removeAppFromEngine(docker, app));

describe("a destroyed app's kept storage", () => {
  test('stays its old owner’s until an admin hands it over', async () => {
    assert.equal((await run(ada, ['apps:create', app])).code, 0);
    assert.equal((await run(ada, ['storage:mount', app, 'data:/data'])).code, 0);
    const destroyed = await run(ada, ['apps:destroy', app, '--force']);
    assert.equal(destroyed.code, 0, destroyed.stderr);
    assert.match(destroyed.stdout, /Kept its storage with the data/);

    // Another user takes the name: the volume is neither hers to mount, list nor remove.
    assert.equal((await run(mallory, ['apps:create', app])).code, 0);
    const mount = await run(mallory, ['storage:mount', app, 'data:/data']);
    assert.notEqual(mount.code, 0);
    assert.match(
      mount.stderr,
      new RegExp(
        `the volume ${volume.replaceAll('.', '\\.')} was kept from an earlier app named ${app}.*storage:hand-over ${app} data`,
      ),
    );
    assert.deepEqual((await store.apps.deploySettings(app)).storage, [], 'nothing was mounted');
    assert.deepEqual(await listed(mallory), []);
    // Only admins hand volumes over.
    assert.notEqual((await run(mallory, ['storage:hand-over', app, 'data'])).code, 0);
    const gone = await run(mallory, ['apps:destroy', app, '--force', '--remove-storage']);
    assert.equal(gone.code, 0, gone.stderr);
    assert.ok(
      await volumeExists(docker, volume),
      'the kept volume outlives a later app of its name',
    );

    // Its old owner makes the app again; an admin gives the volume back.
    assert.equal((await run(ada, ['apps:create', app])).code, 0);
    assert.notEqual((await run(ada, ['storage:mount', app, 'data:/data'])).code, 0);
    const handed = await run(admin, ['storage:hand-over', app, 'data']);
    assert.equal(handed.code, 0, handed.stderr);
    assert.match(handed.stdout, new RegExp(`${volume.replaceAll('.', '\\.')} is now ${app}'s`));
    const again = await run(admin, ['storage:hand-over', app, 'data']);
    assert.match(again.stderr, /is .*'s own volume already/);
    assert.equal((await run(ada, ['storage:mount', app, 'data:/data'])).code, 0);
    assert.deepEqual(
      (await listed(ada)).map((v) => v.name),
      ['data'],
    );
    // Now it is the app's: destroying with --remove-storage removes it.
    const removed = await run(ada, ['apps:destroy', app, '--force', '--remove-storage']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(await volumeExists(docker, volume), false);
  });

  test('a volume made without the app mark is judged by its age', async () => {
    // As an older Berth made them: Berth's labels, no createdAt of the app.
    const legacy = `berth-storage.${app}.old`;
    await docker.createVolume({
      Name: legacy,
      Labels: { [LABELS.managed]: 'true', [LABELS.app]: app, [LABELS.storage]: 'old' },
    });
    // Docker keeps a volume's time to the second: the app is made in a later one.
    await sleep(1100);
    assert.equal((await run(mallory, ['apps:create', app])).code, 0);
    const mount = await run(mallory, ['storage:mount', app, 'old:/old']);
    assert.match(mount.stderr, /was kept from an earlier app named/);
    assert.deepEqual(await listed(mallory), []);
    assert.equal(
      (await run(mallory, ['apps:destroy', app, '--force', '--remove-storage'])).code,
      0,
    );
    assert.ok(await volumeExists(docker, legacy));
  });
});
