// Apps apart on the network (issue 16, item 9), with the real Engine and the
// commands as users type them. Two tenants' apps: from inside one (a one-off
// `run`, or its worker), the other is out of reach, by address and by name,
// while the host (where the router and the startup checks run) reaches both
// and the app's own processes reach each other by name. Links exist only
// where asked: an admin's shared network both owners attached their apps to.
//
// With every app on one network (as before), the first test fails: the
// one-off reaches the other tenant's web at its address and by its name.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { loadConfig } from '../../services/core/config.ts';
import { isBerthError } from '../../services/core/errors.ts';
import { Store } from '../../services/core/store/index.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import type { InstanceSpec } from '../../services/platform/scheduler/scheduler.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { quietDeployDeps, serveText } from '../harness/deploy.ts';
import {
  ensureTestStackImage,
  removeAppFromEngine,
  testDocker,
  testDockerRun,
  testStackImage,
} from '../harness/docker.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const dockerRun = testDockerRun();
const prefix = testPrefix();
const store = new Store(await redisClient(prefix), prefix);
const suffix = randomBytes(3).toString('hex');
const shop = `shop${suffix}`; // ada's
const bank = `bank${suffix}`; // bob's
const shared = `link${suffix}`;
const admin = userActor('root-admin', 'admin');
const ada = userActor('ada', 'user');
const bob = userActor('bob', 'user');
let docker: Docker;
let run: ReturnType<typeof commandRunner>;
const PORT = 5000;

/** Python that GETs each URL in argv within 3 s and prints "reached URL TEXT" or "failed URL WHY". */
const PROBE = [
  'import sys, urllib.request',
  'for u in sys.argv[1:]:',
  '    try:',
  '        r = urllib.request.urlopen(u, timeout=3)',
  '        print("reached", u, r.read().decode().strip(), flush=True)',
  '    except Exception as e:',
  '        print("failed", u, type(e).__name__, flush=True)',
];

/** What a one-off of `app` reaches, run as its owner types it. */
async function probeFromRun(app: string, owner: typeof ada, urls: string[]): Promise<string> {
  const lines = PROBE.map((l) => `'${l}'`).join(' ');
  const r = await run(owner, ['run', app, `printf '%s\\n' ${lines} | python3 - ${urls.join(' ')}`]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return r.stdout;
}

/** What a running instance of `app` of process type `type` reaches. */
async function probeFromInstance(app: string, type: string, urls: string[]): Promise<string> {
  const scheduler = schedulerNamed('docker-local', { docker });
  const instance = (await scheduler.list(app)).find(
    (i) => i.type === type && i.state === 'running',
  );
  assert.ok(instance, `a running ${type} of ${app}`);
  const r = await scheduler.exec(instance, ['python3', '-c', PROBE.join('\n'), ...urls], 30_000);
  return r.output;
}

/** The address of the app's running web instance, as the router has it. */
async function webAddress(app: string): Promise<string> {
  const instances = await schedulerNamed('docker-local', { docker }).list(app);
  const web = instances.find((i) => i.type === 'web' && i.state === 'running');
  assert.ok(web?.address, `${app} has a running web instance`);
  return web.address;
}

const hostReaches = async (address: string) =>
  (await fetch(`http://${address}/`, { signal: AbortSignal.timeout(5000) })).text();

const networkExists = (name: string) =>
  docker
    .getNetwork(name)
    .inspect()
    .then(
      () => true,
      () => false,
    );

before(async () => {
  docker = (await testDocker()).docker;
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  run = commandRunner(
    store,
    loadConfig({
      BERTH_DATA_DIR: await tempDir('berth-networks'),
      BERTH_DOMAIN: 'berth.test',
      BERTH_DRAIN_TIMEOUT: '0',
    }),
  );
  await store.users.create('root-admin', 'admin');
  await store.users.create('ada', 'user');
  await store.users.create('bob', 'user');
  await store.apps.create({ name: shop, owner: 'ada' });
  await store.apps.create({ name: bank, owner: 'bob' });
  const deploy = (app: string, by: string, processes: Record<string, string>) =>
    deployImage(quietDeployDeps(store, schedulerNamed('docker-local', { docker })), {
      app,
      image: testStackImage(),
      processes,
      by,
      description: `Deploy ${app}`,
    });
  await Promise.all([
    deploy(shop, 'ada', { web: serveText(`shop ${suffix}`), worker: 'exec sleep 600' }),
    deploy(bank, 'bob', { web: serveText(`bank ${suffix}`) }),
  ]);
  const scaled = await run(ada, ['ps:scale', shop, 'worker=1']);
  assert.equal(scaled.code, 0, scaled.stderr);
});
after(async () => {
  for (const app of [shop, `${shop}-new`, bank]) await removeAppFromEngine(docker, app);
  await docker
    .getNetwork(`berth.net.${shared}`)
    .remove()
    .catch(() => {});
});

describe('apps apart on the network', () => {
  test("an app's one-off reaches neither another app's address nor its name; the host reaches both", async () => {
    const bankAddress = await webAddress(bank);
    const shopAddress = await webAddress(shop);
    assert.equal((await hostReaches(bankAddress)).trim(), `bank ${suffix}`);
    assert.equal((await hostReaches(shopAddress)).trim(), `shop ${suffix}`);
    const out = await probeFromRun(shop, ada, [
      `http://${bankAddress}/`,
      `http://${bank}:${PORT}/`,
      `http://${shop}:${PORT}/`,
    ]);
    // Its own web answers by name, so the probe works; the other tenant's does not.
    assert.match(out, new RegExp(`^reached http://${shop}:${PORT}/ shop ${suffix}$`, 'm'), out);
    assert.match(out, new RegExp(`^failed http://${bankAddress}/ `, 'm'), out);
    assert.match(out, new RegExp(`^failed http://${bank}:${PORT}/ `, 'm'), out);
  });

  test("the app's worker reaches its web by name, and not the other app's", async () => {
    const out = await probeFromInstance(shop, 'worker', [
      `http://${shop}:${PORT}/`,
      `http://${await webAddress(bank)}/`,
    ]);
    assert.match(out, new RegExp(`^reached http://${shop}:${PORT}/ shop ${suffix}$`, 'm'), out);
    assert.match(out, /^failed http:\/\/[0-9.]+:5000\/ /m, out);
  });

  test("each app network is a /26 of BERTH_APP_NETWORKS, labelled as the app's", async () => {
    const report = await run(ada, ['network:report', shop, '--format', 'json']);
    assert.equal(report.code, 0, report.stderr);
    const r = JSON.parse(report.stdout) as { network: string; subnet: string };
    assert.equal(r.network, `berth.${shop}`);
    assert.match(r.subnet, /^10\.210\.\d+\.\d+\/26$/);
    const info = await docker.getNetwork(`berth.${shop}`).inspect();
    assert.equal(info.Labels?.['berth.app'], shop);
    assert.equal(info.Labels?.['berth.managed'], 'true');
    // Another tenant's app is not theirs to see.
    assert.equal((await run(ada, ['network:report', bank])).code, 1);
  });

  test('links only where asked: an admin makes a network, owners attach their apps to it', async () => {
    // Only admins make or remove networks: a network joins tenants.
    const refused = await run(bob, ['network:create', shared]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /admins/);
    const unknown = await run(ada, ['network:set', shop, 'attach-post-deploy', shared]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, new RegExp(`no network named "${shared}"`));
    assert.deepEqual((await store.apps.deploySettings(shop)).networks, []);
    for (const bad of [
      ['attach-post-create', shared],
      ['attach-post-deploy', 'Bad_Name'],
    ]) {
      const r = await run(ada, ['network:set', shop, ...bad]);
      assert.equal(r.code, 2, r.stderr);
    }
    const created = await run(admin, ['network:create', shared]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal((await run(admin, ['network:create', shared])).code, 1, 'made once');
    assert.match((await run(bob, ['network:list'])).stdout, new RegExp(`^${shared}$`, 'm'));
    // An app is its owner's to attach.
    assert.equal((await run(bob, ['network:set', shop, 'attach-post-deploy', shared])).code, 1);

    // One side attached: still apart.
    const one = await run(ada, ['network:set', shop, 'attach-post-deploy', shared]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, new RegExp(`Attached ${shop} to ${shared}; restarting`));
    let out = await probeFromRun(shop, ada, [`http://${bank}:${PORT}/`]);
    assert.match(out, /^failed /m, out);

    // Both: each reaches the other by name there, and nothing else changed.
    const two = await run(bob, ['network:set', bank, 'attach-post-deploy', shared]);
    assert.equal(two.code, 0, two.stderr);
    out = await probeFromRun(shop, ada, [`http://${bank}:${PORT}/`]);
    assert.match(out, new RegExp(`^reached http://${bank}:${PORT}/ bank ${suffix}$`, 'm'), out);
    out = await probeFromInstance(bank, 'web', [`http://${shop}:${PORT}/`]);
    assert.match(out, new RegExp(`^reached http://${shop}:${PORT}/ shop ${suffix}$`, 'm'), out);
    // Not at the address the router uses, on the app's own network.
    out = await probeFromRun(shop, ada, [`http://${await webAddress(bank)}/`]);
    assert.match(out, /^failed /m, out);

    const report = JSON.parse(
      (await run(bob, ['network:report', bank, '--format', 'json'])).stdout,
    ) as { attachPostDeploy: string[] };
    assert.deepEqual(report.attachPostDeploy, [shared]);
    const info = JSON.parse(
      (await run(admin, ['network:info', shared, '--format', 'json'])).stdout,
    ) as { apps: string[]; engineName: string; subnet: string; members: string[] };
    assert.deepEqual(info.apps, [bank, shop].sort());
    assert.equal(info.engineName, `berth.net.${shared}`);
    assert.match(info.subnet, /^10\.210\.\d+\.\d+\/26$/);
    assert.equal((await run(ada, ['network:info', shared])).code, 1, 'admins only');

    // Not removed while apps are attached, nor while an instance is still on it.
    const busy = await run(admin, ['network:destroy', shared]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, new RegExp(`in use by apps ${[bank, shop].sort().join(', ')}`));
    const off = await run(ada, ['network:set', shop, 'attach-post-deploy', '--no-restart']);
    assert.equal(off.code, 0, off.stderr);
    assert.equal((await run(bob, ['network:set', bank, 'attach-post-deploy'])).code, 0);
    const running = await run(admin, ['network:destroy', shared]);
    assert.equal(running.code, 1);
    assert.match(running.stderr, /in use by running containers \(/);
    assert.ok(await store.networks.get(shared), 'the record stays');
    assert.equal((await run(ada, ['ps:restart', shop])).code, 0);
    const gone = await run(admin, ['network:destroy', shared]);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal(await networkExists(`berth.net.${shared}`), false);
    assert.doesNotMatch((await run(bob, ['network:list'])).stdout, new RegExp(shared));
  });

  test("a renamed app's instances move to the new name's network; a destroyed app's network goes", async () => {
    const renamed = `${shop}-new`;
    const r = await run(ada, ['apps:rename', shop, renamed]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await networkExists(`berth.${shop}`), false, 'the old name goes');
    assert.equal(await networkExists(`berth.${renamed}`), true);
    const out = await probeFromInstance(renamed, 'worker', [
      `http://${renamed}:${PORT}/`,
      `http://${bank}:${PORT}/`,
    ]);
    assert.match(out, new RegExp(`^reached http://${renamed}:${PORT}/ shop ${suffix}$`, 'm'), out);
    assert.match(out, new RegExp(`^failed http://${bank}:${PORT}/ `, 'm'), out);
    const destroyed = await run(ada, ['apps:destroy', renamed, '--force']);
    assert.equal(destroyed.code, 0, destroyed.stderr);
    assert.equal(await networkExists(`berth.${renamed}`), false);
  });
});

describe("app networks' addresses", () => {
  // A scheduler of this test's own: its networks' names and labels are the test's.
  const own = `berth-test-${dockerRun.runId.replace(/[^a-z0-9]/g, '')}`;
  // Two /26s, in a corner of 10.0.0.0/8 no other test uses.
  const pool = `10.214.${Math.floor(Math.random() * 256)}.0/25`;
  const scheduler = () =>
    schedulerNamed('docker-local', {
      docker,
      network: own,
      labels: dockerRun.labels,
      appNetworks: pool,
    });
  const spec = (app: string): InstanceSpec => ({
    app,
    type: 'worker',
    release: 1,
    instance: 1,
    image: testStackImage(),
    command: 'exec sleep 600',
    env: {},
    port: PORT,
    stopTimeoutSec: 1,
  });

  test('two apps started at once take different /26s of the pool; a full pool is one clear error', async () => {
    const [one, two, three] = ['a', 'b', 'c'].map((x) => `pool${x}${suffix}`);
    // Each its own scheduler, as two processes would be.
    await Promise.all([scheduler().start(spec(one ?? '')), scheduler().start(spec(two ?? ''))]);
    const subnets = await Promise.all(
      [one, two].map(async (a) => (await scheduler().appNetwork(a ?? ''))?.subnet),
    );
    const base = pool.replace(/\.0\/25$/, '');
    assert.deepEqual(subnets.sort(), [`${base}.0/26`, `${base}.64/26`]);
    await assert.rejects(scheduler().start(spec(three ?? '')), (e: unknown) => {
      assert.ok(isBerthError(e));
      assert.equal(e.code, 'BERTH_E_NETWORK_POOL_FULL');
      assert.match(e.toLine(), new RegExp(`BERTH_APP_NETWORKS \\(${pool}, 2 networks\\)`));
      return true;
    });
    assert.equal(await networkExists(`${own}.${three}`), false);
  });

  test('an instance an older Berth started on the one shared network is still found there', async () => {
    const app = `legacy${suffix}`;
    await docker.createNetwork({ Name: own, Driver: 'bridge', Labels: dockerRun.labels });
    const container = await docker.createContainer({
      name: `${app}.web.1.v1.000000`,
      Image: testStackImage(),
      Cmd: ['sleep', '600'],
      Env: [`PORT=${PORT}`],
      Labels: {
        ...dockerRun.labels,
        'berth.app': app,
        'berth.process': 'web',
        'berth.release': '1',
        'berth.instance': '1',
      },
      HostConfig: { NetworkMode: own },
    });
    await container.start();
    const ip = (await container.inspect()).NetworkSettings.Networks[own]?.IPAddress;
    const [found] = await scheduler().list(app);
    assert.equal(found?.address, `${ip}:${PORT}`);
  });
});
