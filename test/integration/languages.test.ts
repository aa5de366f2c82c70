// Issue 18: Go, Ruby, PHP and a pinned Python, built by the real builder
// (services/builder/worker.ts → run-build.ts → toolchain-image.ts and
// buildpack-build.ts) with the real Engine, real git and the run's Redis, from
// the fixture apps under test/fixtures/apps, like the getting-started apps of
// Heroku-style platforms; each image is run with PORT set and asked over HTTP
// on the bridge. The toolchain images (berth/toolchain-*) are made by
// mmdebstrap on the first build that needs each and kept between runs, as the
// stack is (they carry no test-run label); the app images and cache volumes
// carry the run's label and go at the end. Build containers reach no gem or
// package server here: the Sinatra app is locked to Debian's own gems, the PHP
// app requires only the platform, the Go app only the standard library.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import { prepareDataDir } from '../../infra/bootstrap/data-dir.ts';
import { type BuildWorker, startBuildWorker } from '../../services/builder/worker.ts';
import { LABELS } from '../../services/core/docker.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { Store } from '../../services/core/store/index.ts';
import {
  type BuildQueue,
  type BuildResult,
  createBuildQueue,
  enqueueBuild,
  followBuild,
} from '../../services/platform/build/queue.ts';
import { ensureRepo } from '../../services/platform/git/repos.ts';
import { FIXTURE_APPS_DIR, httpGet, runApp } from '../harness/buildpacks.ts';
import {
  cleanupDocker,
  ensureTestStackImage,
  testDocker,
  testDockerRun,
  testStackImage,
} from '../harness/docker.ts';
import { testGitEnv } from '../harness/git.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const execFileP = promisify(execFile);
const searchPath = systemSearchPath(process.env.PATH);
const GIT_ENV = testGitEnv({ PATH: searchPath });
const git = async (args: string[], cwd: string) =>
  (await execFileP('git', args, { cwd, env: GIT_ENV })).stdout.trim();

const run = testDockerRun();
const prefix = testPrefix();
const scratch = await tempDir('berth-langs');
const paths = await prepareDataDir(path.join(scratch, 'data'));
// At the top level: node:test runs an `after` a hook registers (as redisClient
// does) right after that hook.
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const queue: BuildQueue = createBuildQueue(redis, prefix);
let docker: Docker;
let connection: Redis;
let worker: BuildWorker;

before(async () => {
  docker = (await testDocker()).docker;
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  await store.users.create('ada', 'admin');
  connection = new Redis(await sharedRedisUrl(), { maxRetriesPerRequest: null });
  worker = await startBuildWorker({
    connection,
    redisPrefix: prefix,
    docker,
    paths: { ...paths, runtimes: path.join(scratch, 'runtimes') },
    searchPath,
    stackImage: testStackImage(),
    labels: run.labels,
    concurrency: 2,
  });
});

after(async () => {
  await worker?.close();
  await queue?.close();
  connection?.disconnect();
  await cleanupDocker(run.runId, docker);
});

let apps = 0;
/** A new app with the files of `fixture` (and `extra`) committed; the commit id. */
async function appFrom(
  fixture: string | undefined,
  extra: Record<string, string> = {},
): Promise<{ app: string; rev: string; work: string }> {
  const app = `lang${run.runId.replace(/[^a-z0-9]/g, '').slice(-6)}${++apps}`;
  await store.apps.create({ name: app, owner: 'ada' });
  await ensureRepo(paths, app);
  const work = path.join(scratch, 'work', app);
  await mkdir(work, { recursive: true });
  if (fixture) await cp(path.join(FIXTURE_APPS_DIR, fixture), work, { recursive: true });
  await git(['init', '-q', '-b', 'main'], work);
  return { app, work, rev: await commit(app, work, extra) };
}

/** Writes `files` into the work tree, commits and fetches it into the app's repository. */
async function commit(app: string, work: string, files: Record<string, string>): Promise<string> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(work, name)), { recursive: true });
    await writeFile(path.join(work, name), content);
  }
  await git(['add', '-A'], work);
  await git(['commit', '-q', '--allow-empty', '-m', 'change'], work);
  const bare = path.join(paths.repos, `${app}.git`);
  await git([`--git-dir=${bare}`, 'fetch', '-q', work, '+main:refs/heads/main'], scratch);
  return git(['rev-parse', 'HEAD'], work);
}

interface Built {
  result: BuildResult;
  lines: string[];
  ms: number;
}

async function build(app: string, rev: string): Promise<Built> {
  const started = performance.now();
  const id = await enqueueBuild(queue, { app, rev, ref: 'refs/heads/main', pusher: 'ada' });
  const lines: string[] = [];
  const result = await followBuild(
    redis,
    prefix,
    id,
    (l) => lines.push(l),
    AbortSignal.timeout(300_000),
    { queue },
  );
  return { result, lines, ms: performance.now() - started };
}

const ok = (b: Built) =>
  assert.equal(b.result.status, 'succeeded', `${b.result.error}\n${b.lines.join('\n')}`);

const ms = (b: Built) => `${(b.ms / 1000).toFixed(1)} s`;
/** The log line that says the toolchain image was made now (a cold build), if any. */
const made = (b: Built) => b.lines.find((l) => /Made berth\/toolchain-/.test(l));

/** The fixture built, a one-line change pushed and built again; both images answer. */
async function twice(
  t: { diagnostic: (s: string) => void },
  fixture: string,
  change: { file: string; from: RegExp; to: string },
  path = '/',
) {
  const { app, rev, work } = await appFrom(fixture);
  const first = await build(app, rev);
  ok(first);
  const res = await answerAt(first.result.image ?? '', path);
  assert.equal(res.status, 200);
  const rev2 = await commit(app, work, {
    [change.file]: (await readFile(`${work}/${change.file}`, 'utf8')).replace(
      change.from,
      change.to,
    ),
  });
  const second = await build(app, rev2);
  ok(second);
  const res2 = await answerAt(second.result.image ?? '', path);
  t.diagnostic(
    `${fixture}: first push ${ms(first)}${made(first) ? ` (${made(first)?.trim()})` : ' (toolchain image already there)'}, second push ${ms(second)}`,
  );
  return { app, first, second, body: res.body.toString(), body2: res2.body.toString() };
}

async function answerAt(image: string, at: string) {
  const running = await runApp(docker, image, undefined, run.labels);
  try {
    return await httpGet(`${running.url}${at}`);
  } finally {
    await running.container.remove({ force: true });
  }
}

const labelsOf = async (image: string | undefined) =>
  (await docker.getImage(image ?? '').inspect()).Config.Labels ?? {};

describe('Go, Ruby, PHP and Python versions through the builder', () => {
  test('go: go.mod go 1.22 compiles on Go 1.22, the app runs on the plain stack, the build cache is reused', async (t) => {
    const r = await twice(t, 'go-web', {
      file: 'main.go',
      from: /go-web on/,
      to: 'go-web, again, on',
    });
    assert.ok(
      r.first.lines.includes('-----> Go 1.22, Debian 12 backports (go.mod: go 1.22)'),
      r.first.lines.join('\n'),
    );
    assert.ok(r.first.lines.includes('-----> Go app detected (buildpack go)'));
    assert.deepEqual(r.first.result.processes, { web: 'bin/go-web' });
    assert.match(r.body, /^go-web on go1\.22\.\d+$/m);
    assert.match(r.body2, /^go-web, again, on go1\.22\./m);
    // The app image is the stack's, not the toolchain's.
    const labels = await labelsOf(r.second.result.image);
    assert.equal(labels[LABELS.toolchain], undefined);
    assert.equal(labels[LABELS.buildpacks], 'go');
  });

  test('ruby: a Sinatra app with Gemfile.lock installs from Debian gems and runs with rackup', async (t) => {
    const r = await twice(t, 'ruby-sinatra', {
      file: 'app.rb',
      from: /ruby-sinatra on/,
      to: 'ruby-sinatra, again, on',
    });
    assert.ok(
      r.first.lines.includes('-----> Ruby 3.3, Debian 13 (Gemfile: ruby "~> 3.3")'),
      r.first.lines.join('\n'),
    );
    assert.deepEqual(r.first.result.processes, {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's ${PORT}, expanded at run time
      web: 'bundle exec rackup config.ru -o 0.0.0.0 -p ${PORT:-5000}',
    });
    assert.match(r.body, /^ruby-sinatra on Ruby 3\.3\.\d+, Sinatra 4\.\d+\.\d+$/m);
    assert.match(r.body2, /^ruby-sinatra, again, on Ruby 3\.3/m);
    assert.equal((await labelsOf(r.first.result.image))[LABELS.toolchain], 'ruby-3.3');
  });

  test('php: composer.json require.php ^8.2 gets the newest PHP, php-fpm behind nginx, public/ as the root', async (t) => {
    const r = await twice(
      t,
      'php-web',
      { file: 'src/Greeting.php', from: /php-web on/, to: 'php-web, again, on' },
      '/some/page?x=1',
    );
    assert.ok(
      r.first.lines.includes('-----> PHP 8.4, Debian 13 (composer.json: require.php "^8.2")'),
      r.first.lines.join('\n'),
    );
    assert.deepEqual(r.first.result.processes, { web: 'heroku-php-nginx' });
    assert.match(r.body, /^php-web on PHP 8\.4\.\d+, PATH \/some\/page\?x=1$/m);
    assert.match(r.body2, /^php-web, again, on PHP 8\.4/m);
    // The app's own files outside public/ are not served: the front controller answers.
    const src = await answerAt(r.second.result.image ?? '', '/composer.json');
    assert.match(src.body.toString(), /^php-web, again, on PHP 8\.4\.\d+, PATH \/composer\.json$/m);
  });

  test("python: .python-version 3.13 runs on Debian 13's Python", async (t) => {
    const r = await twice(t, 'python-pinned', {
      file: 'app.py',
      from: /python-pinned on/,
      to: 'python-pinned, again, on',
    });
    assert.ok(
      r.first.lines.includes('-----> Python 3.13, Debian 13 (.python-version: 3.13)'),
      r.first.lines.join('\n'),
    );
    assert.ok(
      r.first.lines.some((l) => /^-----> Python 3\.13\.\d+ \(Debian's, as the app asks\)$/.test(l)),
      r.first.lines.join('\n'),
    );
    assert.match(r.body, /^python-pinned on Python 3\.13\.\d+$/m);
    assert.match(r.body2, /^python-pinned, again, on Python 3\.13/m);
  });

  test('a version Berth cannot provide is refused in one line naming the ones it can, before any image is made', async () => {
    for (const [fixture, files, error] of [
      [
        'python-pinned',
        { '.python-version': '3.12\n' },
        ".python-version: Python 3.12: Berth provides Python 3.11, 3.13 (Debian's packages); ask for one of them, or add a Dockerfile",
      ],
      [
        'python-plain',
        { 'runtime.txt': 'python-3.12.1\n' },
        "runtime.txt: Python 3.12.1: Berth provides Python 3.11, 3.13 (Debian's packages); ask for one of them, or add a Dockerfile",
      ],
      [
        'go-web',
        { 'go.mod': 'module example.com/go-web\n\ngo 1.99\n' },
        "go.mod: go 1.99 is newer than every Go Berth has: Berth provides Go 1.19, 1.21, 1.22, 1.23, 1.24, 1.25, 1.26, 1.27 (Debian's packages); ask for one of them, or add a Dockerfile",
      ],
      [
        'ruby-sinatra',
        { '.ruby-version': '2.7.8\n' },
        ".ruby-version: Ruby 2.7.8: Berth provides Ruby 3.1, 3.3 (Debian's packages); ask for one of them, or add a Dockerfile",
      ],
      [
        'php-web',
        { 'composer.json': '{"require":{"php":"^7.4"}}\n' },
        'composer.json: require.php "^7.4": Berth provides PHP 8.2, 8.4 (Debian\'s packages); ask for one of them, or add a Dockerfile',
      ],
    ] as const) {
      const { app, rev } = await appFrom(fixture, files);
      const b = await build(app, rev);
      assert.equal(b.result.status, 'failed', fixture);
      assert.equal(b.result.error, error);
      assert.ok(!b.lines.some((l) => /Making the toolchain image/.test(l)));
    }
  });

  test('a Gemfile that pins a Ruby patch release Debian does not have is refused saying what to write', async () => {
    const gemfile = await readFile(path.join(FIXTURE_APPS_DIR, 'ruby-sinatra', 'Gemfile'), 'utf8');
    const { app, rev } = await appFrom('ruby-sinatra', {
      Gemfile: gemfile.replace('ruby "~> 3.3"', 'ruby "3.3.0"'),
    });
    const b = await build(app, rev);
    assert.equal(b.result.status, 'failed');
    assert.match(
      b.result.error ?? '',
      /^buildpack ruby: Gemfile: Bundler needs exactly Ruby 3\.3\.0, and Berth has Debian's 3\.3\.\d+: ask for ruby "~> 3\.3" in the Gemfile \(or add a Dockerfile\)$/,
    );
  });

  test('an app in a language no buildpack knows is told to add a Dockerfile', async () => {
    const { app, rev } = await appFrom(undefined, {
      'Main.java': 'class Main { public static void main(String[] a) {} }\n',
      'pom.xml': '<project/>\n',
    });
    const b = await build(app, rev);
    assert.equal(b.result.status, 'failed');
    assert.equal(
      b.result.error,
      'no Dockerfile, and none of the buildpacks (ruby, node, python, php, go, static, procfile) recognises this app — add a Dockerfile (Berth builds Node.js, Python, Ruby, PHP and Go apps, static sites and Procfile apps without one)',
    );
  });
});
