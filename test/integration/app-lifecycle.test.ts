// App lifecycle hooks (services/platform/apps/lifecycle.ts) against the
// run's Redis: a destroy hands every hook the app as it was, in the listed
// order; a rename whose hook fails moves back what the earlier hooks moved,
// and the record with them. The failing hook is a real hook that throws, the
// way a repository rename on a full disk would.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ROOT } from '../../services/core/actor.ts';
import { Store } from '../../services/core/store/index.ts';
import { APP_HOOKS } from '../../services/platform/app-hooks.ts';
import { destroyApp, renameApp } from '../../services/platform/apps/apps.ts';
import type { AppHooks, LifecycleDeps } from '../../services/platform/apps/lifecycle.ts';
import { buildLogFile } from '../../services/platform/build/build-log.ts';
import { buildInfo } from '../../services/platform/build/history.ts';
import { enqueueBuild } from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const queue = createBuildQueue(redis, prefix);
after(() => queue.close());
await store.users.create('ada', 'admin');

async function newApp(): Promise<string> {
  const app = `lc${randomBytes(3).toString('hex')}`;
  await store.apps.create({ name: app, owner: 'ada' });
  return app;
}

const deps = async (hooks: AppHooks[]): Promise<LifecycleDeps> => ({
  store,
  files: { repos: await tempDir('berth-lifecycle') },
  docker: undefined,
  hooks,
});

describe('app lifecycle hooks', () => {
  test('destroy runs each hook once, in order, with the app as it was', async () => {
    const app = await newApp();
    await store.domains.add(app, 'shop.example.com');
    await store.apps.setDeploySetting(app, 'checksSkipped', ['web']);
    const seen: string[] = [];
    const hook = (name: string): AppHooks => ({
      name,
      async destroyed(_d, gone, report) {
        assert.equal(await store.apps.exists(app), false, 'the record goes first');
        seen.push(`${name} ${gone.app} ${gone.domains.join(',')} ${gone.settings.checksSkipped}`);
        report.kept.push(name);
      },
    });
    const report = await destroyApp(ROOT, app, await deps([hook('one'), hook('two')]), {
      removeStorage: true,
    });
    assert.deepEqual(seen, [`one ${app} shop.example.com web`, `two ${app} shop.example.com web`]);
    assert.equal(report, undefined, 'no Engine: nothing to report about it');
  });

  test('a rename whose hook fails moves back what moved, and the record with it', async () => {
    const app = await newApp();
    const to = `${app}x`;
    const moves: string[] = [];
    const moving: AppHooks = {
      name: 'moving',
      async renamed(_d, from, target) {
        moves.push(`${from}→${target}`);
      },
    };
    const failing: AppHooks = {
      name: 'failing',
      async renamed() {
        throw new Error('no space left on device');
      },
    };
    const never: AppHooks = {
      name: 'never',
      async renamed() {
        assert.fail('a hook after the failure ran');
      },
    };
    const found = await store.apps.require(app);
    await assert.rejects(
      renameApp(found, to, await deps([moving, failing, never])),
      /no space left on device/,
    );
    assert.deepEqual(moves, [`${app}→${to}`, `${to}→${app}`]);
    assert.equal(await store.apps.exists(app), true);
    assert.equal(await store.apps.exists(to), false);

    await renameApp(found, to, await deps([moving]));
    assert.equal(await store.apps.exists(to), true);
    assert.deepEqual(moves.at(-1), `${app}→${to}`);
  });

  test("a new app of a destroyed app's name gets none of its builds or their logs", async () => {
    const app = await newApp();
    const buildLogs = await tempDir('berth-build-logs');
    const id = await enqueueBuild(queue, {
      app,
      rev: 'a'.repeat(40),
      ref: 'refs/heads/main',
      pusher: 'ada',
    });
    const file = buildLogFile(buildLogs, app, id);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, 'secret build output\n');
    await destroyApp(ROOT, app, {
      store,
      files: { repos: await tempDir('berth-repos'), buildLogs },
      docker: undefined,
      hooks: APP_HOOKS,
    });
    await assert.rejects(stat(path.dirname(file)), { code: 'ENOENT' }, 'its build logs went');

    // The next user to take the name, with the old build's id in hand.
    await store.users.create('mallory', 'user').catch(() => {});
    const reborn = await store.apps.create({ name: app, owner: 'mallory' });
    assert.ok((await queue.getJob(id))?.data.app === app, 'the old job is still in the queue');
    await assert.rejects(
      buildInfo(redis, prefix, queue, reborn, id, { buildLogs }),
      (e: unknown) =>
        e instanceof Error &&
        /BERTH_E_BUILD_NOT_FOUND|no build/i.test(`${(e as { code?: string }).code} ${e.message}`),
    );
  });
});
