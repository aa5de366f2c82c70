// The push-size and disk quotas (issue 16: a user's 1 GB push was taken, and
// nothing capped what their repositories hold), as a user meets them: the
// ssh service on its port, the real OpenSSH client and real git pushing,
// Redis, and test/fixtures/fake-builder.ts (a real BullMQ worker that builds
// nothing) standing in for the builder, so that a push of the deploy branch
// that got through would queue a build. The caps are small (push-size 200k,
// disk 1m) so 1 MB of random bytes reaches them.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/log.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { Store } from '../../services/core/store/index.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { loadOrCreateHostKey } from '../../services/ssh/host-key.ts';
import { start } from '../../services/ssh/service.ts';
import { startFakeBuilder } from '../fixtures/fake-builder.ts';
import { testGitEnv } from '../harness/git.ts';
import { freePort } from '../harness/ports.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { opensshArgs, opensshCommand } from '../harness/ssh.ts';
import { type KeyPair, makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';

const execFileP = promisify(execFile);

const dir = await tempDir('berth-push-quotas');
const dataDir = path.join(dir, 'data');
const repos = dataPaths(dataDir).repos;
const prefix = testPrefix();
const redis = await redisClient(prefix);
const config = loadConfig({
  BERTH_DATA_DIR: dataDir,
  BERTH_SSH_PORT: String(await freePort()),
  BERTH_WEB_PORT: String(await freePort()),
  BERTH_METRICS_PORT: String(await freePort()),
  REDIS_URL: await sharedRedisUrl(),
  BERTH_REDIS_PREFIX: prefix,
  BERTH_QUOTA_PUSH_SIZE: '200k',
  BERTH_QUOTA_DISK: '1m',
});
const store = new Store(redis, prefix, { quotas: config.quotas });
await store.checkSchema();

const admin = await makeKeyPair(dir, 'ada');
await store.users.create('ada', 'admin');
await store.users.addKey('ada', admin.publicLine);

const ssh = await start({
  config,
  log: createLogger('ssh', { level: 'silent' }),
  searchPath: systemSearchPath(process.env.PATH),
});
after(() => ssh.stop());
const knownHosts = path.join(dir, 'known_hosts');
const hostKey = await loadOrCreateHostKey(dataPaths(dataDir).ssh);
await writeFile(knownHosts, `[127.0.0.1]:${config.sshPort} ${hostKey.publicKey}\n`);
const builder = await startFakeBuilder({
  redisUrl: await sharedRedisUrl(),
  redisPrefix: prefix,
  repos,
});
after(() => builder.close());
const queue = createBuildQueue(redis, prefix);
after(() => queue.close());

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** A Berth command over SSH with `key`. */
const berth = (key: KeyPair, ...args: string[]) =>
  run(
    'ssh',
    [
      ...opensshArgs({ port: config.sshPort, key: key.privatePath, knownHosts }),
      'berth@127.0.0.1',
      ...args,
    ],
    dir,
  );

let seq = 0;
/** A user of role `user` with a key, and a unique name. */
async function newUser(base: string): Promise<{ name: string; key: KeyPair }> {
  const name = `${base}${++seq}`;
  const key = await makeKeyPair(dir, name);
  await store.users.create(name, 'user');
  await store.users.addKey(name, key.publicLine);
  return { name, key };
}

/** A checkout of `app` with one small commit, its remote `deploy`; git runs as `key`'s owner. */
async function checkout(app: string, key: KeyPair) {
  const work = path.join(dir, `work-${app}`);
  const env = testGitEnv({
    HOME: dir,
    GIT_SSH_COMMAND: opensshCommand({ key: key.privatePath, knownHosts }),
  });
  const git = (...args: string[]) => run('git', args, work, env);
  const ok = async (...args: string[]) => {
    const r = await git(...args);
    assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.stderr}`);
  };
  await run('git', ['init', '-q', '-b', 'main', work], dir, env);
  await ok('remote', 'add', 'deploy', `ssh://berth@127.0.0.1:${config.sshPort}/${app}`);
  const commit = async (name: string, content: string | Buffer) => {
    await writeFile(path.join(work, name), content);
    await ok('add', name);
    await ok('commit', '-qm', `add ${name}`);
  };
  await commit('README.md', `# ${app}\n`);
  return { git, commit };
}

/** What the app's repository holds, read directly: its refs and every file under objects/. */
async function repoState(app: string) {
  const gitDir = path.join(repos, `${app}.git`);
  const refs = await execFileP('git', [`--git-dir=${gitDir}`, 'for-each-ref']);
  const files = await execFileP('find', [path.join(gitDir, 'objects'), '-type', 'f']);
  const du = await execFileP('du', ['-s', '-B1', path.join(gitDir, 'objects')]);
  return {
    refs: refs.stdout,
    objects: files.stdout.split('\n').sort(),
    objectBytes: Number(du.stdout.split('\t')[0]),
  };
}

/** What `du -s -B1` says the apps' repositories take together. */
async function duRepos(apps: string[]): Promise<number> {
  const { stdout } = await execFileP('du', [
    '-s',
    '-c',
    '-B1',
    ...apps.map((a) => path.join(repos, `${a}.git`)),
  ]);
  return Number(/^(\d+)\ttotal$/m.exec(stdout)?.[1]);
}

const jobCount = async () =>
  Object.values(await queue.getJobCounts()).reduce((sum, n) => sum + n, 0);

const MB = randomBytes(1024 * 1024);

describe('the push-size quota', () => {
  test('a push past the cap is refused while it streams, with one line; no ref moves, no build, no object stays', async () => {
    const bob = await newUser('bob');
    const app = `${bob.name}-big`;
    assert.equal((await berth(bob.key, 'apps:create', app)).code, 0);
    const work = await checkout(app, bob.key);
    const first = await work.git('push', 'deploy', 'main');
    assert.equal(first.code, 0, first.stderr);
    const before = await repoState(app);
    const jobs = await jobCount();

    // 1 MB of random bytes: the pack cannot be compressed below the 200k cap.
    await work.commit('data.bin', MB);
    for (const target of ['main', 'HEAD:refs/heads/stash']) {
      const push = await work.git('push', 'deploy', target);
      assert.notEqual(push.code, 0, `${target}: ${push.stderr}`);
      const ours = push.stderr.split('\n').filter((l) => l.startsWith('berth: '));
      assert.deepEqual(ours, [
        `berth: this push sends more than 200k of git objects: the push-size quota of ${bob.name} is 200k — keep large files out of git (add them to .gitignore and take them out of the commits you push), or ask an admin to raise it (berth quota:set ${bob.name} push-size=N)`,
      ]);
      // git's own refusal, from the receiving side.
      assert.match(push.stderr, /remote: fatal: pack exceeds maximum allowed size/);
    }
    assert.deepEqual(await repoState(app), before, 'the repository is as it was');
    assert.equal(await jobCount(), jobs, 'no build was queued');

    // An admin's word lets this user push it; the report says where they stand.
    const set = await berth(admin, 'quota:set', bob.name, 'push-size=2m', 'disk=unlimited');
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /push-size: +cap 2m \(set for this user\) for the git objects/);
    const push = await work.git('push', 'deploy', 'main');
    assert.equal(push.code, 0, push.stderr);
    assert.ok((await repoState(app)).objectBytes > MB.length);
  });

  test('admins have no cap', async () => {
    const app = `ada-big${++seq}`;
    const work = await checkout(app, admin);
    await work.commit('data.bin', MB);
    const push = await work.git('push', 'deploy', 'main');
    assert.equal(push.code, 0, push.stderr);
    await store.apps.destroy(app);
  });
});

describe('the disk quota', () => {
  test("a push while the owner's repositories take their cap is refused before git runs; the figure is right after each push", async () => {
    const cat = await newUser('cat');
    const [one, two] = [`${cat.name}-one`, `${cat.name}-two`];
    for (const app of [one, two]) assert.equal((await berth(cat.key, 'apps:create', app)).code, 0);
    // Pushes of 1 MB may pass; the disk cap (1m) stays the default.
    assert.equal((await berth(admin, 'quota:set', cat.name, 'push-size=2m')).code, 0);

    // Under the cap when it starts, so this push goes through and takes the user past it.
    const first = await checkout(one, cat.key);
    await first.commit('data.bin', MB);
    const pushed = await first.git('push', 'deploy', 'main');
    assert.equal(pushed.code, 0, pushed.stderr);
    const report = JSON.parse((await berth(cat.key, 'quota:report', '--format', 'json')).stdout);
    assert.deepEqual(report.quotas.disk, {
      used: await duRepos([one]),
      cap: 1024 * 1024,
      from: 'default',
    });
    assert.ok(report.quotas.disk.used > MB.length);
    assert.deepEqual(report.quotas['push-size'], { used: null, cap: 2 * 1024 ** 2, from: 'user' });

    // Now every push of the user's is refused, to another app and to this one, even a small one.
    const second = await checkout(two, cat.key);
    const jobs = await jobCount();
    for (const [work, app] of [
      [second, two],
      [first, one],
    ] as const) {
      await work.commit('small.txt', `${app}\n`);
      const before = await repoState(app).catch(() => undefined);
      const push = await work.git('push', 'deploy', 'main');
      assert.notEqual(push.code, 0);
      const lines = push.stderr.split('\n').filter((l) => l.startsWith('berth: '));
      assert.equal(lines.length, 1, push.stderr);
      assert.match(
        lines[0] ?? '',
        new RegExp(
          `^berth: the git repositories of the apps of ${cat.name} take 1\\.\\dm: the disk quota of ${cat.name} is 1m — destroy an app no longer needed \\(apps:destroy\\) to free its repository, or ask an admin to raise it \\(berth quota:set ${cat.name} disk=N\\)$`,
        ),
      );
      if (before) assert.deepEqual(await repoState(app), before);
      assert.equal((await repoState(app)).refs, app === two ? '' : before?.refs);
    }
    assert.equal(await jobCount(), jobs, 'no build was queued');
    const stillUsed = JSON.parse((await berth(cat.key, 'quota:report', '--format', 'json')).stdout)
      .quotas.disk.used;
    assert.equal(stillUsed, await duRepos([one, two]));

    // Destroying the app frees its repository, and the user may push again.
    const destroyed = await berth(cat.key, 'apps:destroy', one, '--force');
    assert.equal(destroyed.code, 0, destroyed.stderr);
    const again = await second.git('push', 'deploy', 'main');
    assert.equal(again.code, 0, again.stderr);
    const freed = JSON.parse((await berth(cat.key, 'quota:report', '--format', 'json')).stdout);
    assert.equal(freed.quotas.disk.used, await duRepos([two]));
    assert.ok(freed.quotas.disk.used < 1024 * 1024);
  });
});
