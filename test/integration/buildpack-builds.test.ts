// Issue 4's acceptance for apps built by buildpacks (and one by its
// Dockerfile), through the real builder
// (services/builder/worker.ts → run-build.ts → buildpack-build.ts) with the
// real Engine, real git, the run's Redis and the stack image: each fixture app
// (test/fixtures/apps) is committed into an app's bare repository, built as a
// push builds it, and its image is run with PORT set and asked over HTTP on
// the bridge. Node.js comes from the npm registry on the host into a runtimes
// cache shared by test runs; npm dependencies come from a small registry this
// file serves on the bridge (build containers have no route to the internet).
import assert from 'node:assert/strict';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import { prepareDataDir } from '../../infra/bootstrap/data-dir.ts';
import { type BuildWorker, startBuildWorker } from '../../services/builder/worker.ts';
import { LABELS } from '../../services/core/docker.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { Store } from '../../services/core/store/index.ts';
import { type BuildQueue, enqueueBuild, followBuild } from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { ensureRepo } from '../../services/platform/git/repos.ts';
import { bridgeGateway, FIXTURE_APPS_DIR, httpGet, runApp } from '../harness/buildpacks.ts';
import {
  cleanupDocker,
  ensureTestStackImage,
  testDocker,
  testDockerRun,
  testStackImage,
} from '../harness/docker.ts';
import { type Built, fixtureRepos, git } from '../harness/fixture-repos.ts';
import { TEST_RUNTIMES } from '../harness/node-runtime.ts';
import {
  NODE_DEPS_PACKAGES,
  nodeDepsLockfile,
  startTestRegistry,
  type TestRegistry,
} from '../harness/npm-registry.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const HANG_BUILDPACKS = path.join(import.meta.dirname, '..', 'fixtures', 'buildpacks');
const searchPath = systemSearchPath(process.env.PATH);

const run = testDockerRun();
const prefix = testPrefix();
const scratch = await tempDir('berth-bp-builds');
const paths = await prepareDataDir(path.join(scratch, 'data'));
// At the top level: node:test runs an `after` a hook registers (as redisClient
// does) right after that hook.
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const queue: BuildQueue = createBuildQueue(redis, prefix);
let docker: Docker;
let connection: Redis;
let worker: BuildWorker;
let registry: TestRegistry;

before(async () => {
  docker = (await testDocker()).docker;
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  await store.users.create('ada', 'admin');
  connection = new Redis(await sharedRedisUrl(), { maxRetriesPerRequest: null });
  worker = await startBuildWorker({
    connection,
    redisPrefix: prefix,
    docker,
    // The runtimes cache of every test run: Node.js is downloaded once per machine.
    paths: { ...paths, runtimes: TEST_RUNTIMES },
    searchPath,
    stackImage: testStackImage(),
    labels: run.labels,
    concurrency: 2,
  });
  registry = await startTestRegistry(await bridgeGateway(docker), [...NODE_DEPS_PACKAGES]);
});

after(async () => {
  await registry?.close();
  await worker?.close();
  await queue?.close();
  connection?.disconnect();
  await cleanupDocker(run.runId, docker);
});

const { appFrom, commit, build, ok } = fixtureRepos({
  store,
  redis,
  prefix,
  queue,
  repos: paths.repos,
  scratch,
  namePrefix: `bp${run.runId.replace(/[^a-z0-9]/g, '').slice(-6)}`,
});

/** Runs the image's web process and GETs `/`; the container is removed after. */
async function answer(image: string) {
  const running = await runApp(docker, image, undefined, run.labels);
  try {
    return await httpGet(`${running.url}/`);
  } finally {
    await running.container.remove({ force: true });
  }
}

describe('buildpack apps through the builder', () => {
  test('a Dockerfile app: its CMD is web, and it answers on $PORT', async () => {
    const { app, rev } = await appFrom(undefined, {
      Dockerfile: [
        'FROM debian:bookworm-slim',
        `ENV BERTH_TEST_RUN=${run.runId}`,
        'WORKDIR /srv',
        'COPY index.html /srv/',
        // python3 is in the stack (debian:bookworm-slim here is Berth's stack image).
        'CMD ["sh", "-c", "exec python3 -m http.server \\"$PORT\\""]',
        '',
      ].join('\n'),
      'index.html': '<h1>a Dockerfile app</h1>\n',
    });
    const b = await build(app, rev);
    ok(b);
    assert.deepEqual(b.result.processes, { web: null });
    const res = await answer(b.result.image ?? '');
    assert.equal(res.status, 200);
    assert.match(res.body.toString(), /a Dockerfile app/);
  });

  test('node, no dependencies: the current LTS, node server.js, labels on the image', async (t) => {
    const { app, rev } = await appFrom('node-plain');
    const b = await build(app, rev);
    ok(b);
    assert.ok(b.lines.includes('-----> Node.js app detected (buildpack node)'), b.lines.join('\n'));
    assert.deepEqual(b.result.processes, { web: 'node server.js' });
    const image = await docker.getImage(b.result.image ?? '').inspect();
    const labels = image.Config.Labels ?? {};
    assert.equal(labels[LABELS.commit], rev);
    assert.equal(labels[LABELS.buildpacks], 'node');
    assert.equal(labels[LABELS.build], b.result.image?.split(':')[1]);
    assert.ok(image.Config.Env?.includes(`GIT_REV=${rev}`), 'the app knows its commit');
    const res = await answer(b.result.image ?? '');
    assert.match(res.body.toString(), /^node-plain on v\d+\.\d+\.\d+, NODE_ENV=production$/m);
    t.diagnostic(`node-plain: ${Math.round(b.ms)} ms; ${res.body.toString().trim()}`);
  });

  test('node with a dependency: npm ci from the app registry, build script, warm rebuild from the cache', async (t) => {
    const lock = nodeDepsLockfile('npm', registry);
    const { app, rev, work } = await appFrom('node-deps', { 'package-lock.json': lock });
    await store.config.set(app, { NPM_CONFIG_REGISTRY: registry.url });
    const served = registry.tarballsServed();
    const cold = await build(app, rev);
    ok(cold);
    assert.ok(registry.tarballsServed() > served, 'npm ci downloaded the dependencies');
    const body = (await answer(cold.result.image ?? '')).body.toString();
    assert.match(
      body,
      /^hello from a dependency; BUILT WITH NODE_ENV=PRODUCTION; devDependency pruned$/m,
    );

    // One source file changes, the dependencies do not: nothing is downloaded again.
    const before = registry.tarballsServed();
    const rev2 = await commit(app, work, {
      'server.js': (await readFile(path.join(work, 'server.js'), 'utf8')).replace(
        /devDependency (?=\$\{dev\})/,
        'dev dependency ',
      ),
    });
    const warm = await build(app, rev2);
    ok(warm);
    assert.equal(registry.tarballsServed(), before, 'the warm build downloaded nothing');
    assert.ok(
      warm.lines.includes(
        '       node_modules from the build cache (package.json and package-lock.json unchanged)',
      ),
      warm.lines.join('\n'),
    );
    assert.ok(!cold.lines.some((l) => /node_modules from the build cache/.test(l)));
    assert.match((await answer(warm.result.image ?? '')).body.toString(), /dev dependency pruned/);
    t.diagnostic(`node-deps: cold ${Math.round(cold.ms)} ms, warm ${Math.round(warm.ms)} ms`);
  });

  test('node asking for another major version (engines.node 22.x) runs on it', async () => {
    const pkg = JSON.parse(
      await readFile(path.join(FIXTURE_APPS_DIR, 'node-plain', 'package.json'), 'utf8'),
    );
    const { app, rev } = await appFrom('node-plain', {
      'package.json': JSON.stringify({ ...pkg, engines: { node: '22.x' } }, null, 2),
    });
    const b = await build(app, rev);
    ok(b);
    assert.ok(
      b.lines.some((l) => /^ {7}Node\.js 22\.\d+\.\d+, npm .* \(engines\.node 22\.x\)$/.test(l)),
      b.lines.join('\n'),
    );
    assert.match((await answer(b.result.image ?? '')).body.toString(), /^node-plain on v22\./m);
  });

  test('python: a venv with pip, app.py as web', async () => {
    const { app, rev } = await appFrom('python-plain');
    const b = await build(app, rev);
    ok(b);
    assert.match(
      (await answer(b.result.image ?? '')).body.toString(),
      /^python-plain on Python 3\.11\.\d+, prefix \/app\/\.venv$/m,
    );
  });

  test('static: the site served with cache headers, text gzipped', async () => {
    const { app, rev } = await appFrom('static-site');
    const b = await build(app, rev);
    ok(b);
    const running = await runApp(docker, b.result.image ?? '', undefined, run.labels);
    try {
      const index = await httpGet(`${running.url}/`);
      assert.equal(index.status, 200);
      assert.match(index.headers['cache-control'] ?? '', /max-age=0/);
      assert.match(index.body.toString(), /<h1>static-site<\/h1>/);
      const css = await httpGet(`${running.url}/css/site.css`, { 'accept-encoding': 'gzip' });
      assert.equal(css.headers['content-encoding'], 'gzip');
      assert.ok(gunzipSync(css.body).length > 0);
    } finally {
      await running.container.remove({ force: true });
    }
  });

  test('procfile only: the Procfile web command serves', async () => {
    const { app, rev } = await appFrom('procfile-only');
    const b = await build(app, rev);
    ok(b);
    assert.deepEqual(Object.keys(b.result.processes ?? {}), ['web']);
    assert.equal((await answer(b.result.image ?? '')).status, 200);
  });

  test('clear errors at the end of the output: bad package.json, failing compile, bad Procfile line', async () => {
    const last = (b: Built) => b.lines.at(-1) ?? '';
    const broken = await appFrom(undefined, {
      'package.json': '{\n  "name": "broken",\n  "version": "1.0.0",\n}\n',
      'index.js': '',
    });
    const a = await build(broken.app, broken.rev);
    assert.equal(a.result.status, 'failed');
    assert.equal(a.result.error, 'package.json:4:1: not valid JSON (property name expected)');

    // npm ci fails: the lock file names a package the registry does not have.
    const lock = JSON.parse(nodeDepsLockfile('npm', registry));
    lock.packages['node_modules/berth-fixture-greeting'].resolved =
      `${registry.url}nowhere/-/nowhere-1.0.0.tgz`;
    const failing = await appFrom('node-deps', { 'package-lock.json': JSON.stringify(lock) });
    await store.config.set(failing.app, { NPM_CONFIG_REGISTRY: registry.url });
    const c = await build(failing.app, failing.rev);
    assert.equal(c.result.status, 'failed');
    assert.match(c.result.error ?? '', /^buildpack node: /);
    // The buildpack's own last line is the reason the build's error repeats.
    assert.ok(last(c).startsWith(' !     '), last(c));
    assert.ok((c.result.error ?? '').endsWith(last(c).slice(7).trim()), c.result.error);

    const procfile = await appFrom('procfile-only', {
      Procfile: 'web: python3 -m http.server "$PORT" --directory site\nworker python3 worker.py\n',
    });
    const p = await build(procfile.app, procfile.rev);
    assert.equal(p.result.status, 'failed');
    assert.equal(
      p.result.error,
      'Procfile:2: not a process line; write `type: command`, such as `web: npm start`',
    );
  });

  test('a buildpack compile that never ends is stopped by the timeout, its container with it', async (t) => {
    const hangConnection = new Redis(await sharedRedisUrl(), { maxRetriesPerRequest: null });
    const hangPrefix = testPrefix();
    const hangRedis = await redisClient(hangPrefix);
    const hangStore = new Store(hangRedis, hangPrefix);
    const hangQueue = createBuildQueue(hangRedis, hangPrefix);
    const hanging = await startBuildWorker({
      connection: hangConnection,
      redisPrefix: hangPrefix,
      docker,
      paths: { ...paths, runtimes: TEST_RUNTIMES },
      searchPath,
      stackImage: testStackImage(),
      buildpacksDir: HANG_BUILDPACKS,
      labels: run.labels,
      timeoutMs: 4000,
    });
    t.after(async () => {
      await hanging.close();
      await hangQueue.close();
      hangConnection.disconnect();
    });
    await hangStore.users.create('ada', 'admin');
    const app = `hang${run.runId.replace(/[^a-z0-9]/g, '').slice(-6)}`;
    await hangStore.apps.create({ name: app, owner: 'ada' });
    await ensureRepo(paths, app);
    const work = path.join(scratch, 'work', app);
    await mkdir(work, { recursive: true });
    await git(['init', '-q', '-b', 'main'], work);
    const rev = await commit(app, work, { 'README.md': 'hangs\n' });
    const started = performance.now();
    const id = await enqueueBuild(hangQueue, { app, rev, ref: 'refs/heads/main', pusher: 'ada' });
    const lines: string[] = [];
    const result = await followBuild(
      hangRedis,
      hangPrefix,
      id,
      (l) => lines.push(l),
      AbortSignal.timeout(60_000),
      { queue: hangQueue },
    );
    const ms = performance.now() - started;
    assert.ok(lines.includes('-----> Hanging for ever'), lines.join('\n'));
    assert.equal(result.status, 'failed');
    assert.match(result.error ?? '', /^timed out after 4 s — /);
    assert.ok(ms < 15_000, `ended after ${Math.round(ms)} ms`);
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.build}=${id}`] },
    });
    assert.deepEqual(left, [], 'the build container is gone');
    t.diagnostic(`timeout 4 s: the hanging buildpack build ended after ${Math.round(ms)} ms`);
  });
});

// Scratch space of this file; its images, containers and volumes go by label above.
after(() => rm(scratch, { recursive: true, force: true }));
