// builds:list, builds:info, builds:output and builds:cancel through the real
// dispatcher, with real Redis and a real BullMQ queue. The builds are run by
// test/fixtures/fake-builder.ts, a worker that STANDS IN FOR THE DOCKER BUILD
// (test/integration/builder.test.ts covers the real one): it follows the
// queue contract (services/platform/build/queue.ts) and reads a `.fake-build` file
// from the commit to know how long to run and whether to fail.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { CommandContext } from '../../cli/command.ts';
import { dispatch } from '../../cli/dispatch.ts';
import { ROOT } from '../../services/core/actor.ts';
import { loadConfig } from '../../services/core/config.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { LUA_LAYOUT, Store } from '../../services/core/store/index.ts';
import {
  type BuildQueue,
  buildLogKey,
  enqueueBuild,
  followBuild,
} from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { type FakeBuilder, startFakeBuilder } from '../fixtures/fake-builder.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { testGitEnv } from '../harness/git.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const execFileP = promisify(execFile);

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
await store.checkSchema();
const scratch = await tempDir('berth-builds');
const paths = dataPaths(path.join(scratch, 'data'));
await mkdir(paths.repos, { recursive: true });
const config = loadConfig({ BERTH_DOMAIN: 'berth.test', BERTH_DATA_DIR: paths.root });
const run = commandRunner(store, config);
const bob = userActor('bob');
const carol = userActor('carol');

let queue: BuildQueue;
let builder: FakeBuilder;

before(async () => {
  await store.users.create('bob');
  await store.users.create('carol');
  await store.apps.create({ name: 'shop', owner: 'bob' });
  await store.apps.create({ name: 'blog', owner: 'bob' });
  queue = createBuildQueue(redis, prefix);
  builder = await startFakeBuilder({
    redisUrl: await sharedRedisUrl(),
    redisPrefix: prefix,
    repos: paths.repos,
  });
});

after(async () => {
  await builder?.close();
  await queue?.close();
});

// ------------------------------------------------------------------ helpers

const gitEnv = testGitEnv();

async function git(gitDir: string, args: string[], input?: string): Promise<string> {
  const child = execFileP('git', [`--git-dir=${gitDir}`, ...args], { env: gitEnv });
  if (input !== undefined) child.child.stdin?.end(input);
  return (await child).stdout.trim();
}

/** A commit in the app's real bare repository whose `.fake-build` says how the build goes. */
async function commit(
  repos: string,
  app: string,
  spec: { fail?: string; lines?: number; delayMs?: number },
) {
  const gitDir = path.join(repos, `${app}.git`);
  await execFileP('git', ['init', '--bare', '--quiet', gitDir], { env: gitEnv });
  const blob = await git(gitDir, ['hash-object', '-w', '--stdin'], JSON.stringify(spec));
  const tree = await git(gitDir, ['mktree'], `100644 blob ${blob}\t.fake-build\n`);
  return git(gitDir, ['commit-tree', tree, '-m', `build ${Math.random()}`]);
}

async function push(
  q: BuildQueue,
  repos: string,
  app: string,
  spec: Parameters<typeof commit>[2] = {},
) {
  const rev = await commit(repos, app, spec);
  const id = await enqueueBuild(q, { app, rev, ref: 'refs/heads/main', pusher: 'bob' });
  return { id, rev };
}

const finished = (id: string) =>
  followBuild(redis, prefix, id, () => {}, AbortSignal.timeout(10_000), { queue });

async function info(id: string, app = 'shop') {
  const r = await run(bob, ['builds:info', app, id, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { status: string; error?: string; position?: number };
}

async function until(what: string, check: () => Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Runs a command and notes when each output line arrived (ms since the start). */
async function runLive(argv: string[]) {
  const out = new PassThrough();
  const started = Date.now();
  const lines: { line: string; at: number }[] = [];
  let pending = '';
  out.on('data', (d) => {
    pending += d;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) lines.push({ line, at: Date.now() - started });
  });
  const ctx: CommandContext = {
    actor: bob,
    stdin: Readable.from(['']),
    stdout: out,
    stderr: new PassThrough(),
    config: () => config,
    store: async () => store,
    host: undefined,
    signal: new AbortController().signal,
  };
  const code = await dispatch(argv, ctx);
  return { code, lines, total: Date.now() - started };
}

// -------------------------------------------------------------------- tests

describe('builds:list, builds:info, builds:output', () => {
  test('list shows the builds newest first with their status; info and output of ended builds', async () => {
    const good = await push(queue, paths.repos, 'shop', { lines: 2, delayMs: 10 });
    assert.equal((await finished(good.id)).status, 'succeeded');
    const bad = await push(queue, paths.repos, 'shop', { fail: 'tests failed', delayMs: 10 });
    assert.equal((await finished(bad.id)).status, 'failed');

    const list = await run(bob, ['builds:list', 'shop']);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout.trim().split('\n');
    assert.match(rows[0] ?? '', /^ID +STATUS +REV +PUSHER +AGE$/);
    assert.match(
      rows[1] ?? '',
      new RegExp(`^${bad.id} +failed +${bad.rev.slice(0, 7)} +bob +\\d+s ago$`),
    );
    assert.match(
      rows[2] ?? '',
      new RegExp(`^${good.id} +succeeded +${good.rev.slice(0, 7)} +bob `),
    );

    const asJson = JSON.parse((await run(bob, ['builds:list', 'shop', '--format', 'json'])).stdout);
    assert.deepEqual(
      asJson.map((b: { id: string; status: string }) => [b.id, b.status]),
      [
        [bad.id, 'failed'],
        [good.id, 'succeeded'],
      ],
    );

    const one = await run(bob, ['builds:info', 'shop', bad.id, '--format', 'json']);
    const data = JSON.parse(one.stdout);
    assert.equal(data.id, bad.id);
    assert.equal(data.app, 'shop');
    assert.equal(data.rev, bad.rev);
    assert.equal(data.ref, 'refs/heads/main');
    assert.equal(data.pusher, 'bob');
    assert.equal(data.status, 'failed');
    assert.equal(data.error, 'tests failed');
    const text = await run(bob, ['builds:info', 'shop', good.id]);
    assert.match(text.stdout, new RegExp(`=====> shop build ${good.id}`));
    assert.match(text.stdout, /Status: +succeeded/);
    assert.match(text.stdout, new RegExp(`Commit: +${good.rev}`));

    // Output of the newest (failed) build, then of the older one by id.
    const newest = await run(bob, ['builds:output', 'shop']);
    assert.equal(newest.code, 1);
    assert.match(newest.stdout, /-----> Building shop from/);
    assert.match(newest.stdout, / ! {5}tests failed\n$/);
    const older = await run(bob, ['builds:output', 'shop', good.id]);
    assert.equal(older.code, 0, older.stderr);
    assert.match(
      older.stdout,
      /step 1 of 2\n.*step 2 of 2\n-----> Launching\.\.\. done\n-----> Build succeeded\n$/s,
    );
  });

  test('output follows a running build live: lines arrive before its end', async () => {
    const { id } = await push(queue, paths.repos, 'shop', { lines: 8, delayMs: 150 });
    const r = await runLive(['builds:output', 'shop', id]);
    assert.equal(r.code, 0);
    const first = r.lines.find((l) => l.line.includes('step 1 of 8'));
    const last = r.lines.at(-1);
    assert.equal(last?.line, '-----> Build succeeded');
    assert.ok(first && last && last.at - first.at > 600, JSON.stringify(r.lines));
  });

  test('once the job and the stream are gone, the durable log file tells how the build ended', async () => {
    const { id } = await push(queue, paths.repos, 'shop', { lines: 1, delayMs: 1 });
    await finished(id);
    // What the real builder leaves under the data dir (worker.ts closes it with the result line).
    await mkdir(path.join(paths.buildLogs, 'shop'), { recursive: true });
    await writeFile(
      path.join(paths.buildLogs, 'shop', `${id}.log`),
      '-----> Building\n ! \x1b]0;title\x07    boom\n !     tests failed\n',
    );
    await (await queue.getJob(id))?.remove();
    await redis.del(buildLogKey(prefix, id));
    const data = await info(id);
    assert.equal(data.status, 'failed');
    assert.equal(data.error, 'tests failed');
    const out = await run(bob, ['builds:output', 'shop', id]);
    assert.equal(out.code, 1);
    assert.equal(out.stdout, '-----> Building\n ! ]0;title    boom\n !     tests failed\n');
  });

  test('a user without access is told the app does not exist; a bad id is one clear line', async () => {
    for (const argv of [
      ['builds:list', 'shop'],
      ['builds:output', 'shop'],
      ['builds:cancel', 'shop'],
    ]) {
      const r = await run(carol, argv);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        'berth: app "shop" does not exist — run "berth apps:list" to see the apps\n',
      );
    }
    const { id } = await push(queue, paths.repos, 'blog', { lines: 1, delayMs: 1 });
    await finished(id);
    for (const bad of ['zzzzzzzzzzzz', 'NOT-AN-ID!', id /* blog's, not shop's */]) {
      const r = await run(bob, ['builds:info', 'shop', bad]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.split('\n').length, 2, r.stderr);
      assert.match(r.stderr, /^berth: app "shop" has no build .* — run "berth builds:list shop"/);
    }
    const output = await run(bob, ['builds:output', 'shop', 'zzzzzzzzzzzz']);
    assert.equal(output.code, 1);
    assert.match(output.stderr, /has no build zzzzzzzzzzzz/);
  });
});

describe('builds:cancel', () => {
  test('cancelling the running build ends it failed "cancelled"', async () => {
    const { id } = await push(queue, paths.repos, 'shop', { lines: 100, delayMs: 50 });
    await until('the build to run', async () => (await info(id)).status === 'running');
    const r = await run(bob, ['builds:cancel', 'shop']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Cancelled build ${id} \\(failed: cancelled: by bob\\)`));
    const after = await info(id);
    assert.equal(after.status, 'failed');
    assert.equal(after.error, 'cancelled: by bob');
    // Nothing left to cancel: one line.
    const again = await run(bob, ['builds:cancel', 'shop']);
    assert.equal(again.code, 0);
    assert.equal(again.stdout, '=====> shop has no running or queued build; nothing to cancel\n');
    const ended = await run(bob, ['builds:cancel', 'shop', id]);
    assert.equal(
      ended.stdout,
      `=====> build ${id} has already ended (failed); nothing to cancel\n`,
    );
  });

  test('cancelling a queued build removes it from the queue and ends its followers', async () => {
    // A prefix no worker serves, so the build stays queued.
    const idle = testPrefix();
    const idleRedis = await redisClient(idle);
    const idleStore = new Store(idleRedis, idle);
    await idleStore.checkSchema();
    await idleStore.users.create('bob');
    await idleStore.apps.create({ name: 'shop', owner: 'bob' });
    const idlePaths = dataPaths(path.join(scratch, 'idle'));
    await mkdir(idlePaths.repos, { recursive: true });
    const idleRun = commandRunner(
      idleStore,
      loadConfig({ BERTH_DOMAIN: 'berth.test', BERTH_DATA_DIR: idlePaths.root }),
    );
    const idleQueue = createBuildQueue(idleRedis, idle);
    try {
      const first = await push(idleQueue, idlePaths.repos, 'shop');
      const second = await push(idleQueue, idlePaths.repos, 'shop');
      const list = await idleRun(bob, ['builds:list', 'shop']);
      assert.match(list.stdout, new RegExp(`${second.id} +queued \\(#2\\)`));
      assert.match(list.stdout, new RegExp(`${first.id} +queued \\(#1\\)`));

      const lines: string[] = [];
      const following = followBuild(
        idleRedis,
        idle,
        first.id,
        (l) => lines.push(l),
        AbortSignal.timeout(5000),
      );
      const r = await idleRun(bob, ['builds:cancel', 'shop', first.id]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `-----> Cancelled build ${first.id} (removed from the queue)\n`);
      assert.deepEqual(await following, { status: 'failed', error: 'cancelled: by bob' });
      assert.equal(await idleQueue.getJob(first.id), undefined);
      const gone = JSON.parse(
        (await idleRun(bob, ['builds:info', 'shop', first.id, '--format', 'json'])).stdout,
      );
      assert.equal(gone.status, 'failed');
      assert.equal(gone.error, 'cancelled: by bob');
      const still = await idleRun(bob, ['builds:list', 'shop']);
      assert.match(still.stdout, new RegExp(`${second.id} +queued \\(#1\\)`));
      const output = await idleRun(bob, ['builds:output', 'shop', first.id]);
      assert.equal(output.code, 1);
      assert.equal(output.stdout, ' !     cancelled: by bob\n');
    } finally {
      await idleQueue.obliterate({ force: true });
      await idleQueue.close();
    }
  });
});

describe('the history key', () => {
  test('the Lua layout agrees on P app:<app>:builds; rename moves it; apps:destroy removes it', async () => {
    assert.equal(
      await redis.eval(`${LUA_LAYOUT}\nreturn K.builds('a')`, 0, prefix),
      store.keys.builds('a'),
    );
    assert.equal(store.keys.builds('shop'), `${prefix}app:shop:builds`);

    const { id } = await push(queue, paths.repos, 'blog', { lines: 1, delayMs: 1 });
    await finished(id);
    await store.apps.rename('blog', 'journal');
    assert.equal(await redis.exists(store.keys.builds('blog')), 0);
    assert.notEqual(await redis.zscore(store.keys.builds('journal'), id), null);

    assert.equal(await redis.exists(store.keys.builds('shop')), 1);
    const r = await run(ROOT, ['apps:destroy', 'shop', '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await redis.exists(store.keys.builds('shop')), 0);
  });
});
