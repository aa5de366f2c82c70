// The swarm scheduler on a 3-node Docker Swarm made on this machine
// (test/harness/swarm.ts): an app set to `swarm` deploys its web process as
// a Swarm service of 2 tasks, the router in the test serves it from the
// tasks' addresses on the nodes, ps:scale makes it 3, its logs are read, and
// ps:stop removes it from the swarm. Every image reaches the nodes through
// Berth's own registry (BERTH_SWARM_REGISTRY, its CA installed on the nodes
// as an operator does); the last test is a real `git push` over SSH of a
// buildpack app set to the swarm. Heavy (three Docker Engines, images
// through a registry): it runs alone (test/run.ts's SOLO).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, describe, test } from 'node:test';
import { createLogger } from '../../services/core/log.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { startReconciler } from '../../services/platform/release/reconcile-loop.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import { schedulerFor, schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { berthWithApp } from '../harness/berth-app.ts';
import { userActor } from '../harness/commands.ts';
import { engineApp, quietDeployDeps, serveText } from '../harness/deploy.ts';
import { newTestRunId, testDocker, testStackImage } from '../harness/docker.ts';
import { startLoad } from '../harness/load.ts';
import { sharedRedisUrl } from '../harness/redis.ts';
import { request, startRouter } from '../harness/router.ts';
import { removeOwnRegistry, startSwarm } from '../harness/swarm.ts';
import { until } from '../harness/wait.ts';

const { docker: shared } = await testDocker();
const started = Date.now();
// The nodes pull each release's image from Berth's registry.
const swarm = await startSwarm(shared, { runId: newTestRunId(), pull: true });
after(() => swarm.remove());
// Berth's own registry, on this machine's address on the node network.
const registry = `${swarm.gateway}:5000`;
const { prefix, store, app, config, docker, ada, run } = await engineApp('sw', {
  BERTH_SWARM_MANAGER: swarm.manager,
  BERTH_SWARM_NETWORK: swarm.overlay,
  BERTH_SWARM_REGISTRY: registry,
  // The previous release's tasks stop this long after the route switched.
  BERTH_DRAIN_TIMEOUT: '1s',
});
after(() => removeOwnRegistry(docker, registry));
// The operator's step (README, "Images on every node"): the CA's file from
// registry:report, trusted by every node and by this machine's Engine.
const caFile = await run(userActor('root', 'admin'), [
  'registry:report',
  '--global',
  '--registry-own-ca-file',
]);
assert.equal(caFile.code, 0, caFile.stderr);
await swarm.trustRegistry(registry, await readFile(caFile.stdout.trim(), 'utf8'));
process.stderr.write(
  `# swarm: node image ${swarm.figures.nodeImageMs} ms (0: cached), 3 engines ready ${swarm.figures.enginesReadyMs} ms, swarm formed ${swarm.figures.swarmFormedMs} ms, all ${Date.now() - started} ms\n`,
);
const router = await startRouter({ redisUrl: await sharedRedisUrl(), prefix });
after(() => router.stop());
const host = `${app}.berth.test`;
const scheduler = async () => schedulerFor(store, app, { docker, swarm: config.swarm });
const nodeAddresses = new Set(Object.values(swarm.addresses));

/** The bodies of `n` requests through the router. */
async function answers(n: number): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = await request(router.port, host);
    assert.equal(a.status, 200, a.body);
    bodies.push(a.body.trim());
  }
  return bodies;
}

describe('apps on Docker Swarm', () => {
  test('scheduler:set selects swarm', async () => {
    const r = await run(ada, ['scheduler:set', app, 'selected', 'swarm']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await scheduler()).name, 'swarm');
    const report = await run(ada, ['scheduler:report', app, '--format', 'json']);
    const data = JSON.parse(report.stdout);
    assert.equal(data.selected, 'swarm');
    assert.equal(data['computed-selected'], 'swarm');
  });

  test('a deploy runs a task on a node and the router serves it', async () => {
    const t0 = Date.now();
    const lines: string[] = [];
    const release = await deployImage(
      {
        ...quietDeployDeps(store, await scheduler(), { signal: AbortSignal.timeout(600_000) }),
        log: { heading: (l) => lines.push(l), detail: (l) => lines.push(l) },
      },
      {
        app,
        image: testStackImage(),
        // Each task says which container answered.
        processes: { web: serveText('hello from $(hostname)') },
        by: 'ada',
        description: 'Deploy on the swarm',
      },
    );
    assert.equal(release.status, 'succeeded');
    process.stderr.write(
      `# swarm: deploy of 1 web task (the registry started, the stack image pushed) ${Date.now() - t0} ms\n`,
    );
    // The image went through Berth's registry, the push's progress in the deploy's output.
    assert.ok(
      lines.some((l) =>
        l.startsWith(`Pushing ${testStackImage()} to ${registry}/berth/${app}:id-`),
      ),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /^Pushed to .* in [0-9.]+ s$/.test(l)),
      lines.join('\n'),
    );
    const instances = await (await scheduler()).list(app);
    assert.equal(instances.length, 1);
    assert.equal(instances[0]?.state, 'running');
    // <node address>:<port the node published>: the router reaches the task directly.
    const [address] = (instances[0]?.address ?? '').split(':');
    assert.ok(nodeAddresses.has(address ?? ''), `${instances[0]?.address} is not a node's address`);
    assert.deepEqual((await getRoutes(store.redis, prefix, app))?.backends, [
      instances[0]?.address,
    ]);
    assert.match((await answers(1))[0] ?? '', /^hello from /);
    // A service of the release, in the swarm's own words.
    const services = await swarm.exec(swarm.nodes[0] as string, [
      'service',
      'ls',
      '--format',
      '{{.Name}} {{.Replicas}}',
    ]);
    assert.match(services, new RegExp(`^${app}-web-v${release.version}-[0-9a-f]{6} 1/1$`, 'm'));
    // The task runs the registry's reference, which its node pulled with the service's credentials.
    const images = await swarm.exec(swarm.nodes[0] as string, [
      'service',
      'ls',
      '--format',
      '{{.Image}}',
    ]);
    assert.match(
      images,
      new RegExp(`^${registry.replace(/\./g, '\\.')}/berth/${app}:id-[0-9a-f]{12}`, 'm'),
    );
  });

  test('ps:scale web=2 runs 2 tasks and the router serves both', async () => {
    const t0 = Date.now();
    const r = await run(ada, ['ps:scale', app, 'web=2']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    process.stderr.write(`# swarm: ps:scale web=2 ${Date.now() - t0} ms\n`);
    const s = await scheduler();
    // The previous release's task stops after the drain.
    let instances = await s.list(app);
    await until(
      '2 running tasks',
      async () => {
        instances = await s.list(app);
        return instances.length === 2 && instances.every((i) => i.state === 'running');
      },
      60_000,
    );
    for (const i of instances) {
      const [address] = (i.address ?? '').split(':');
      assert.ok(nodeAddresses.has(address ?? ''), `${i.address} is not a node's address`);
    }
    assert.deepEqual(
      [...((await getRoutes(store.redis, prefix, app))?.backends ?? [])].sort(),
      instances.map((i) => i.address).sort(),
    );
    const bodies = new Set(await answers(10));
    assert.ok(
      [...bodies].every((b) => b.startsWith('hello from ')),
      [...bodies].join('\n'),
    );
    assert.equal(bodies.size, 2, `the router reached ${[...bodies].join(', ')}`);
  });

  test("an instance's logs come from its task", async () => {
    const s = await scheduler();
    const [first] = await s.list(app);
    assert.ok(first);
    // python's http.server logs each request it served.
    await until(
      'a request in its log',
      async () => (await s.logs(first, 20)).some((x) => /GET \/ HTTP/.test(x)),
      20_000,
    );
    const timed = await s.logLines(first, 5);
    assert.ok(timed.every((l) => l.source === 'web.1' && /^\d{4}-\d\d-\d\dT/.test(l.time)));
  });

  test('ps:scale web=3 runs a third task and routes to all three', async () => {
    const r = await run(ada, ['ps:scale', app, 'web=3']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const s = await scheduler();
    // The previous release's 2 tasks stop after the drain.
    let instances = await s.list(app);
    await until(
      '3 running tasks',
      async () => {
        instances = await s.list(app);
        return instances.length === 3 && instances.every((i) => i.state === 'running');
      },
      60_000,
    );
    const routes = await getRoutes(store.redis, prefix, app);
    assert.equal(routes?.backends.length, 3);
    assert.deepEqual([...(routes?.backends ?? [])].sort(), instances.map((i) => i.address).sort());
    assert.equal(new Set(await answers(15)).size, 3);
  });

  test('resource:limit becomes the service limits, with a restart on any exit', async () => {
    const r = await run(ada, ['resource:limit', app, '--memory', '256m', '--pids', '200', 'web']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const s = await scheduler();
    await until(
      '3 tasks of the limited release',
      async () => {
        const now = await s.list(app);
        return now.length === 3 && now.every((i) => i.state === 'running');
      },
      60_000,
    );
    const [spec] = JSON.parse(
      await swarm.exec(swarm.nodes[0] as string, [
        'service',
        'inspect',
        (await swarm.exec(swarm.nodes[0] as string, ['service', 'ls', '-q'])).trim(),
      ]),
    ) as { Spec: { TaskTemplate: { Resources: unknown; RestartPolicy: { Condition: string } } } }[];
    assert.deepEqual(spec?.Spec.TaskTemplate.Resources, {
      Limits: { MemoryBytes: 256 * 1024 ** 2, Pids: 200 },
    });
    assert.equal(spec?.Spec.TaskTemplate.RestartPolicy.Condition, 'any');
    assert.equal(new Set(await answers(15)).size, 3);
  });

  test('10 redeploys, a config change and a rollback under keep-alive load: no request fails', {
    timeout: 400_000,
  }, async () => {
    const load = startLoad({
      port: router.port,
      host,
      connections: 4,
      maxMs: 380_000,
      timeoutMs: 30_000,
    });
    const times: number[] = [];
    try {
      load.phase('redeploys');
      for (let i = 0; i < 10; i++) {
        const t0 = Date.now();
        const r = await run(ada, ['ps:restart', app]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        times.push(Date.now() - t0);
      }
      load.phase('config change');
      const t1 = Date.now();
      const c = await run(ada, ['config:set', app, 'GREETING=hi']);
      assert.equal(c.code, 0, c.stdout + c.stderr);
      const configMs = Date.now() - t1;
      load.phase('rollback');
      const t2 = Date.now();
      const b = await run(ada, ['releases:rollback', app]);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      const rollbackMs = Date.now() - t2;
      load.phase('after');
      await new Promise((r) => setTimeout(r, 1000));
      const phases = await load.stop();
      process.stderr.write(
        `# swarm: 10 redeploys of web=3 ${times.map((t) => (t / 1000).toFixed(1)).join(', ')} s; config:set ${(configMs / 1000).toFixed(1)} s; rollback ${(rollbackMs / 1000).toFixed(1)} s; requests ${phases.map((p) => `${p.phase}: ${p.requests} sent, ${p.errors + p.non2xx} failed, p99 ${Math.round(p.p99Ms)} ms`).join('; ')}\n`,
      );
      for (const p of phases) {
        assert.equal(p.errors + p.non2xx, 0, `${p.phase}: ${p.examples.join('; ')}`);
      }
      // The rollback's release has the config from before config:set.
      const current = await store.releases.current(app);
      assert.equal(current?.config.GREETING, undefined);
    } finally {
      await load.stop();
    }
    const s = await scheduler();
    await until(
      "3 tasks of the rollback's release",
      async () => {
        const now = await s.list(app);
        return now.length === 3 && now.every((i) => i.state === 'running');
      },
      60_000,
    );
  });

  test('a worker node killed under GET load: no GET fails, the app is at full scale again', {
    timeout: 120_000,
  }, async () => {
    const s = await scheduler();
    const nodeOf = (address: string | undefined) =>
      Object.entries(swarm.addresses).find(([, a]) => address?.startsWith(`${a}:`))?.[0];
    const before = await s.list(app);
    const placed = before.map((i) => nodeOf(i.address));
    assert.equal(new Set(placed).size, 3, `the 3 tasks run on ${placed.join(', ')}`);
    // What Berth's builder runs: the reconciler, told by the swarm scheduler's watch.
    const reconciler = startReconciler({
      store,
      schedulerOf: scheduler,
      watched: [s],
      log: createLogger('reconcile', { level: 'error' }),
      drainMs: 1000,
    });
    const load = startLoad({
      port: router.port,
      host,
      connections: 6,
      maxMs: 100_000,
      timeoutMs: 30_000,
    });
    try {
      await new Promise((r) => setTimeout(r, 2000));
      const lost = swarm.nodes[2] as string;
      const lostAddress = swarm.addresses[lost] as string;
      load.phase('node lost');
      const t0 = Date.now();
      await shared.getContainer(lost).kill();
      let routedAroundMs = 0;
      let fullMs = 0;
      await until(
        'the app at full scale on the nodes left, and routed there',
        async () => {
          const backends = (await getRoutes(store.redis, prefix, app))?.backends ?? [];
          const away = backends.every((b) => !b.startsWith(`${lostAddress}:`));
          if (away && routedAroundMs === 0) routedAroundMs = Date.now() - t0;
          const now = await s.list(app);
          const full =
            away &&
            backends.length === 3 &&
            now.filter((i) => i.state === 'running' && i.address).length === 3;
          if (full && fullMs === 0) fullMs = Date.now() - t0;
          return full;
        },
        90_000,
      );
      load.phase('after');
      await new Promise((r) => setTimeout(r, 2000));
      const phases = await load.stop();
      const lossPhase = phases.find((p) => p.phase === 'node lost');
      process.stderr.write(
        `# swarm: node lost: dead node out of the route after ${routedAroundMs} ms, 3 tasks running and routed after ${fullMs} ms; GETs ${phases.map((p) => `${p.phase}: ${p.requests} sent, ${p.errors + p.non2xx} failed, p99 ${Math.round(p.p99Ms)} ms, slowest ${Math.round(p.maxMs)} ms`).join('; ')}\n`,
      );
      for (const p of phases) {
        assert.equal(p.errors + p.non2xx, 0, `${p.phase}: ${p.examples.join('; ')}`);
      }
      assert.ok((lossPhase?.requests ?? 0) > 0);
      assert.equal(new Set(await answers(15)).size, 3);
      // Swarm replaced the lost task in its service, still of 3 replicas (it
      // counts the lost one as running as well, "4/3", until the node is
      // back); the reconciler added no service or replica beside it.
      const services = await swarm.exec(swarm.nodes[0] as string, [
        'service',
        'ls',
        '--format',
        '{{.Name}} {{.Replicas}}',
      ]);
      assert.match(services.trim(), new RegExp(`^${app}-web-v\\d+-[0-9a-f]{6} \\d/3$`));
    } finally {
      reconciler.stop();
      await load.stop();
    }
  });

  test('scheduler:set moves the running app to docker-local and back under keep-alive load: no request fails', {
    timeout: 240_000,
  }, async () => {
    const load = startLoad({
      port: router.port,
      host,
      connections: 4,
      maxMs: 220_000,
      timeoutMs: 30_000,
    });
    const here = schedulerNamed('docker-local', { docker });
    try {
      load.phase('to docker-local');
      const t0 = Date.now();
      const r = await run(ada, ['scheduler:set', app, 'selected', 'docker-local']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const toLocalMs = Date.now() - t0;
      assert.equal((await scheduler()).name, 'docker-local');
      const swarmSide = schedulerNamed('swarm', { docker, swarm: config.swarm });
      await until(
        "the swarm's tasks stopped after the drain",
        async () => (await swarmSide.list(app)).length === 0,
        60_000,
      );
      const local = (await here.list(app)).filter((i) => i.state === 'running');
      assert.equal(local.length, 3);
      assert.deepEqual(
        [...((await getRoutes(store.redis, prefix, app))?.backends ?? [])].sort(),
        local.map((i) => i.address).sort(),
      );
      load.phase('back to swarm');
      const t1 = Date.now();
      const back = await run(ada, ['scheduler:set', app, 'selected', 'swarm']);
      assert.equal(back.code, 0, back.stdout + back.stderr);
      const toSwarmMs = Date.now() - t1;
      await until(
        'the local containers stopped after the drain',
        async () => (await here.list(app)).length === 0,
        60_000,
      );
      load.phase('after');
      await new Promise((r) => setTimeout(r, 1000));
      const phases = await load.stop();
      process.stderr.write(
        `# swarm: scheduler:set to docker-local ${(toLocalMs / 1000).toFixed(1)} s, back to swarm ${(toSwarmMs / 1000).toFixed(1)} s; requests ${phases.map((p) => `${p.phase}: ${p.requests} sent, ${p.errors + p.non2xx} failed, p99 ${Math.round(p.p99Ms)} ms`).join('; ')}\n`,
      );
      for (const p of phases) {
        assert.equal(p.errors + p.non2xx, 0, `${p.phase}: ${p.examples.join('; ')}`);
      }
      const tasks = await swarmSide.list(app);
      assert.equal(tasks.filter((i) => i.state === 'running').length, 3);
      assert.equal(new Set(await answers(15)).size, 3);
    } finally {
      await load.stop();
    }
  });

  test('ps:stop removes its services from the swarm', async () => {
    const r = await run(ada, ['ps:stop', app]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const s = await scheduler();
    await until('no task left', async () => (await s.list(app)).length === 0, 60_000);
    const services = await swarm.exec(swarm.nodes[0] as string, ['service', 'ls', '-q']);
    assert.equal(services.trim(), '');
    assert.notEqual((await request(router.port, host)).status, 200);
    const back = await run(ada, ['scheduler:set', app, 'selected', 'docker-local']);
    assert.equal(back.code, 0, back.stderr);
  });
  test('nodes:list, report, label and drain (admins); a user is refused, a bad name changes nothing', async () => {
    await store.users.create('root-sw', 'admin');
    const admin = userActor('root-sw', 'admin');
    const listed = await run(admin, ['nodes:list', '--format', 'json']);
    assert.equal(listed.code, 0, listed.stderr);
    const nodes = JSON.parse(listed.stdout) as {
      hostname: string;
      role: string;
      leader: boolean;
      state: string;
      availability: string;
      address: string;
    }[];
    assert.deepEqual(nodes.map((n) => n.hostname).sort(), [...swarm.nodes].sort());
    assert.deepEqual(
      nodes.filter((n) => n.leader).map((n) => n.hostname),
      [swarm.nodes[0]],
    );
    // The worker killed above is down; the others are ready.
    assert.deepEqual(
      nodes.map((n) => `${n.hostname} ${n.state}`).sort(),
      swarm.nodes.map((n, i) => `${n} ${i === 2 ? 'down' : 'ready'}`).sort(),
    );
    const worker = swarm.nodes[1] as string;
    const report = await run(admin, ['nodes:report', worker]);
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stdout, new RegExp(`Address: +${swarm.addresses[worker]}`));

    const label = await run(admin, ['nodes:label', worker, 'zone=a', 'tier=web']);
    assert.equal(label.code, 0, label.stderr);
    const unlabel = await run(admin, ['nodes:label', worker, 'tier']);
    assert.equal(unlabel.code, 0, unlabel.stderr);
    const labels = JSON.parse(
      await swarm.exec(swarm.nodes[0] as string, [
        'node',
        'inspect',
        '--format',
        '{{json .Spec.Labels}}',
        worker,
      ]),
    );
    assert.deepEqual(labels, { zone: 'a' });

    const drain = await run(admin, ['nodes:drain', worker]);
    assert.equal(drain.code, 0, drain.stderr);
    const availability = () =>
      swarm.exec(swarm.nodes[0] as string, [
        'node',
        'inspect',
        '--format',
        '{{.Spec.Availability}}',
        worker,
      ]);
    assert.equal((await availability()).trim(), 'drain');
    const undo = await run(admin, ['nodes:drain', worker, '--undo']);
    assert.equal(undo.code, 0, undo.stderr);
    assert.equal((await availability()).trim(), 'active');

    const user = await run(ada, ['nodes:drain', worker]);
    assert.notEqual(user.code, 0);
    const unknown = await run(admin, ['nodes:drain', 'no-such-node']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /swarm node "no-such-node" not found/);
    const hostile = await run(admin, ['nodes:label', `${worker};x`, 'zone=b']);
    assert.notEqual(hostile.code, 0);
    const badKey = await run(admin, ['nodes:label', worker, 'zo ne=b']);
    assert.notEqual(badKey.code, 0);
    assert.equal((await availability()).trim(), 'active');
    assert.deepEqual(
      JSON.parse(
        await swarm.exec(swarm.nodes[0] as string, [
          'node',
          'inspect',
          '--format',
          '{{json .Spec.Labels}}',
          worker,
        ]),
      ),
      { zone: 'a' },
    );
  });
});

describe('a git push of a buildpack app set to the swarm', () => {
  test("is built, pushed to Berth's registry, pulled by a node and served through the router", {
    timeout: 900_000,
  }, async () => {
    // A second Berth (npm start: SSH, builder, router) on the same swarm, with
    // its own registry on another port of this machine's node-network address.
    const ownRegistry = `${swarm.gateway}:5001`;
    const b = await berthWithApp('swp', {
      BERTH_SWARM_MANAGER: swarm.manager,
      BERTH_SWARM_NETWORK: swarm.overlay,
      BERTH_SWARM_REGISTRY: ownRegistry,
      BERTH_DRAIN_TIMEOUT: '1s',
    });
    try {
      const ca = (await b.command('registry:report', '--global', '--registry-own-ca-file')).trim();
      await swarm.trustRegistry(ownRegistry, await readFile(ca, 'utf8'));
      await b.command('apps:create', b.app);
      await b.command('scheduler:set', b.app, 'selected', 'swarm');
      const t0 = Date.now();
      const pushed = await b.pushWithOutput();
      const pushMs = Date.now() - t0;
      assert.equal(pushed.code, 0, pushed.out);
      // The push said it pushed the image, with its progress.
      assert.match(
        pushed.out,
        new RegExp(
          `Pushing berth/${b.app}:\\S+ to ${ownRegistry.replace(/\./g, '\\.')}/berth/${b.app}:`,
        ),
      );
      assert.match(pushed.out, /Pushed to \S+ in [0-9.]+ s/);
      await b.untilServed('node-plain', 120_000);
      process.stderr.write(
        `# swarm: git push of a buildpack app to serving on the swarm ${pushMs} ms\n`,
      );
      // The task runs the registry's reference on a node, which pulled it from there.
      const service = (
        await swarm.exec(swarm.nodes[0] as string, [
          'service',
          'ls',
          '--filter',
          `label=berth.app=${b.app}`,
          '--format',
          '{{.Name}} {{.Image}}',
        ])
      ).trim();
      assert.match(
        service,
        new RegExp(
          `^${b.app}-web-v\\d+-[0-9a-f]{6} ${ownRegistry.replace(/\./g, '\\.')}/berth/${b.app}:`,
        ),
      );
      const ref = service.split(' ')[1] as string;
      const on = (
        await swarm.exec(swarm.nodes[0] as string, [
          'service',
          'ps',
          '--filter',
          'desired-state=running',
          '--format',
          '{{.Node}}',
          service.split(' ')[0] as string,
        ])
      ).trim();
      assert.ok(swarm.nodes.includes(on), on);
      const images = await swarm.exec(on, ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}']);
      assert.ok(images.split('\n').includes(ref.replace(/@sha256:.*$/, '')), images);
      // The registry refuses a pull without the credentials.
      const anonymous = await swarm.exec(swarm.nodes[1] as string, ['pull', ref]).then(
        () => 'pulled',
        (e: Error & { stderr?: string }) => String(e.stderr),
      );
      assert.match(anonymous, /no basic auth credentials|unauthorized|authentication required/i);
    } finally {
      await b.command('ps:stop', b.app).catch(() => {});
      await b.close();
      await removeOwnRegistry(docker, ownRegistry);
    }
  });
});
