// repo:gc and repo:purge-cache through the real dispatcher: git gc on an
// app's real bare repository (its objects packed, its branches kept), and
// the buildpack cache volume removed from the real Engine, but only Berth's
// own and never one a build is using.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { simpleGit } from 'simple-git';
import { loadConfig } from '../../services/core/config.ts';
import { LABELS } from '../../services/core/docker.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import { cacheVolumeName } from '../../services/platform/build/image-names.ts';
import { ensureRepo, repoDir } from '../../services/platform/git/repos.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { testDocker, testDockerRun, testStackImage, volumeExists } from '../harness/docker.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const config = loadConfig({ BERTH_DOMAIN: 'berth.test', BERTH_DATA_DIR: await tempDir() });
const paths = dataPaths(config.dataDir);
await mkdir(paths.repos, { recursive: true });
const run = commandRunner(store, config);
const { docker } = await testDocker();
const { labels } = testDockerRun();

const bob = userActor('bob');
const dave = userActor('dave');
for (const u of [bob, dave]) if (u.kind === 'user') await store.users.create(u.user, u.role);

const suffix = randomBytes(3).toString('hex');
let seq = 0;
async function app(): Promise<string> {
  const name = `repo${suffix}-${++seq}`;
  await store.apps.create({ name, owner: 'bob' });
  return name;
}

describe('repo:gc', () => {
  test("packs the app's loose objects and keeps its branches", async () => {
    const name = await app();
    await ensureRepo(paths, name);
    const git = simpleGit(repoDir(paths, name));
    // Three commits fetched in: a small transfer stays loose objects, as pushes leave them.
    const work = await tempDir();
    const sh = (...args: string[]) =>
      execFileSync('git', args, {
        cwd: work,
        env: {
          ...process.env,
          GIT_CONFIG_GLOBAL: '/dev/null',
          GIT_AUTHOR_NAME: 't',
          GIT_AUTHOR_EMAIL: 't@t',
          GIT_COMMITTER_NAME: 't',
          GIT_COMMITTER_EMAIL: 't@t',
        },
      })
        .toString()
        .trim();
    sh('init', '-q', '-b', 'main');
    for (let i = 0; i < 3; i++) {
      await writeFile(path.join(work, `f${i}.txt`), `file ${i}\n`);
      sh('add', '.');
      sh('commit', '-q', '-m', `c${i}`);
    }
    const head = sh('rev-parse', 'HEAD');
    await git.raw(['fetch', '-q', work, 'main:main']);
    const loose = async () =>
      Number(/^count: (\d+)$/m.exec(await git.raw(['count-objects', '-v']))?.[1]);
    assert.ok((await loose()) >= 3);

    const r = await run(bob, ['repo:gc', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`Cleaned up ${name}'s git repository: [0-9.]+ MB before, [0-9.]+ MB now`),
    );
    assert.equal(await loose(), 0);
    assert.equal((await git.revparse(['refs/heads/main'])).trim(), head);
  });

  test('an app with nothing pushed: says so, exit 0', async () => {
    const name = await app();
    const r = await run(bob, ['repo:gc', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /has no git repository yet/);
  });

  test("another user's app is refused in one line", async () => {
    const name = await app();
    const r = await run(dave, ['repo:gc', name]);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    const bad = await run(bob, ['repo:gc', '../etc']);
    assert.equal(bad.code, 2);
  });
});

describe('repo:purge-cache', () => {
  test("removes the app's build cache volume", async () => {
    const name = await app();
    await docker.createVolume({
      Name: cacheVolumeName(name),
      Labels: { ...labels, [LABELS.app]: name },
    });
    const r = await run(bob, ['repo:purge-cache', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Removed .*'s build cache/);
    assert.equal(await volumeExists(docker, cacheVolumeName(name)), false);
    const again = await run(bob, ['repo:purge-cache', name]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /has no build cache/);
  });

  test("leaves a volume of that name that is not Berth's", async () => {
    const name = await app();
    const { [LABELS.managed]: _, ...notBerths } = labels;
    await docker.createVolume({ Name: cacheVolumeName(name), Labels: notBerths });
    after(() =>
      docker
        .getVolume(cacheVolumeName(name))
        .remove()
        .catch(() => {}),
    );
    const r = await run(bob, ['repo:purge-cache', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await volumeExists(docker, cacheVolumeName(name)), true);
  });

  test('a cache a build is using is left, exit 1, saying to run it again', async () => {
    const name = await app();
    await docker.createVolume({
      Name: cacheVolumeName(name),
      Labels: { ...labels, [LABELS.app]: name },
    });
    const c = await docker.createContainer({
      Image: testStackImage(),
      Cmd: ['true'],
      Labels: labels,
      HostConfig: { Mounts: [{ Type: 'volume', Source: cacheVolumeName(name), Target: '/cache' }] },
    });
    after(() => c.remove({ force: true }).catch(() => {}));
    const r = await run(bob, ['repo:purge-cache', name]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /in use by a build; nothing removed/);
    assert.equal(await volumeExists(docker, cacheVolumeName(name)), true);
    await c.remove({ force: true });
  });

  test("another user's app is refused", async () => {
    const name = await app();
    await docker.createVolume({
      Name: cacheVolumeName(name),
      Labels: { ...labels, [LABELS.app]: name },
    });
    const r = await run(dave, ['repo:purge-cache', name]);
    assert.notEqual(r.code, 0);
    assert.equal(await volumeExists(docker, cacheVolumeName(name)), true);
  });
});
