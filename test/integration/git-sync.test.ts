// git:sync APP REPOSITORY [REF] (issue 20): a commit of another git
// repository becomes the app's deploy branch, fetched by real git from a
// real smart-HTTP server on loopback, which the operator allows here as
// BERTH_BUILDPACK_URLS allows a buildpack's; without that allowance, and for
// every hostile URL and ref, one line and nothing changed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../../services/core/config.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import { repoDir } from '../../services/platform/git/repos.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { testGitEnv } from '../harness/git.ts';
import { type GitHttpServer, startGitHttpServer } from '../harness/git-http.ts';
import { prefixSnapshot, redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const exec = promisify(execFile);
const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const bob = userActor('bob');
const eve = userActor('eve');
const scratch = await tempDir('berth-git-sync');
const dataDir = path.join(scratch, 'data');
let server: GitHttpServer;
let run: ReturnType<typeof commandRunner>;
let strict: ReturnType<typeof commandRunner>;
const revs: Record<string, string> = {};

const git = (cwd: string, ...args: string[]) =>
  exec('git', args, { cwd, env: testGitEnv() }).then((r) => r.stdout.trim());

before(async () => {
  // The source repository: main, a feature branch and a tag.
  const served = path.join(scratch, 'served');
  const work = path.join(scratch, 'work');
  await mkdir(served);
  await mkdir(work);
  await git(work, 'init', '-q', '-b', 'main');
  await writeFile(path.join(work, 'index.html'), 'v1\n');
  await git(work, 'add', '-A');
  await git(work, 'commit', '-qm', 'v1');
  await git(work, 'tag', 'v1.0');
  revs.v1 = await git(work, 'rev-parse', 'HEAD');
  await git(work, 'checkout', '-qb', 'feature');
  await writeFile(path.join(work, 'index.html'), 'feature\n');
  await git(work, 'commit', '-qam', 'feature');
  revs.feature = await git(work, 'rev-parse', 'HEAD');
  await git(work, 'checkout', '-q', 'main');
  await git(scratch, 'clone', '-q', '--bare', work, path.join(served, 'src.git'));
  server = await startGitHttpServer(served);
  run = commandRunner(
    store,
    loadConfig({
      BERTH_DOMAIN: 'berth.test',
      BERTH_DATA_DIR: dataDir,
      BERTH_BUILDPACK_URLS: `public-https,${server.url}`,
    }),
  );
  strict = commandRunner(
    store,
    loadConfig({ BERTH_DOMAIN: 'berth.test', BERTH_DATA_DIR: dataDir }),
  );
  for (const u of [bob, eve]) if (u.kind === 'user') await store.users.create(u.user, u.role);
  await store.apps.create({ name: 'synced', owner: 'bob' });
});
after(() => server?.close());

const bareRev = (ref: string) =>
  git(repoDir(dataPaths(dataDir), 'synced'), 'rev-parse', '--verify', '--quiet', ref).catch(
    () => '',
  );

describe('git:sync', () => {
  test("the repository's HEAD becomes the deploy branch, without a build", async () => {
    const r = await run(bob, ['git:sync', 'synced', `${server.url}src.git`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /-----> main of synced is now [0-9a-f]{7}\n$/);
    assert.equal(await bareRev('refs/heads/main'), revs.v1);
    const again = await run(bob, [
      'git:sync',
      '--build-if-changes',
      'synced',
      `${server.url}src.git`,
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stdout,
      /\(unchanged\)\n {7}No changes: not built \(--build-if-changes\)\n$/,
    );
  });

  test('a branch REF becomes the deploy branch (not with --skip-deploy-branch); a tag REF moves the deploy branch', async () => {
    const skip = await run(bob, [
      'git:sync',
      '--skip-deploy-branch',
      'synced',
      `${server.url}src.git`,
      'feature',
    ]);
    assert.equal(skip.code, 0, skip.stderr);
    assert.equal((await store.apps.get('synced'))?.deployBranch, 'main');
    assert.equal(await bareRev('refs/heads/feature'), revs.feature);
    const r = await run(bob, ['git:sync', 'synced', `${server.url}src.git`, 'feature']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Set feature as the deploy branch of synced/);
    assert.equal((await store.apps.get('synced'))?.deployBranch, 'feature');
    const tag = await run(bob, ['git:sync', 'synced', `${server.url}src.git`, 'v1.0']);
    assert.equal(tag.code, 0, tag.stderr);
    assert.equal(await bareRev('refs/heads/feature'), revs.v1);
    assert.equal((await store.apps.get('synced'))?.deployBranch, 'feature');
  });

  test('hostile URLs and refs: one line, nothing changed, nothing run', async () => {
    const marker = path.join(scratch, 'pwned');
    const refused = async (
      argv: string[],
      code: number,
      pattern: RegExp,
      runner = run,
      actor = bob,
    ) => {
      const before = await prefixSnapshot(redis, prefix);
      const head = await bareRev('refs/heads/feature');
      const r = await runner(actor, argv);
      assert.equal(r.code, code, `${argv.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(await prefixSnapshot(redis, prefix), before);
      assert.equal(await bareRev('refs/heads/feature'), head);
    };
    const src = `${server.url}src.git`;
    // Loopback without the operator's allowance: by IP, and by a name that resolves to it.
    await refused(['git:sync', 'synced', src], 2, /use an https:\/\/ URL/, strict);
    await refused(
      ['git:sync', 'synced', 'https://127.0.0.1/src.git'],
      2,
      /127\.0\.0\.1 is an address of this server/,
      strict,
    );
    await refused(
      ['git:sync', 'synced', 'https://169.254.169.254/latest.git'],
      2,
      /is an address of this server/,
    );
    await refused(
      ['git:sync', 'synced', 'https://localhost/src.git'],
      1,
      /^berth: git:sync of https:\/\/localhost\/src\.git failed: its host localhost resolves to .*an address of this server/,
    );
    await refused(['git:sync', 'synced', 'file:///etc'], 2, /use an https:\/\/ URL/);
    await refused(['git:sync', 'synced', 'ext::sh -c touch% /tmp/x'], 2, /invalid repository URL/);
    await refused(
      ['git:sync', 'synced', 'https://u:p@example.com/x.git'],
      2,
      /no user or password/,
    );
    await refused(
      ['git:sync', 'synced', 'https://example.com/x.git#main'],
      2,
      /no "\?" or "#" part/,
    );
    await refused(
      ['git:sync', 'synced', src, `--upload-pack=touch ${marker}`],
      2,
      /Unknown option|invalid git ref/,
    );
    await refused(['git:sync', 'synced', src, '-main'], 2, /Unknown option|invalid git ref/);
    await refused(
      ['git:sync', 'synced', src, '--', `--upload-pack=touch ${marker}`],
      2,
      /invalid git ref "--upload-pack=/,
    );
    await refused(['git:sync', 'synced', src, 'main:refs/heads/x'], 2, /invalid git ref/);
    await refused(['git:sync', 'synced', src, '../../HEAD'], 2, /invalid git ref/);
    await refused(
      ['git:sync', 'synced', src, 'no-such-ref'],
      1,
      /git:sync of .* failed: git fetch of no-such-ref/,
    );
    await refused(['git:sync', 'synced', src], 1, /does not exist/, run, eve);
    assert.deepEqual(await readdir(scratch).then((f) => f.includes('pwned')), false);
  });

  test('apps:clone --skip-deploy copies the synced repository, every branch, to the new app', async () => {
    const r = await run(bob, ['apps:clone', '--skip-deploy', 'synced', 'synced-copy']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /config vars and git repository/);
    const copy = (ref: string) =>
      git(repoDir(dataPaths(dataDir), 'synced-copy'), 'rev-parse', '--verify', '--quiet', ref);
    assert.equal(await copy('refs/heads/feature'), await bareRev('refs/heads/feature'));
    assert.equal(await copy('refs/heads/main'), await bareRev('refs/heads/main'));
    assert.equal((await store.apps.get('synced-copy'))?.deployBranch, 'feature');
  });
});
