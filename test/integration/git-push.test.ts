// git push and git clone against Berth's git handler with the REAL git client:
// git runs test/fixtures/git-over-stdio.mjs as its ssh command, which carries
// the session over a unix socket to this process, where the handler runs as
// the SSH server will run it. Builds are done by test/fixtures/fake-builder.ts,
// a real BullMQ worker that STANDS IN FOR ISSUE 4's BUILDER: it follows the
// queue contract (services/platform/build/queue.ts) and fails when the pushed commit
// has a `.fake-build` file saying so.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { splitCommandLine } from '../../cli/command-line.ts';
import { prepareDataDir } from '../../infra/bootstrap/data-dir.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { Store } from '../../services/core/store/index.ts';
import {
  appendBuildLog,
  BUILD_QUEUE,
  type BuildQueue,
  buildLogKey,
  enqueueBuild,
  finishBuild,
  followBuild,
  parseLogEntry,
  queuePrefix,
  supersedeQueuedBuild,
} from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import {
  ensureRepo,
  removeRepo,
  renameRepo,
  repoDir,
  setRepoHead,
} from '../../services/platform/git/repos.ts';
import { appLockKey } from '../../services/platform/locks/app-lock.ts';
import { createGitHandler, parseGitCommand } from '../../services/ssh/git-service.ts';
import { type FakeBuilder, startFakeBuilder } from '../fixtures/fake-builder.ts';
import {
  GIT_OVER_STDIO,
  type GitStdioServer,
  startGitStdioServer,
} from '../fixtures/git-stdio-server.ts';
import { testGitEnv } from '../harness/git.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const execFileP = promisify(execFile);
const LOCK_TTL_MS = 5000;

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
await store.checkSchema();
const scratch = await tempDir('berth-git');
const paths = await prepareDataDir(path.join(scratch, 'data'));
const home = path.join(scratch, 'home');
const socketPath = path.join(scratch, 'git.sock');

let queue: BuildQueue;
let builder: FakeBuilder;
let server: GitStdioServer;

before(async () => {
  await store.users.create('ada', 'admin');
  await store.users.create('bob');
  await store.users.create('eve');
  queue = createBuildQueue(redis, prefix);
  builder = await startFakeBuilder({
    redisUrl: await sharedRedisUrl(),
    redisPrefix: prefix,
    repos: paths.repos,
  });
  const handler = createGitHandler({
    store,
    paths,
    queue: async () => queue,
    searchPath: systemSearchPath(process.env.PATH),
    runtimeDir: scratch,
    lockTtlMs: LOCK_TTL_MS,
    lockPollMs: 50,
    cancelGraceMs: 10_000,
  });
  server = await startGitStdioServer(socketPath, store, handler);
});

after(async () => {
  await server?.close();
  await builder?.close();
  await queue?.close();
});

// ------------------------------------------------------------------ helpers

function clientEnv(user: string): NodeJS.ProcessEnv {
  return testGitEnv({
    HOME: home,
    GIT_SSH_COMMAND: `'${process.execPath}' '${GIT_OVER_STDIO}'`,
    GIT_SSH_VARIANT: 'ssh',
    BERTH_TEST_GIT_SOCKET: socketPath,
    BERTH_TEST_GIT_USER: user,
  });
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** When each "remote:" line arrived, ms since the start. */
  remoteAt: { line: string; at: number }[];
  child: ChildProcess;
}

/** Runs git as `user`; resolves when it exits. `onStart` sees the child (to kill it). */
function git(
  args: string[],
  opts: {
    cwd?: string;
    user?: string;
    env?: NodeJS.ProcessEnv;
    onLine?: (line: string, child: ChildProcess) => void;
  } = {},
): Promise<Run> {
  const started = Date.now();
  // Its own process group, so that "Ctrl-C" can reach git and its ssh command together.
  const child = spawn('git', args, {
    cwd: opts.cwd ?? scratch,
    env: { ...clientEnv(opts.user ?? 'ada'), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  let partial = '';
  const remoteAt: Run['remoteAt'] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    partial += d;
    const lines = partial.split(/[\r\n]/);
    partial = lines.pop() ?? '';
    for (const raw of lines) {
      const line = raw.trimEnd();
      if (line.startsWith('remote: ')) remoteAt.push({ line, at: Date.now() - started });
      opts.onLine?.(line, child);
    }
  });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      // git pads "remote:" lines with spaces to clear the terminal's line.
      const text = stderr
        .split(/\r?\n|\r/)
        .map((l) => l.trimEnd())
        .join('\n');
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr: text, remoteAt, child });
    });
  });
}

async function gitOk(args: string[], cwd: string): Promise<string> {
  const r = await git(args, { cwd });
  assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A bare repository's view, read directly (not through Berth). */
async function bareRev(app: string, ref: string): Promise<string | undefined> {
  try {
    const dir = path.join(paths.repos, `${app}.git`);
    const { stdout } = await execFileP('git', [`--git-dir=${dir}`, 'rev-parse', '--verify', ref]);
    return stdout.trim();
  } catch {
    return undefined;
  }
}

let work = 0;
/** A new working copy with one commit, its remote `origin` pointing at the app. */
async function workTree(app: string, files: Record<string, string> = {}): Promise<string> {
  const dir = path.join(scratch, `work-${++work}`);
  await gitOk(['init', '--quiet', '-b', 'main', dir], scratch);
  await gitOk(['remote', 'add', 'origin', `ssh://berth@berth.test/${app}`], dir);
  await commit(dir, { 'README.md': `# ${app}\n`, ...files }, 'first');
  return dir;
}

/** Writes the files (null removes one), commits, returns the new commit id. */
async function commit(dir: string, files: Record<string, string | null>, message: string) {
  for (const [name, content] of Object.entries(files)) {
    if (content === null) await gitOk(['rm', '--quiet', name], dir);
    else {
      await writeFile(path.join(dir, name), content);
      await gitOk(['add', name], dir);
    }
  }
  await gitOk(['commit', '--quiet', '--allow-empty', '-m', message], dir);
  return gitOk(['rev-parse', 'HEAD'], dir);
}

const spec = (s: object) => JSON.stringify(s);

/** The builds enqueued for an app, with their time span from the log stream ids. */
async function buildsOf(app: string) {
  const jobs = await queue.getJobs(['completed', 'failed', 'active', 'waiting', 'prioritized']);
  const out: { id: string; rev: string; start: number; end: number; status?: string }[] = [];
  for (const job of jobs) {
    if (job.data.app !== app || job.id === undefined) continue;
    const entries = await redis.xrange(buildLogKey(prefix, job.id), '-', '+');
    const ms = entries.map(([id]) => Number(id.split('-')[0]));
    const last = entries.at(-1);
    const end = last ? parseLogEntry(last[1]) : undefined;
    out.push({
      id: job.id,
      rev: job.data.rev ?? '',
      start: Math.min(...ms),
      end: Math.max(...ms),
      ...(end?.type === 'end' ? { status: end.status } : {}),
    });
  }
  return out;
}

const repoListing = async () => (await readdir(paths.repos)).sort();

// -------------------------------------------------------------------- tests

describe('parseGitCommand', () => {
  test('finds the git service and its repository in the words git sends', () => {
    const parse = (line: string) => parseGitCommand(splitCommandLine(line));
    assert.deepEqual(parse("git-receive-pack '/shop.git'"), {
      service: 'git-receive-pack',
      repoArg: '/shop.git',
    });
    assert.deepEqual(parse("git-upload-pack 'shop'"), {
      service: 'git-upload-pack',
      repoArg: 'shop',
    });
    assert.deepEqual(parse("git-upload-pack 'it'\\''s'"), {
      service: 'git-upload-pack',
      repoArg: "it's",
    });
    assert.deepEqual(parse('git upload-pack shop.git'), {
      service: 'git-upload-pack',
      repoArg: 'shop.git',
    });
    // Two words are not a repository: handed on whole, for validate.repoPath to refuse.
    assert.equal(parse("git-receive-pack 'shop' x")?.repoArg, 'shop x');
    assert.equal(parse('apps:list'), undefined);
    assert.equal(parse('git-upload-archive shop'), undefined);
  });
});

describe('the build queue contract', () => {
  // A prefix no worker listens on: these jobs stay queued unless the test moves them.
  const idle = `${prefix}idle:`;
  const rev = 'a'.repeat(40);

  test('a late follower gets every line from the start, then the result', async () => {
    const q = createBuildQueue(redis, idle);
    after(() => q.close());
    const id = await enqueueBuild(q, { app: 'late', rev, ref: 'refs/heads/main', pusher: 'ada' });
    await appendBuildLog(redis, idle, id, '-----> One\n       two\r\n\x1b]0;title\x07three\n');
    const lines: string[] = [];
    const following = followBuild(redis, idle, id, (l) => lines.push(l), AbortSignal.timeout(5000));
    await appendBuildLog(redis, idle, id, 'progress 10%\rprogress 100%');
    await finishBuild(redis, idle, id, { status: 'failed', error: 'no\nluck' });
    assert.deepEqual(await following, { status: 'failed', error: 'no luck' });
    assert.deepEqual(lines, ['-----> One', '       two', ']0;titlethree', 'progress 100%']);
    const job = await q.getJob(id);
    assert.deepEqual(
      { ...job?.data, requestedAt: undefined },
      // No app "late" in the store: the pusher takes its turn as the owner would.
      {
        app: 'late',
        rev,
        ref: 'refs/heads/main',
        pusher: 'ada',
        owner: 'ada',
        requestedAt: undefined,
      },
    );
  });

  test('a follow ends on abort, and when the job vanishes without an end entry', async () => {
    const q = createBuildQueue(redis, idle);
    after(() => q.close());
    const id = await enqueueBuild(q, { app: 'gone', rev, ref: 'refs/heads/main', pusher: 'ada' });
    const started = Date.now();
    await assert.rejects(
      followBuild(redis, idle, id, () => {}, AbortSignal.timeout(200), { blockMs: 5000 }),
      { name: 'TimeoutError' },
    );
    assert.ok(Date.now() - started < 1000, 'the blocked read was interrupted');
    await q.remove(id);
    const result = await followBuild(redis, idle, id, () => {}, AbortSignal.timeout(5000), {
      queue: q,
      blockMs: 100,
      stallMs: 300,
    });
    assert.equal(result.status, 'failed');
    assert.match(result.error ?? '', /stopped without reporting a result \(job unknown\)/);
  });

  test('a build waiting for a builder is replaced with an error its follower sees; a running one is not', async () => {
    const swap = `${prefix}swap:`; // its own queue: a worker takes the oldest job
    const q = createBuildQueue(redis, swap);
    after(() => q.close());
    const waiting = await enqueueBuild(q, {
      app: 'swap',
      rev,
      ref: 'refs/heads/main',
      pusher: 'ada',
    });
    const following = followBuild(redis, swap, waiting, () => {}, AbortSignal.timeout(5000));
    assert.equal(await supersedeQueuedBuild(q, 'swap', 'replaced by a newer push'), waiting);
    assert.deepEqual(await following, { status: 'failed', error: 'replaced by a newer push' });
    assert.equal(await q.getJob(waiting), undefined, 'off the queue');
    assert.equal(await supersedeQueuedBuild(q, 'swap', 'again'), undefined, 'it has ended');

    // A worker takes the next one (BullMQ locks an active job): it stays.
    const running = await enqueueBuild(q, {
      app: 'swap',
      rev,
      ref: 'refs/heads/main',
      pusher: 'ada',
    });
    const worker = new Worker(BUILD_QUEUE, null, {
      connection: redis.duplicate({ maxRetriesPerRequest: null }),
      prefix: queuePrefix(swap),
      autorun: false,
    });
    after(async () => {
      await worker.close();
      worker.opts.connection instanceof Redis && worker.opts.connection.disconnect();
    });
    const job = await worker.getNextJob('test-token');
    assert.equal(job?.id, running);
    assert.equal(await supersedeQueuedBuild(q, 'swap', 'no'), undefined);
    assert.equal(await q.getJobState(running), 'active');
  });
});

describe('bare repositories', () => {
  test('ensureRepo is idempotent, safe to race and keeps the hook current', async () => {
    const dirs = await Promise.all([1, 2, 3].map(() => ensureRepo(paths, 'repo-a')));
    assert.deepEqual(new Set(dirs), new Set([repoDir(paths, 'repo-a')]));
    const hook = path.join(repoDir(paths, 'repo-a'), 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\nexit 0\n');
    await ensureRepo(paths, 'repo-a');
    assert.match(await readFile(hook, 'utf8'), /BERTH_HOOK_SOCKET/);
    assert.deepEqual(
      (await repoListing()).filter((f) => f.startsWith('.')),
      [],
      'no temporary directories left',
    );
    await setRepoHead(paths, 'repo-a', 'release/1');
    const head = await readFile(path.join(repoDir(paths, 'repo-a'), 'HEAD'), 'utf8');
    assert.equal(head.trim(), 'ref: refs/heads/release/1');
  });

  test('renameRepo moves a repository, refuses to overwrite one; removeRepo removes it', async () => {
    await ensureRepo(paths, 'repo-b');
    await ensureRepo(paths, 'repo-c');
    await assert.rejects(renameRepo(paths, 'repo-b', 'repo-c'), { code: 'BERTH_E_REPO_EXISTS' });
    await renameRepo(paths, 'repo-b', 'repo-d');
    await renameRepo(paths, 'never-pushed', 'repo-e'); // nothing to move
    await removeRepo(paths, 'repo-c');
    await removeRepo(paths, 'repo-c'); // already gone
    const listing = await repoListing();
    assert.ok(listing.includes('repo-d.git') && !listing.includes('repo-b.git'));
    assert.ok(!listing.includes('repo-c.git') && !listing.includes('repo-e.git'));
    assert.throws(() => repoDir(paths, '../etc'), { code: 'BERTH_E_INVALID_NAME' });
  });
});

describe('git push', () => {
  let first = '';

  test("an admin's first push creates the app, builds it and shows the build live", async () => {
    const dir = await workTree('shop', { '.fake-build': spec({ lines: 4, delayMs: 150 }) });
    first = await gitOk(['rev-parse', 'HEAD'], dir);
    const r = await git(['push', 'origin', 'main'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^-----> Created app shop$/m);
    assert.match(
      r.stderr,
      new RegExp(`^remote: -----> Building shop from ${first.slice(0, 7)}`, 'm'),
    );
    assert.match(r.stderr, /^remote: {8}step 4 of 4/m);
    assert.match(r.stderr, /^remote: -----> Launching\.\.\. done/m);
    // Live: the lines reached the client as the builder wrote them, not at the end.
    const at = (s: string) => r.remoteAt.find((l) => l.line.includes(s))?.at ?? Number.NaN;
    assert.ok(at('step 4 of 4') - at('step 1 of 4') >= 300, JSON.stringify(r.remoteAt));

    const app = await store.apps.get('shop');
    assert.equal(app?.owner, 'ada');
    assert.equal(await bareRev('shop', 'refs/heads/main'), first);
    const hook = await stat(path.join(paths.repos, 'shop.git', 'hooks', 'pre-receive'));
    assert.ok(hook.mode & 0o100, 'the hook is executable');
    const builds = await buildsOf('shop');
    assert.deepEqual(
      builds.map((b) => [b.rev, b.status]),
      [[first, 'succeeded']],
    );
  });

  test('with no builder on the queue, a deploy push is refused at once and the ref stays', async () => {
    // The same store, but a queue no worker listens on.
    const lonelyQueue = createBuildQueue(redis, testPrefix());
    const socket = path.join(scratch, 'lonely.sock');
    const lonely = await startGitStdioServer(
      socket,
      store,
      createGitHandler({
        store,
        paths,
        queue: async () => lonelyQueue,
        searchPath: systemSearchPath(process.env.PATH),
        runtimeDir: scratch,
      }),
    );
    try {
      const dir = await workTree('lonely');
      const started = Date.now();
      const r = await git(['push', 'origin', 'main'], {
        cwd: dir,
        env: { BERTH_TEST_GIT_SOCKET: socket },
      });
      assert.notEqual(r.code, 0, r.stderr);
      assert.match(r.stderr, /No builder is running, so this push cannot be built/);
      assert.ok(Date.now() - started < 10_000);
      assert.equal(await bareRev('lonely', 'refs/heads/main'), undefined);
    } finally {
      await lonely.close();
      await lonelyQueue.close();
    }
  });

  test('a failing build fails the push and leaves the ref; a re-push after the fix deploys', async () => {
    const dir = await workTree('shop');
    await gitOk(['fetch', '--quiet', 'origin'], dir);
    await gitOk(['reset', '--quiet', '--hard', 'origin/main'], dir);
    const bad = await commit(dir, { '.fake-build': spec({ fail: 'tests failed: 1 of 3' }) }, 'bad');
    const r = await git(['push', 'origin', 'main'], { cwd: dir });
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(`^remote: -----> Building shop from ${bad.slice(0, 7)}`, 'm'),
    );
    assert.match(r.stderr, /^remote: {2}! {5}tests failed: 1 of 3$/m);
    assert.match(r.stderr, /pre-receive hook declined/);
    assert.equal(await bareRev('shop', 'refs/heads/main'), first, 'main was not updated');

    const fixed = await commit(dir, { '.fake-build': null }, 'fixed');
    const again = await git(['push', 'origin', 'main'], { cwd: dir });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await bareRev('shop', 'refs/heads/main'), fixed);
    first = fixed;
  });

  test('other branches are stored without a build; the deploy branch cannot be deleted', async () => {
    const dir = await workTree('shop');
    await gitOk(['fetch', '--quiet', 'origin'], dir);
    const before = (await buildsOf('shop')).length;
    const feature = await commit(dir, { 'feature.txt': 'x\n' }, 'feature');
    const r = await git(['push', 'origin', 'HEAD:refs/heads/feature/x'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /Building/);
    // Said, as Dokku says "you must push to main", with both ways to deploy it.
    assert.match(
      r.stderr,
      /^remote: -----> feature\/x was stored, not deployed: the deploy branch of shop is main\s*$/m,
    );
    assert.match(
      r.stderr,
      /^remote: {8}To deploy it: git push <remote> feature\/x:main, or make it the deploy branch: berth git:set shop deploy-branch feature\/x\s*$/m,
    );
    assert.equal(await bareRev('shop', 'refs/heads/feature/x'), feature);
    assert.equal((await buildsOf('shop')).length, before, 'no build');

    const del = await git(['push', 'origin', ':main'], { cwd: dir });
    assert.notEqual(del.code, 0);
    assert.match(
      del.stderr,
      /^remote: {2}! {5}main is the deploy branch of shop; it cannot be deleted$/m,
    );
    assert.equal(await bareRev('shop', 'refs/heads/main'), first);
  });

  test('someone without access is told the app does not exist, and nothing is created', async () => {
    const listing = await repoListing();
    const theirs = await workTree('shop');
    const r = await git(['push', 'origin', 'main'], { cwd: theirs, user: 'eve' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^berth: app "shop" does not exist — /m);

    const fresh = await workTree('evil');
    const r2 = await git(['push', 'origin', 'main'], { cwd: fresh, user: 'eve' });
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /^berth: app "evil" does not exist — /m);
    assert.equal(await store.apps.get('evil'), undefined);
    const clone = await git(['clone', 'ssh://berth@berth.test/shop', path.join(scratch, 'eve')], {
      user: 'eve',
    });
    assert.notEqual(clone.code, 0);
    assert.match(clone.stderr, /^berth: app "shop" does not exist — /m);
    assert.deepEqual(await repoListing(), listing);
    assert.equal(await bareRev('shop', 'refs/heads/main'), first);
  });

  test("a push past its owner's build minutes is refused with one line before anything is queued; the ref stays", async () => {
    await store.apps.create({ name: 'bobs', owner: 'bob' });
    // Set by an admin (quota:set bob build-minutes=0): bob's apps may not build today.
    await store.quotas.set('bob', { 'build-minutes': 0 });
    try {
      const dir = await workTree('bobs');
      const before = await queue.getJobCounts();
      const r = await git(['push', 'origin', 'main'], { cwd: dir, user: 'bob' });
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        /^remote: {2}! {5}the builds of bob took 0 minutes today \(UTC\): the build-minutes quota of bob is 0 — build again after midnight UTC, or ask an admin to raise it \(berth quota:set bob build-minutes=N\)$/m,
      );
      assert.match(
        r.stderr,
        /^remote: {2}! {5}Push rejected: nothing was built, so main was not updated\.$/m,
      );
      assert.equal(await bareRev('bobs', 'refs/heads/main'), undefined);
      assert.deepEqual(await queue.getJobCounts(), before, 'nothing was queued');
      await store.quotas.set('bob', { 'build-minutes': 'default' });
      const again = await git(['push', 'origin', 'main'], { cwd: dir, user: 'bob' });
      assert.equal(again.code, 0, again.stderr);
    } finally {
      await store.quotas.set('bob', { 'build-minutes': 'default' });
    }
  });

  test('a push to a locked app (apps:lock) is refused with one line before anything is queued; the ref stays', async () => {
    await store.apps.create({ name: 'frozen', owner: 'bob' });
    await store.apps.setLocked('frozen', true);
    const dir = await workTree('frozen');
    const before = await queue.getJobCounts();
    const r = await git(['push', 'origin', 'main'], { cwd: dir, user: 'bob' });
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /^remote: {2}! {5}app "frozen" is locked: pushes and deploys are refused — unlock it with apps:unlock frozen$/m,
    );
    assert.match(
      r.stderr,
      /^remote: {2}! {5}Push rejected: nothing was built, so main was not updated\.$/m,
    );
    assert.equal(await bareRev('frozen', 'refs/heads/main'), undefined);
    assert.deepEqual(await queue.getJobCounts(), before, 'nothing was queued');
    await store.apps.setLocked('frozen', false);
    const again = await git(['push', 'origin', 'main'], { cwd: dir, user: 'bob' });
    assert.equal(again.code, 0, again.stderr);
  });

  test('hostile repository arguments are refused with one line; nothing is created', async () => {
    const listing = await repoListing();
    const apps = await store.apps.names();
    const hostile = [
      "'../../etc'",
      "'app;id'",
      "'$(id)'",
      "'/etc/passwd'",
      '/etc/passwd',
      `'${'a'.repeat(200)}'`,
      "'Shop'",
      "'\u0430pp'", // Cyrillic a
      "'app\nid'",
      "'shop/../../x'",
      "'shop",
      "'.git'",
    ];
    for (const arg of hostile) {
      for (const service of ['git-receive-pack', 'git-upload-pack']) {
        const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) => {
          const child = spawn(
            process.execPath,
            [GIT_OVER_STDIO, 'berth.test', `${service} ${arg}`],
            {
              env: clientEnv('ada'),
              stdio: ['ignore', 'ignore', 'pipe'],
            },
          );
          let err = '';
          child.stderr.setEncoding('utf8').on('data', (d: string) => {
            err += d;
          });
          child.on('close', (c) => resolve({ code: c ?? 1, stderr: err }));
        });
        assert.notEqual(code, 0, arg);
        const lines = stderr.split('\n').filter((l) => l !== '');
        assert.equal(lines.length, 1, `${arg}: ${stderr}`);
        // A newline or broken quoting is refused earlier, when the command line is split.
        assert.match(lines[0] ?? '', /^berth: (invalid repository "|the command line )/, arg);
      }
    }
    // And through the real git client.
    const dir = await workTree('Shop');
    const r = await git(['push', 'origin', 'main'], { cwd: dir });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^berth: invalid repository "\/Shop": /m);
    assert.deepEqual(await repoListing(), listing);
    assert.deepEqual(await store.apps.names(), apps);
  });

  test('a collaborator clones (scp-like URL too), fetches and pushes', async () => {
    await store.apps.addCollaborator('shop', 'bob');
    const dir = path.join(scratch, 'bob');
    const c = await git(['clone', 'berth@berth.test:shop.git', dir], { user: 'bob' });
    assert.equal(c.code, 0, c.stderr);
    assert.equal(await gitOk(['rev-parse', 'HEAD'], dir), first);
    const next = await commit(dir, { 'bob.txt': 'hi\n' }, 'from bob');
    const p = await git(['push', 'origin', 'main'], { cwd: dir, user: 'bob' });
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stderr, new RegExp(`remote: -----> Building shop from ${next.slice(0, 7)}`));
    // GIT_PROTOCOL reaches git-upload-pack: it answers in protocol version 2.
    const f = await git(['fetch', 'origin'], {
      cwd: dir,
      user: 'bob',
      env: { GIT_TRACE_PACKET: '1' },
    });
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stderr, /packet: +fetch< version 2$/m);
    assert.equal(await gitOk(['rev-parse', 'origin/main'], dir), next);
    first = next;
  });

  test('pushes to one app build one after the other; a newer waiting push replaces the older', async () => {
    const slow = spec({ lines: 10, delayMs: 100 });
    const a = await workTree('duo', { '.fake-build': slow, 'a.txt': 'a\n' });
    const b = await workTree('duo', { 'b.txt': 'b\n' });
    const c = await workTree('duo', { 'c.txt': 'c\n' });
    await store.apps.create({ name: 'duo', owner: 'ada' });
    const [revA, revB, revC] = await Promise.all(
      [a, b, c].map((d) => gitOk(['rev-parse', 'HEAD'], d)),
    );
    const when = (pattern: RegExp) => {
      let seen!: () => void;
      const promise = new Promise<void>((resolve) => {
        seen = resolve;
      });
      return { promise, onLine: (line: string) => pattern.test(line) && seen() };
    };
    // A builds; B waits for it; C arrives while B waits and takes B's place.
    const aBuilding = when(/step 1 of 10/);
    const pushA = git(['push', '--force', 'origin', 'main'], { cwd: a, onLine: aBuilding.onLine });
    await aBuilding.promise;
    const bWaiting = when(/^-----> Waiting for another push to duo to finish$/);
    const pushB = git(['push', '--force', 'origin', 'main'], { cwd: b, onLine: bWaiting.onLine });
    await bWaiting.promise;
    const pushC = git(['push', '--force', 'origin', 'main'], { cwd: c, user: 'ada' });
    const [ra, rb, rc] = await Promise.all([pushA, pushB, pushC]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.notEqual(rb.code, 0, rb.stderr);
    assert.match(
      rb.stderr,
      /a newer push to duo by ada replaced this one while it waited; nothing was built from it/,
    );
    assert.equal(rc.code, 0, rc.stderr);
    assert.match(rc.stderr, /^-----> Waiting for another push to duo to finish$/m);
    const builds = (await buildsOf('duo')).sort((x, y) => x.start - y.start);
    assert.deepEqual(
      builds.map((x) => x.rev),
      [revA, revC],
      'B was never built',
    );
    const [one, two] = builds as [(typeof builds)[0], (typeof builds)[0]];
    assert.ok(one.end <= two.start, `builds overlap: ${JSON.stringify(builds)}`);
    assert.notEqual(revB, revC);
    assert.equal(await bareRev('duo', 'refs/heads/main'), revC, 'the newest push is deployed');
  });

  test('a client killed mid-build leaves no lock held and the repository intact', async () => {
    const dir = await workTree('kill', { '.fake-build': spec({ lines: 50, delayMs: 100 }) });
    await store.apps.create({ name: 'kill', owner: 'ada' });
    const doomed = await gitOk(['rev-parse', 'HEAD'], dir);
    let killedAt = 0;
    const r = await git(['push', 'origin', 'main'], {
      cwd: dir,
      onLine(line, child) {
        if (killedAt === 0 && line.includes('step 2 of 50') && child.pid !== undefined) {
          killedAt = Date.now();
          process.kill(-child.pid, 'SIGKILL'); // git push and its ssh command, as Ctrl-C would
        }
      },
    });
    assert.ok(killedAt > 0, r.stderr);
    assert.equal(await bareRev('kill', 'refs/heads/main'), undefined, 'no ref was updated');

    // The next push gets the lock well within its TTL and deploys.
    const good = await commit(dir, { '.fake-build': null }, 'quick');
    const next = await git(['push', 'origin', 'main'], { cwd: dir });
    assert.equal(next.code, 0, next.stderr);
    assert.ok(Date.now() - killedAt < LOCK_TTL_MS, `took ${Date.now() - killedAt} ms`);
    assert.equal(await bareRev('kill', 'refs/heads/main'), good);

    const killed = (await buildsOf('kill')).find((b) => b.rev === doomed);
    assert.equal(killed?.status, 'failed', 'the abandoned build was cancelled');
    assert.equal(await redis.exists(appLockKey(prefix, 'kill')), 0);
    const fsck = await execFileP('git', [
      `--git-dir=${path.join(paths.repos, 'kill.git')}`,
      'fsck',
      '--no-progress',
    ]);
    assert.equal(fsck.stderr.trim(), '');
    const objects = await readdir(path.join(paths.repos, 'kill.git', 'objects'));
    assert.deepEqual(
      objects.filter((o) => o.includes('incoming')),
      [],
      'no quarantine left behind',
    );
    assert.deepEqual(
      (await readdir(scratch)).filter((f) => f.startsWith('berth-hook-')),
      [],
      'hook sockets removed',
    );
  });

  test('a lock left by a Berth that died expires after its TTL', async () => {
    const dir = await workTree('stale');
    await store.apps.create({ name: 'stale', owner: 'ada' });
    // As if a Berth process had died mid-push: nobody renews or releases it.
    await redis.set(appLockKey(prefix, 'stale'), 'dead-berth', 'PX', 1500);
    const started = Date.now();
    const r = await git(['push', 'origin', 'main'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^-----> Waiting for another push to stale to finish$/m);
    assert.ok(Date.now() - started >= 1400, 'waited for the TTL');
  });
});
