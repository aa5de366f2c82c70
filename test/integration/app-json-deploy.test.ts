// app.json's formation and env at a deploy, with the real Engine and store
// (the build's reading of app.json is test/unit/app-json.test.ts): the
// formation sets the scale and takes ps:scale's place, as on Dokku; required
// config vars refuse the deploy, naming them, before anything changes; a
// generated secret is set and never shown.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { errorLine } from '../../services/core/errors.ts';
import { parseAppJson } from '../../services/platform/build/app-json.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { engineApp, quietDeployDeps, serveText } from '../harness/deploy.ts';
import { removeAppFromEngine, testStackImage } from '../harness/docker.ts';
import { until } from '../harness/wait.ts';

const { store, app, docker, ada, run } = await engineApp('aj', {
  // The old instances of a ps:scale stop after this.
  BERTH_DRAIN_TIMEOUT: '1s',
});
const lines: string[] = [];

const manifest = parseAppJson(`{
  // as a getting-started app has it
  "formation": { "web": { "quantity": 2 }, "worker": { "quantity": 1 } },
  "env": {
    "SECRET_KEY": { "generator": "secret" },
    "DATABASE_URL": { "description": "where the data is" },
    "WEB_CONCURRENCY": "3",
  },
}`);

const deploy = (formation: Record<string, number> | undefined) =>
  deployImage(
    {
      ...quietDeployDeps(store, schedulerNamed('docker-local', { docker })),
      log: { heading: (l) => lines.push(l), detail: (l) => lines.push(l) },
    },
    {
      app,
      image: testStackImage(),
      processes: { web: serveText('app.json'), worker: 'exec sleep 1000' },
      ...(formation ? { formation } : {}),
      env: manifest.env,
      by: 'ada',
      description: 'Deploy',
    },
  );

const running = async () => {
  const list = await docker.listContainers({ filters: { label: [`berth.app=${app}`] } });
  const count: Record<string, number> = {};
  for (const c of list) {
    const type = c.Labels['berth.process'] ?? '';
    count[type] = (count[type] ?? 0) + 1;
  }
  return count;
};

const workerApp = `${app}w`;
after(() => removeAppFromEngine(docker, workerApp));

describe('app.json at a deploy', () => {
  test('a required config var missing refuses the deploy, named, with nothing changed', async () => {
    await assert.rejects(deploy(manifest.formation), (e: Error) => {
      assert.equal(
        e.message,
        `app.json of "${app}" requires config vars it does not have: DATABASE_URL`,
      );
      // The cause above, then the fix.
      assert.match(
        errorLine(e),
        new RegExp(`set them \\(config:set ${app} KEY=value --no-restart\\), then push again`),
      );
      return true;
    });
    assert.deepEqual(await store.releases.list(app), []);
    assert.deepEqual(await store.config.get(app), {});
  });

  test('the formation sets the scale; defaults and a secret are set, the secret never shown', async () => {
    await store.config.set(app, { DATABASE_URL: 'postgres://db/shop' });
    const release = await deploy(manifest.formation);
    assert.equal(release.status, 'succeeded');
    assert.deepEqual(release.formation, { web: 2, worker: 1 });
    assert.deepEqual(await running(), { web: 2, worker: 1 });
    const vars = await store.config.get(app);
    assert.match(vars.SECRET_KEY ?? '', /^[0-9a-f]{64}$/);
    assert.equal(vars.WEB_CONCURRENCY, '3');
    assert.ok(
      lines.includes('app.json env: set SECRET_KEY (generated secret), WEB_CONCURRENCY (default)'),
      lines.join('\n'),
    );
    assert.ok(!lines.join('\n').includes(vars.SECRET_KEY ?? '-'), 'the secret is not printed');
  });

  test('ps:scale is refused while app.json owns the scale, and works once the key is gone', async () => {
    const refused = await run(ada, ['ps:scale', app, 'web=1']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /the scale of .* is set by the formation key of its app\.json/);
    assert.deepEqual((await store.releases.current(app))?.formation, { web: 2, worker: 1 });

    const secret = (await store.config.get(app)).SECRET_KEY;
    const next = await deploy(undefined);
    assert.equal(next.formationFrom, undefined);
    // Dokku: the scale app.json set stays; later deploys keep the owner's values.
    assert.deepEqual(next.formation, { web: 2, worker: 1 });
    assert.equal((await store.config.get(app)).SECRET_KEY, secret);
    const scaled = await run(ada, ['ps:scale', app, 'web=1', 'worker=0']);
    assert.equal(scaled.code, 0, scaled.stderr);
    await until(
      'web=1 worker=0 running',
      async () => JSON.stringify(await running()) === '{"web":1}',
      30_000,
    );
  });

  test('a worker-only app is told that nothing runs, and how to start it', async () => {
    await store.apps.create({ name: workerApp, owner: 'ada' });
    const said: string[] = [];
    const release = await deployImage(
      {
        ...quietDeployDeps(store, schedulerNamed('docker-local', { docker })),
        log: { heading: (l) => said.push(l), detail: (l) => said.push(l) },
      },
      {
        app: workerApp,
        image: testStackImage(),
        processes: { worker: 'exec sleep 1000', clock: 'exec sleep 1000' },
        by: 'ada',
        description: 'Deploy',
      },
    );
    assert.deepEqual(release.formation, {});
    assert.equal(
      said.at(-1),
      `nothing runs: ${workerApp} has no web process, and its other types start at 0; start them with ps:scale ${workerApp} worker=1 clock=1`,
    );
  });
});
