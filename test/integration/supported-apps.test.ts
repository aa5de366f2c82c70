// Issue 18's fixture apps that had no test of the whole way, pushed as they
// are (test/fixtures/apps, committed by real git into the app's bare
// repository) through the real build queue and builder
// (services/builder/worker.ts → run-build.ts), rolled out by the real deploy
// step (deploy.ts → rollout.ts) on the real Engine, and asked over HTTP
// through the real router: a Flask app, an Express API with its lock file, a
// Vite single-page app, a Django app on a PostgreSQL service of Berth's
// linked to it (DATABASE_URL), and a worker-only app. The other fixtures' whole-way tests are listed in
// docs/supported-apps.md. Builds have no route to PyPI or npm's registry:
// the Python wheels come from a simple index this file serves
// (test/harness/pypi-index.ts, made from Debian's packages), the npm
// packages from a registry serving the very tarballs the Express app's lock
// file names (packed from the public registry once, cached). Pointing a
// build at them is config (PIP_INDEX_URL, NPM_CONFIG_REGISTRY), as a mirror
// is: the apps' files are the fixtures' own.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../services/core/config.ts';
import { LABELS } from '../../services/core/docker.ts';
import { Store } from '../../services/core/store/index.ts';
import { deployBuilds } from '../../services/platform/release/deploy.ts';
import { appSchedulers } from '../../services/platform/scheduler/schedulers.ts';
import { bridgeGateway, FIXTURE_APPS_DIR } from '../harness/buildpacks.ts';
import { buildHarness } from '../harness/builds.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { removeDatastoreFromEngine } from '../harness/datastores.ts';
import { ensureTestStackImage, removeAppFromEngine, testStackImage } from '../harness/docker.ts';
import { TEST_RUNTIMES } from '../harness/node-runtime.ts';
import {
  lockedPublicPackages,
  nodeViteBundler,
  startTestRegistry,
  type TestRegistry,
} from '../harness/npm-registry.ts';
import {
  DJANGO_DEBS,
  debianWheels,
  FLASK_DEBS,
  type PypiIndex,
  startPypiIndex,
} from '../harness/pypi-index.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { request, startRouter } from '../harness/router.ts';
import { tempDir } from '../harness/tmp.ts';
import { until } from '../harness/wait.ts';

const h = await buildHarness('berth-supported');
await ensureTestStackImage(h.docker, await tempDir('berth-stack'));
const prefix = testPrefix();
const store = new Store(await redisClient(prefix), prefix);
const builder = await h.startBuilder({
  prefix,
  stackImage: testStackImage(),
  // Node.js runtimes from the cache every test run on this machine shares.
  paths: { ...h.paths, runtimes: TEST_RUNTIMES },
  deploy: deployBuilds(store, appSchedulers(store, { docker: h.docker }), { drainMs: 0 }),
});
const router = await startRouter({ redisUrl: await sharedRedisUrl(), prefix });
after(() => router.stop());
const run = commandRunner(
  store,
  loadConfig({
    BERTH_DOMAIN: 'berth.test',
    BERTH_DATA_DIR: await tempDir('berth-supported-cmd'),
    DOCKER_HOST: process.env.DOCKER_HOST,
  }),
);
const ada = userActor('ada', 'admin');
const figures: Record<string, string> = {};
after(() => process.stderr.write(`# supported-apps figures: ${JSON.stringify(figures)}\n`));

let pypi: PypiIndex;
let registry: TestRegistry;
before(async () => {
  const wheels = await debianWheels(h.docker, testStackImage(), h.dockerRun.labels, [
    ...new Set([...DJANGO_DEBS, ...FLASK_DEBS]),
  ]);
  pypi = await startPypiIndex(await bridgeGateway(h.docker), wheels);
  registry = await startTestRegistry(await bridgeGateway(h.docker), [
    ...(await lockedPublicPackages(
      path.join(FIXTURE_APPS_DIR, 'node-express', 'package-lock.json'),
    )),
    await nodeViteBundler(),
  ]);
});
after(async () => {
  await pypi?.close();
  await registry?.close();
});

/** The fixture's files as they are in its folder. */
async function fixtureFiles(fixture: string): Promise<Record<string, string>> {
  const dir = path.join(FIXTURE_APPS_DIR, fixture);
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files[path.relative(dir, full)] = await readFile(full, 'utf8');
  }
  return files;
}

/** A new app with `config`, the fixture pushed to it unchanged and deployed; the build's lines. */
async function pushed(
  fixture: string,
  config: Record<string, string>,
  before?: (app: string) => Promise<void>,
) {
  const app = await h.newApp(prefix);
  after(() => removeAppFromEngine(h.docker, app));
  if (Object.keys(config).length > 0) await store.config.set(app, config);
  await before?.(app);
  // A cold pip install and the venv layer's save take minutes on a loaded machine.
  const built = await h.build(builder, app, await h.commit(app, await fixtureFiles(fixture)), {
    timeoutMs: 300_000,
  });
  const text = built.lines.join('\n');
  assert.equal(built.result.status, 'succeeded', `${built.result.error}\n${text}`);
  figures[fixture] = `${(built.ms / 1000).toFixed(1)} s from push to live`;
  return { app, built, text };
}

const viaRouter = (app: string, p = '/') => request(router.port, `${app}.berth.test`, { path: p });

describe('getting-started apps, pushed unchanged, live through the router', () => {
  test('a Flask app: Flask and gunicorn from requirements.txt, web from the Procfile', async () => {
    const { app, text } = await pushed('python-flask', {
      PIP_INDEX_URL: pypi.url,
      PIP_TRUSTED_HOST: pypi.host,
    });
    assert.match(text, /-----> Python app detected \(buildpack python\)/);
    assert.match(text, /v1 of .* is live/);
    const page = await viaRouter(app);
    assert.equal(page.status, 200);
    assert.match(page.body, /^python-flask on Flask 2\.2\.2, Python 3\.11\.\d+$/m);
    const api = await viaRouter(app, '/api/greeting?name=berth');
    assert.equal(api.status, 200);
    assert.deepEqual(JSON.parse(api.body), { greeting: 'hello, berth' });
  });

  test('an Express API with its lock file: npm ci installs what the lock names, npm start serves', async () => {
    const served = registry.tarballsServed();
    const { app, text } = await pushed('node-express', { NPM_CONFIG_REGISTRY: registry.url });
    assert.match(text, /-----> Installing dependencies \(package-lock\.json\)/);
    assert.ok(
      registry.tarballsServed('express') === 1 && registry.tarballsServed() - served >= 60,
      `npm ci fetched the lock's tarballs (${registry.tarballsServed() - served})\n${text}`,
    );
    const page = await viaRouter(app);
    assert.equal(page.status, 200);
    const api = await viaRouter(app, '/api/greeting?name=berth');
    assert.equal(api.status, 200);
    assert.deepEqual(JSON.parse(api.body), { greeting: 'hello, berth', express: '4.22.3' });
  });

  test('a Vite single-page app: its bundler builds dist/, which the static buildpack serves', async () => {
    const { app, text } = await pushed('node-vite', { NPM_CONFIG_REGISTRY: registry.url });
    assert.ok(text.includes('-----> Static site in dist/ (static.json root)'), text);
    const page = await viaRouter(app);
    assert.equal(page.status, 200);
    const script = /src="(\/assets\/index-[0-9a-f]{8}\.js)"/.exec(page.body)?.[1];
    assert.ok(script, page.body);
    const bundle = await viaRouter(app, script);
    assert.equal(bundle.status, 200);
    assert.match(bundle.body, /Hello from a Vite-style app/);
  });

  test('a Django app on a linked PostgreSQL service: collectstatic at build, DATABASE_URL used, static files served', async () => {
    const db = `dj-${randomBytes(3).toString('hex')}`;
    after(() => removeDatastoreFromEngine(h.docker, 'postgres', db));
    const { app, text } = await pushed(
      'python-django',
      { PIP_INDEX_URL: pypi.url, PIP_TRUSTED_HOST: pypi.host },
      async (app) => {
        const started = performance.now();
        const created = await run(ada, ['postgres:create', db]);
        assert.equal(created.code, 0, created.stderr + created.stdout);
        const linked = await run(ada, ['postgres:link', db, app]);
        assert.equal(linked.code, 0, linked.stderr + linked.stdout);
        figures.postgres = `${((performance.now() - started) / 1000).toFixed(1)} s to create and link`;
      },
    );
    assert.ok(
      text.includes(
        '-----> Collecting Django static files (python manage.py collectstatic --noinput)',
      ),
      text,
    );
    assert.match((await store.config.get(app)).DATABASE_URL ?? '', /^postgres:\/\//);
    const page = await viaRouter(app);
    assert.equal(page.status, 200, page.body);
    // The view ran a query on the database the settings chose from DATABASE_URL.
    assert.match(
      page.body,
      new RegExp(`dyno=web\\.1 debug=False database=postgresql:${db.replaceAll('-', '_')}`),
    );
    const css = /href="(\/static\/hello\/site\.[0-9a-f]{12}\.css)"/.exec(page.body)?.[1];
    assert.ok(css, page.body);
    const style = await viaRouter(app, css);
    assert.equal(style.status, 200);
    assert.match(style.body, /font-family: sans-serif/);
  });

  test('a worker-only app: the push says nothing runs and how to start it; ps:scale starts the worker', async () => {
    const { app, text } = await pushed('worker-only', {});
    assert.ok(
      text.includes(
        `nothing runs: ${app} has no web process, and its other types start at 0; start them with ps:scale ${app} worker=1`,
      ),
      text,
    );
    const scaled = await run(ada, ['ps:scale', app, 'worker=1']);
    assert.equal(scaled.code, 0, scaled.stderr + scaled.stdout);
    // The worker runs, as worker.1, and goes on.
    await until(
      'the worker ticks',
      async () => {
        await new Promise((r) => setTimeout(r, 250));
        const [c] = await h.docker.listContainers({
          filters: { label: [`${LABELS.app}=${app}`, `${LABELS.process}=worker`] },
        });
        if (!c) return false;
        const logs = (await h.docker
          .getContainer(c.Id)
          .logs({ stdout: true, stderr: true })) as Buffer;
        return /worker\.1 tick 3\b/.test(logs.toString());
      },
      20_000,
    );
  });
});
