// Issue 18's Heroku conventions, through the real builder
// (services/builder/worker.ts → run-build.ts → buildpack-build.ts) with the
// real Engine, real git, the run's Redis and the stack image: each fixture app
// (test/fixtures/apps) is committed into an app's bare repository, built as a
// push builds it, and its image is run as a deploy runs it (PORT, DYNO and the
// app's config) and asked over HTTP on the bridge. Python packages come from a
// simple index this file serves on the bridge (test/harness/pypi-index.ts),
// npm packages from a small registry (test/harness/npm-registry.ts).
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import { prepareDataDir } from '../../infra/bootstrap/data-dir.ts';
import { type BuildWorker, startBuildWorker } from '../../services/builder/worker.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { Store } from '../../services/core/store/index.ts';
import type { BuildQueue } from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { venvLayerRef } from '../../services/platform/build/venv-layer.ts';
import { bridgeGateway, FIXTURE_APPS_DIR, httpGet, runApp } from '../harness/buildpacks.ts';
import {
  cleanupDocker,
  ensureTestStackImage,
  testDocker,
  testDockerRun,
  testStackImage,
} from '../harness/docker.ts';
import { fixtureRepos, git } from '../harness/fixture-repos.ts';
import { type GitHttpServer, startGitHttpServer } from '../harness/git-http.ts';
import { TEST_RUNTIMES } from '../harness/node-runtime.ts';
import {
  NODE_DEPS_PACKAGES,
  nodeDepsLockfile,
  nodeViteBundler,
  startTestRegistry,
  type TestRegistry,
} from '../harness/npm-registry.ts';
import { debianWheels, type PypiIndex, startPypiIndex } from '../harness/pypi-index.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const searchPath = systemSearchPath(process.env.PATH);

const run = testDockerRun();
const prefix = testPrefix();
const scratch = await tempDir('berth-conventions');
const paths = await prepareDataDir(path.join(scratch, 'data'));
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const queue: BuildQueue = createBuildQueue(redis, prefix);
let docker: Docker;
let connection: Redis;
let worker: BuildWorker;
let pypi: PypiIndex;
let registry: TestRegistry;
let gitServer: GitHttpServer;
const HELLO_BUILDPACK = path.join(
  import.meta.dirname,
  '..',
  'fixtures',
  'buildpack-by-url',
  'hello',
);

/**
 * A third-party buildpack's repository, as on GitHub: tag v1, then a v2
 * commit on main (each says its version in what it builds).
 */
async function helloBuildpackRepo(root: string): Promise<void> {
  const work = path.join(scratch, 'hello-buildpack');
  await cp(HELLO_BUILDPACK, work, { recursive: true });
  const compile = path.join(work, 'bin', 'compile');
  const template = await readFile(compile, 'utf8');
  await git(['init', '-q', '-b', 'main'], work);
  for (const version of ['v1', 'v2']) {
    await writeFile(compile, template.replaceAll('VERSION', version));
    await git(['add', '-A'], work);
    await git(['commit', '-q', '-m', version], work);
    if (version === 'v1') await git(['tag', 'v1'], work);
  }
  await git(['clone', '-q', '--bare', work, path.join(root, 'hello-buildpack.git')], scratch);
}

/** The node-vite fixture's bundler, a devDependency. */
const BUNDLER = await nodeViteBundler();

before(async () => {
  docker = (await testDocker()).docker;
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  await store.users.create('ada', 'admin');
  const gitRoot = path.join(scratch, 'git-server');
  await mkdir(gitRoot, { recursive: true });
  await helloBuildpackRepo(gitRoot);
  gitServer = await startGitHttpServer(gitRoot);
  connection = new Redis(await sharedRedisUrl(), { maxRetriesPerRequest: null });
  worker = await startBuildWorker({
    connection,
    redisPrefix: prefix,
    docker,
    paths: { ...paths, runtimes: TEST_RUNTIMES },
    searchPath,
    stackImage: testStackImage(),
    labels: run.labels,
    concurrency: 2,
    // The default, and the operator's own git server on loopback.
    buildpackUrls: ['public-https', gitServer.url],
  });
  const wheels = await debianWheels(docker, testStackImage(), run.labels);
  pypi = await startPypiIndex(await bridgeGateway(docker), wheels);
  registry = await startTestRegistry(await bridgeGateway(docker), [...NODE_DEPS_PACKAGES, BUNDLER]);
});

after(async () => {
  await pypi?.close();
  await registry?.close();
  await gitServer?.close();
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
  namePrefix: `cv${run.runId.replace(/[^a-z0-9]/g, '').slice(-6)}`,
});

/** Runs the image's web process as a deploy does (DYNO=web.1 and `env`), GETs each path. */
async function answers(image: string, env: Record<string, string>, ...paths: string[]) {
  const running = await runApp(docker, image, undefined, run.labels, { DYNO: 'web.1', ...env });
  try {
    const out = [];
    for (const p of paths) out.push(await httpGet(`${running.url}${p}`));
    return out;
  } finally {
    await running.container.remove({ force: true });
  }
}

/** Runs `command` in the image as a one-off (the launcher, as the app user); its output. */
async function oneOff(image: string, command: string): Promise<string> {
  // A terminal: the log is the output as it was, not Docker's multiplexed frames.
  const container = await docker.createContainer({
    Image: image,
    Cmd: [command],
    Tty: true,
    Labels: run.labels,
  });
  try {
    await container.start();
    await container.wait();
    const out = (await container.logs({ stdout: true, stderr: true })) as Buffer;
    return out.toString().replace(/\r\n/g, '\n');
  } finally {
    await container.remove({ force: true });
  }
}

describe('Node.js builds as Heroku runs them', () => {
  test('a Vite-style app: its bundler (a devDependency) builds dist/, which the static buildpack serves', async (t) => {
    // Only the registry: no NPM_CONFIG_PRODUCTION=false, no NODE_ENV.
    const { app, rev } = await appFrom('node-vite', {}, { NPM_CONFIG_REGISTRY: registry.url });
    const b = await build(app, rev);
    ok(b);
    const text = b.lines.join('\n');
    assert.match(text, /-----> Node\.js app detected \(buildpack node\)/);
    assert.match(
      text,
      /-----> Building \(npm run build\)\n(?: {7}npm .*\n)* {7}dist\/assets\/index-[0-9a-f]{8}\.js \(NODE_ENV=production\)\n-----> Pruning devDependencies\n/,
    );
    assert.match(text, /-----> Pruning devDependencies/);
    assert.ok(b.lines.includes('-----> Static site in dist/ (static.json root)'), text);
    assert.deepEqual(b.result.processes, { web: '/app/.berth-static/start' });
    const [page, icon, source] = await answers(
      b.result.image ?? '',
      {},
      '/',
      '/favicon.svg',
      '/src/main.js',
    );
    const html = page?.body.toString() ?? '';
    assert.equal(page?.status, 200);
    const script = /src="(\/assets\/index-[0-9a-f]{8}\.js)"/.exec(html)?.[1];
    assert.ok(script, html);
    assert.equal(icon?.status, 200, 'public/ is copied into dist/ and served');
    assert.equal(source?.status, 404, 'only dist/ is served, not the sources');
    const [bundle] = await answers(b.result.image ?? '', {}, script);
    assert.match(bundle?.body.toString() ?? '', /Hello from a Vite-style app/);
    t.diagnostic(`node-vite: ${Math.round(b.ms)} ms`);
  });

  test('a Node.js app with a static.json but no .buildpacks is told how to choose the static buildpack', async () => {
    const { app, work } = await appFrom('node-vite', {}, { NPM_CONFIG_REGISTRY: registry.url });
    await rm(path.join(work, '.buildpacks'));
    const b = await build(app, await commit(app, work, {}));
    const text = b.lines.join('\n');
    assert.match(text, /-----> Node\.js app detected \(buildpack node\)/);
    assert.ok(
      b.lines.includes(
        `       static.json is served only by the static buildpack, which this build does not run: to build with Node.js and serve the result, name both in .buildpacks (heroku/nodejs, then heroku-community/static) or run buildpacks:set ${app} heroku/nodejs heroku-community/static`,
      ),
      text,
    );
    assert.doesNotMatch(text, /Static site in dist\//);
  });

  test('heroku-prebuild, heroku-postbuild instead of build, heroku-cleanup after the pruning', async () => {
    const pkg = JSON.parse(
      await readFile(path.join(FIXTURE_APPS_DIR, 'node-deps', 'package.json'), 'utf8'),
    );
    const record = (step: string) =>
      `node -e "require('fs').appendFileSync('hooks.txt', '${step}: ' + require('fs').existsSync('node_modules/berth-fixture-shout') + '\\n')"`;
    pkg.scripts = {
      ...pkg.scripts,
      'heroku-prebuild': record('heroku-prebuild'),
      build: record('build'),
      'heroku-postbuild': `node build.js && ${record('heroku-postbuild')}`,
      'heroku-cleanup': record('heroku-cleanup'),
    };
    const { app, rev } = await appFrom(
      'node-deps',
      {
        'package.json': JSON.stringify(pkg, null, 2),
        'package-lock.json': nodeDepsLockfile('npm', registry),
      },
      { NPM_CONFIG_REGISTRY: registry.url },
    );
    const b = await build(app, rev);
    ok(b);
    const headings = b.lines.filter((l) => l.startsWith('-----> '));
    const at = (h: string) => headings.findIndex((l) => l.startsWith(`-----> ${h}`));
    assert.ok(
      at('Running heroku-prebuild (npm run heroku-prebuild)') < at('Installing dependencies'),
      headings.join('\n'),
    );
    assert.ok(
      at('Building (npm run heroku-postbuild)') > at('Installing dependencies'),
      headings.join('\n'),
    );
    assert.ok(
      at('Running heroku-cleanup (npm run heroku-cleanup)') > at('Pruning devDependencies'),
      headings.join('\n'),
    );
    // The devDependency is there for the build, gone at clean-up; build is not run.
    assert.equal(
      await oneOff(b.result.image ?? '', 'cat hooks.txt'),
      'heroku-prebuild: false\nheroku-postbuild: true\nheroku-cleanup: false\n',
    );
  });
});

describe("the static buildpack's root", () => {
  test("NGINX_ROOT (Dokku's) names the folder served; a root outside the app is refused", async () => {
    const { app, rev } = await appFrom(
      'static-site',
      { 'site/index.html': '<h1>from site/</h1>\n' },
      { NGINX_ROOT: 'site/' },
    );
    const b = await build(app, rev);
    ok(b);
    assert.ok(b.lines.includes('-----> Static site in site/ (NGINX_ROOT)'), b.lines.join('\n'));
    const [page] = await answers(b.result.image ?? '', {}, '/');
    assert.equal(page?.body.toString(), '<h1>from site/</h1>\n');

    const bad = await appFrom('static-site', { 'static.json': '{"root": "../../etc"}' });
    const refused = await build(bad.app, bad.rev);
    assert.equal(refused.result.status, 'failed');
    assert.equal(
      refused.result.error,
      'buildpack static: static.json "root": "../../etc" must be a folder inside the app, such as dist/',
    );
  });
});

describe('Django, as Heroku builds it', () => {
  const index = () => ({ PIP_INDEX_URL: pypi.url, PIP_TRUSTED_HOST: pypi.host });

  test('collectstatic at build, production settings by DYNO, DATABASE_URL read; a re-push reuses the venv', async (t) => {
    const config = { ...index(), DATABASE_URL: 'sqlite:////tmp/berth-django.db' };
    const { app, rev, work } = await appFrom('python-django', {}, config);
    const served = pypi.downloads();
    const cold = await build(app, rev);
    ok(cold);
    assert.ok(pypi.downloads() > served, 'pip downloaded the wheels from the index');
    assert.ok(
      cold.lines.includes(
        '-----> Collecting Django static files (python manage.py collectstatic --noinput)',
      ),
      cold.lines.join('\n'),
    );
    const [page] = await answers(cold.result.image ?? '', config, '/');
    const html = page?.body.toString() ?? '';
    assert.equal(page?.status, 200, html);
    assert.match(html, /dyno=web\.1 debug=False database=sqlite:\/tmp\/berth-django\.db/);
    // WhiteNoise's manifest names the file by its hash: it exists only when collectstatic ran.
    const css = /href="(\/static\/hello\/site\.[0-9a-f]{12}\.css)"/.exec(html)?.[1];
    assert.ok(css, html);
    const [style] = await answers(cold.result.image ?? '', config, css);
    assert.equal(style?.status, 200);
    assert.match(style?.body.toString() ?? '', /font-family: sans-serif/);

    // The first build saved its venv as the app's layer (venv-layer.ts).
    const layer = await docker.getImage(venvLayerRef(app)).inspect();
    const venvLayers = layer.RootFS.Layers ?? [];

    // Only the code changes: the build starts from the venv layer, pip downloads
    // and installs nothing, and the venv is not saved again.
    const before = pypi.downloads();
    const rev2 = await commit(app, work, {
      'hello/views.py': `${await readFile(path.join(work, 'hello', 'views.py'), 'utf8')}\n# changed\n`,
    });
    const warm = await build(app, rev2);
    ok(warm);
    assert.equal(pypi.downloads(), before, 'the re-push downloaded nothing');
    assert.ok(
      warm.lines.includes(
        '-----> Reusing the virtual environment /app/.venv (requirements.txt and Python unchanged)',
      ),
      warm.lines.join('\n'),
    );
    assert.ok(!warm.lines.some((l) => /pip install -r/.test(l)), warm.lines.join('\n'));
    assert.ok(!warm.lines.some((l) => /Saved the virtual environment/.test(l)));
    // The app image is the venv layer's layers plus one of its own, which holds
    // the code and static files, not the venv again (60 MB; the app's code and
    // static files are well under 5 MB).
    const image = await docker.getImage(warm.result.image ?? '').inspect();
    const layers = image.RootFS.Layers ?? [];
    assert.deepEqual(layers.slice(0, venvLayers.length), venvLayers);
    assert.equal(layers.length, venvLayers.length + 1);
    const [top] = await docker.getImage(warm.result.image ?? '').history();
    assert.ok(top.Size < 5_000_000, `the re-push's own layer is ${top.Size} bytes`);
    assert.equal((await docker.getImage(venvLayerRef(app)).inspect()).Id, layer.Id);
    const [again] = await answers(warm.result.image ?? '', config, '/');
    assert.equal(again?.status, 200);

    // A changed requirements.txt (gunicorn dropped) makes the venv anew: never the old one.
    const requirements = await readFile(path.join(work, 'requirements.txt'), 'utf8');
    const rev3 = await commit(app, work, {
      'requirements.txt': requirements.replace(/^gunicorn==.*\n/m, ''),
    });
    const changed = await build(app, rev3);
    ok(changed);
    const text = changed.lines.join('\n');
    assert.match(text, /-----> Creating the virtual environment \/app\/\.venv/);
    assert.match(text, /-----> Installing requirements \(pip install -r requirements\.txt\)/);
    assert.match(text, /Saved the virtual environment as a layer of its own/);
    assert.notEqual((await docker.getImage(venvLayerRef(app)).inspect()).Id, layer.Id);
    assert.match(
      await oneOff(changed.result.image ?? '', 'python -c "import gunicorn" && echo stale'),
      /ModuleNotFoundError: No module named 'gunicorn'/,
    );
    assert.match(
      await oneOff(changed.result.image ?? '', 'python -c "import django; print(django.VERSION)"'),
      /\(3, 2, 25/,
    );
    t.diagnostic(`django: cold ${Math.round(cold.ms)} ms, warm ${Math.round(warm.ms)} ms`);
  });

  test('DISABLE_COLLECTSTATIC=1 skips it (and the production page then fails, as on Heroku)', async () => {
    const config = { ...index(), DISABLE_COLLECTSTATIC: '1' };
    const { app, rev } = await appFrom('python-django', {}, config);
    const b = await build(app, rev);
    ok(b);
    assert.ok(
      b.lines.includes('-----> Skipping Django collectstatic (DISABLE_COLLECTSTATIC=1)'),
      b.lines.join('\n'),
    );
    const [page] = await answers(b.result.image ?? '', config, '/');
    assert.equal(page?.status, 500);
  });

  test('a failing collectstatic fails the build with its error and the way out', async () => {
    const settings = await readFile(
      path.join(FIXTURE_APPS_DIR, 'python-django', 'gettingstarted', 'settings.py'),
      'utf8',
    );
    const { app, rev } = await appFrom(
      'python-django',
      { 'gettingstarted/settings.py': settings.replace(/^STATIC_ROOT = .*$/m, '') },
      index(),
    );
    const b = await build(app, rev);
    assert.equal(b.result.status, 'failed', b.lines.join('\n'));
    assert.match(
      b.result.error ?? '',
      /python manage\.py collectstatic --noinput failed: django\.core\.exceptions\.ImproperlyConfigured: You're using the staticfiles app without having set the STATIC_ROOT setting.*; fix the app \(the output above shows where\), or skip this step with config:set DISABLE_COLLECTSTATIC=1/,
    );
  });
});

describe('third-party buildpacks by git URL', () => {
  test('a buildpack in .buildpacks is fetched at its #ref, run with the buildpack API, and kept for the next build', async () => {
    const url = `${gitServer.url}hello-buildpack.git#v1`;
    const { app, rev, work } = await appFrom('static-site', {
      '.buildpacks': `${url}\n`,
      'hello.txt': 'hello from a third-party buildpack',
    });
    const fetchesBefore = gitServer.fetches();
    const b = await build(app, rev);
    ok(b);
    assert.ok(gitServer.fetches() > fetchesBefore, 'the builder fetched it');
    assert.ok(b.lines.includes(`       Fetching buildpack ${url}`), b.lines.join('\n'));
    assert.ok(b.lines.includes(`-----> Hello app detected (buildpack ${url})`), b.lines.join('\n'));
    // v1, not main's v2: the ref is honoured.
    assert.ok(b.lines.includes('-----> Hello buildpack v1'), b.lines.join('\n'));
    const [page] = await answers(b.result.image ?? '', {}, '/');
    assert.equal(
      page?.body.toString(),
      'hello from a third-party buildpack (hello buildpack v1)\n',
    );

    const fetched = gitServer.fetches();
    const again = await build(app, await commit(app, work, { 'hello.txt': 'hello again' }));
    ok(again);
    assert.equal(gitServer.fetches(), fetched, 'a pinned ref is fetched once');
    assert.ok(
      again.lines.includes(`       Using buildpack ${url} (fetched before; kept for its ref v1)`),
      again.lines.join('\n'),
    );
    const [next] = await answers(again.result.image ?? '', {}, '/');
    assert.equal(next?.body.toString(), 'hello again (hello buildpack v1)\n');
  });

  test("without a ref, the default branch; a host that resolves to this server's addresses is refused", async () => {
    const { app, rev } = await appFrom('static-site', {
      '.buildpacks': `${gitServer.url}hello-buildpack.git\n`,
      'hello.txt': 'hello from main',
    });
    const b = await build(app, rev);
    ok(b);
    const [page] = await answers(b.result.image ?? '', {}, '/');
    assert.equal(page?.body.toString(), 'hello from main (hello buildpack v2)\n');

    // localhost passes the URL's syntax (a host name) but resolves to loopback.
    const bad = await appFrom('static-site', {
      '.buildpacks': 'https://localhost/hello-buildpack.git#v1\n',
      'hello.txt': 'x',
    });
    const refused = await build(bad.app, bad.rev);
    assert.equal(refused.result.status, 'failed');
    assert.match(
      refused.result.error ?? '',
      /^fetching the buildpack https:\/\/localhost\/hello-buildpack\.git#v1 failed: its host localhost resolves to (127\.0\.0\.1|::1)(, [0-9a-f.:]+)*, an address of this server or its networks; only an operator can allow that \(BERTH_BUILDPACK_URLS\)/,
    );
  });
});
