// What ps:set, logs:set, docker-options and config --global (issue 20) do to
// the containers the docker-local scheduler makes, with the real Engine:
// each setting is read back from the container's own inspect data, and a
// one-off sees the run phase's options and the global config.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { LABELS } from '../../services/core/docker.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { reconcile } from '../../services/platform/release/reconcile.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { userActor } from '../harness/commands.ts';
import { engineApp, quietDeployDeps, serveText } from '../harness/deploy.ts';
import { testStackImage } from '../harness/docker.ts';
import { until } from '../harness/wait.ts';

const { store, app, config, docker, ada, run } = await engineApp('dset');
const root = userActor('root', 'admin');
await store.users.create('root', 'admin');

async function ok(actor: typeof ada, argv: string[]) {
  const r = await run(actor, argv);
  assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const media = path.join(config.dataDir, 'storage', 'media');

before(async () => {
  mkdirSync(media, { recursive: true });
  await ok(ada, ['ps:set', app, 'restart-policy', 'on-failure:5']);
  await ok(ada, ['ps:set', app, 'stop-timeout-seconds', '12']);
  await ok(ada, ['logs:set', app, 'max-size', '2m']);
  await ok(root, ['config:set', '--global', 'REGION=eu', 'GREETING=global']);
  await ok(ada, ['config:set', app, '--no-restart', 'GREETING=own']);
  await ok(root, [
    'docker-options:add',
    app,
    'deploy',
    '--shm-size',
    '128m',
    '--ulimit',
    'nofile=1024:2048',
    '--label',
    'team=a',
    '--add-host',
    'db.internal:10.0.0.5',
  ]);
  await ok(root, ['docker-options:add', app, 'deploy,run', '-v', `${media}:/media:ro`]);
  await deployImage(
    quietDeployDeps(
      store,
      schedulerNamed('docker-local', { docker, limits: config.defaultLimits }),
    ),
    {
      app,
      image: testStackImage(),
      processes: { web: serveText('settings') },
      by: 'ada',
      description: 'Deploy with settings',
    },
  );
});

describe('settings on the containers', () => {
  test('the web instance has the app’s restart policy, stop timeout, log size and options', async () => {
    const [listed] = await docker.listContainers({
      filters: { label: [`${LABELS.app}=${app}`, `${LABELS.process}=web`] },
    });
    assert.ok(listed, 'a web container runs');
    const info = await docker.getContainer(listed.Id).inspect();
    assert.deepEqual(info.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 5 });
    assert.equal((info.Config as { StopTimeout?: number }).StopTimeout, 12);
    assert.equal(info.HostConfig.LogConfig?.Config?.['max-size'], '2m');
    assert.equal(info.HostConfig.ShmSize, 128 * 1024 ** 2);
    assert.deepEqual(info.HostConfig.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }]);
    assert.deepEqual(info.HostConfig.ExtraHosts, ['db.internal:10.0.0.5']);
    assert.equal(info.Config.Labels?.team, 'a');
    assert.equal(info.Config.Labels?.[LABELS.app], app);
    const bind = info.Mounts.find((m) => m.Destination === '/media');
    assert.equal(bind?.Type, 'bind');
    assert.equal(bind?.Source, media);
    assert.equal(bind?.RW, false);
    // Still confined: the options add nothing Berth drops.
    assert.equal(info.HostConfig.Privileged, false);
    assert.deepEqual(info.HostConfig.CapAdd ?? [], []);
    const env = info.Config.Env ?? [];
    assert.ok(env.includes('REGION=eu'), 'the global var');
    assert.ok(env.includes('GREETING=own'), 'the app’s own var wins');
    assert.ok(!env.includes('GREETING=global'));
  });

  test('a one-off sees the run phase’s options and the global config, not the deploy’s', async () => {
    const r = await run(ada, [
      'run',
      app,
      'echo "$REGION $GREETING"; ls -d /media; df -h /dev/shm | tail -1',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [vars, dir, shm] = r.stdout.trim().split('\n');
    assert.equal(vars, 'eu own');
    assert.equal(dir, '/media');
    assert.doesNotMatch(shm ?? '', /128M/);
  });
});

describe('restart-policy no, honoured by the reconciler', () => {
  test('an instance that exited stays exited until ps:restart; unless-stopped would be replaced', async () => {
    const scheduler = schedulerNamed('docker-local', { docker, limits: config.defaultLimits });
    await ok(ada, ['ps:set', app, 'restart-policy', 'no']);
    await deployImage(quietDeployDeps(store, scheduler), {
      app,
      image: testStackImage(),
      processes: { web: serveText('no restarts') },
      by: 'ada',
      description: 'Deploy with restart-policy no',
    });
    const [web] = (await scheduler.list(app)).filter((i) => i.state === 'running');
    assert.ok(web);
    const info = await docker.getContainer(web.id).inspect();
    assert.equal(info.HostConfig.RestartPolicy?.Name, 'no');
    // The process ends (docker-init passes the TERM on to it), as a crash would end it.
    await docker.getContainer(web.id).kill({ signal: 'SIGTERM' });
    await until(
      'the web instance exited',
      async () => (await scheduler.list(app)).some((i) => i.id === web.id && i.state === 'exited'),
      20_000,
    );
    const r = await reconcile({ store, schedulerOf: async () => scheduler });
    assert.equal(r.started, 0, 'the reconciler left it as its policy did');
    const after = await scheduler.list(app);
    assert.equal(after.filter((i) => i.state === 'running').length, 0);
  });
});
