// The swarm's membership and placement on a 3-node Docker Swarm made on this
// machine (test/harness/swarm.ts): an app constrained to a labelled node
// runs only there (scheduler-swarm:set), a placement no node meets fails its
// start in seconds and leaves nothing behind; nodes:remove drains a worker,
// its tasks move, it leaves the swarm, and the command nodes:add prints,
// run on that node (inside its container, as an operator would on the
// host), brings it back. Heavy (three Docker Engines): it runs alone
// (test/run.ts's SOLO).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { schedulerFor } from '../../services/platform/scheduler/schedulers.ts';
import { userActor } from '../harness/commands.ts';
import { engineApp, quietDeployDeps, serveText } from '../harness/deploy.ts';
import { newTestRunId, testDocker, testStackImage } from '../harness/docker.ts';
import { startSwarm } from '../harness/swarm.ts';
import { until } from '../harness/wait.ts';

const { docker: shared } = await testDocker();
const swarm = await startSwarm(shared, { runId: newTestRunId() });
after(() => swarm.remove());
const { store, app, config, docker, ada, run } = await engineApp('swn', {
  BERTH_SWARM_MANAGER: swarm.manager,
  BERTH_SWARM_NETWORK: swarm.overlay,
  BERTH_DRAIN_TIMEOUT: '1s',
});
await swarm.distribute(testStackImage());
const [managerNode, worker, labelled] = swarm.nodes as [string, string, string];
const scheduler = async () => schedulerFor(store, app, { docker, swarm: config.swarm });
await store.users.create('root-swn', 'admin');
const admin = userActor('root-swn', 'admin');

/** The nodes' hostnames and states, as the manager lists them. */
async function nodeStates(): Promise<string[]> {
  return (await swarm.exec(managerNode, ['node', 'ls', '--format', '{{.Hostname}} {{.Status}}']))
    .split('\n')
    .filter(Boolean)
    .sort();
}

/** The running tasks' node addresses. */
async function taskNodes(): Promise<string[]> {
  return (await (await scheduler()).list(app))
    .filter((i) => i.state === 'running')
    .map((i) => (i.address ?? '').split(':')[0] ?? '');
}

describe('swarm placement and membership', () => {
  test('scheduler-swarm:set takes only node expressions of its grammar; the report shows them', async () => {
    for (const bad of [
      'node.labels.zone=eu',
      'container.labels.x==y',
      'node.labels.zone==eu;rm -rf /',
      'node.labels.zone==$(id)',
      'node.role==admin',
      'node.labels.zone == eu',
      'node.id==x\nnode.id==y',
    ]) {
      const r = await run(ada, ['scheduler-swarm:set', app, 'placement-constraints', bad]);
      assert.notEqual(r.code, 0, bad);
      assert.match(r.stderr, /invalid placement constraint/, bad);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const badPref = await run(ada, [
      'scheduler-swarm:set',
      app,
      'placement-preferences',
      'spread=node.id',
    ]);
    assert.notEqual(badPref.code, 0);
    const badProperty = await run(ada, ['scheduler-swarm:set', app, 'placement', 'node.id==x']);
    assert.notEqual(badProperty.code, 0);
    assert.deepEqual(
      JSON.parse((await run(ada, ['scheduler-swarm:report', app, '--format', 'json'])).stdout),
      { app, scheduler: 'docker-local', placementConstraints: [], placementPreferences: [] },
    );

    const set = await run(ada, [
      'scheduler-swarm:set',
      app,
      'placement-constraints',
      'node.labels.zone==eu,node.role==worker',
    ]);
    assert.equal(set.code, 0, set.stderr);
    const pref = await run(ada, [
      'scheduler-swarm:set',
      app,
      'placement-preferences',
      'spread=node.labels.zone',
    ]);
    assert.equal(pref.code, 0, pref.stderr);
    const report = await run(ada, ['scheduler-swarm:report', app]);
    assert.match(
      report.stdout,
      /Placement constraints: +node\.labels\.zone==eu, node\.role==worker/,
    );
    assert.match(report.stdout, /Placement preferences: +spread=node\.labels\.zone/);
  });

  test('an app constrained to a labelled node runs only there', async () => {
    const label = await run(admin, ['nodes:label', labelled, 'zone=eu']);
    assert.equal(label.code, 0, label.stderr);
    assert.equal((await run(ada, ['scheduler:set', app, 'selected', 'swarm'])).code, 0);
    const release = await deployImage(
      quietDeployDeps(store, await scheduler(), { signal: AbortSignal.timeout(240_000) }),
      {
        app,
        image: testStackImage(),
        processes: { web: serveText('hello from $(hostname)') },
        by: 'ada',
        description: 'Deploy on the labelled node',
      },
    );
    assert.equal(release.status, 'succeeded');
    const scale = await run(ada, ['ps:scale', app, 'web=3']);
    assert.equal(scale.code, 0, scale.stdout + scale.stderr);
    let nodes: string[] = [];
    await until(
      '3 running tasks',
      async () => {
        nodes = await taskNodes();
        return nodes.length === 3;
      },
      60_000,
    );
    assert.deepEqual(nodes, [
      swarm.addresses[labelled],
      swarm.addresses[labelled],
      swarm.addresses[labelled],
    ]);
    // The service carries the placement, in Swarm's own words.
    const services = (await swarm.exec(managerNode, ['service', 'ls', '-q']))
      .split('\n')
      .filter(Boolean);
    const placement = JSON.parse(
      await swarm.exec(managerNode, [
        'service',
        'inspect',
        '--format',
        '{{json .Spec.TaskTemplate.Placement}}',
        services[0] as string,
      ]),
    );
    assert.deepEqual(placement.Constraints, ['node.labels.zone==eu', 'node.role==worker']);
    assert.deepEqual(placement.Preferences, [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }]);
  });

  test('a placement no node meets fails the restart in seconds; the app keeps its tasks and no service is left', async () => {
    const before = (await swarm.exec(managerNode, ['service', 'ls', '-q']))
      .split('\n')
      .filter(Boolean);
    const set = await run(ada, [
      'scheduler-swarm:set',
      app,
      'placement-constraints',
      'node.labels.zone==nowhere',
    ]);
    assert.equal(set.code, 0, set.stderr);
    const t0 = Date.now();
    const restart = await run(ada, ['ps:restart', app]);
    const took = Date.now() - t0;
    assert.notEqual(restart.code, 0);
    assert.match(restart.stdout + restart.stderr, /no suitable node/);
    assert.ok(took < 60_000, `the restart failed after ${took} ms`);
    process.stderr.write(`# swarm-nodes: an unplaceable restart failed in ${took} ms\n`);
    await until(
      'only the serving release',
      async () =>
        (await swarm.exec(managerNode, ['service', 'ls', '-q']))
          .split('\n')
          .filter(Boolean)
          .sort()
          .join() === [...before].sort().join(),
      30_000,
    );
    assert.equal((await taskNodes()).length, 3);
    const clear = await run(ada, ['scheduler-swarm:set', app, 'placement-constraints']);
    assert.equal(clear.code, 0, clear.stderr);
    const restarted = await run(ada, ['ps:restart', app]);
    assert.equal(restarted.code, 0, restarted.stdout + restarted.stderr);
  });

  test('nodes:remove drains a worker, its tasks move, it leaves; the printed join command brings it back', async () => {
    // The app's tasks on the two workers (Swarm spreads 3 as 2 and 1), so
    // the worker has some that must move.
    await run(ada, ['scheduler-swarm:set', app, 'placement-preferences']);
    await run(ada, ['scheduler-swarm:set', app, 'placement-constraints', 'node.role==worker']);
    const restarted = await run(ada, ['ps:restart', app]);
    assert.equal(restarted.code, 0, restarted.stdout + restarted.stderr);
    await until(
      'a task on the worker',
      async () => (await taskNodes()).includes(swarm.addresses[worker] as string),
      60_000,
    );

    const t0 = Date.now();
    const removed = await run(admin, ['nodes:remove', worker]);
    assert.equal(removed.code, 0, removed.stdout + removed.stderr);
    process.stderr.write(
      `# swarm-nodes: nodes:remove of a worker with tasks ${Date.now() - t0} ms\n`,
    );
    assert.match(removed.stdout, /drained/);
    assert.match(
      removed.stdout,
      new RegExp(`${worker} removed from the swarm; on that host, run: docker swarm leave`),
    );
    assert.deepEqual(await nodeStates(), [`${managerNode} Ready`, `${labelled} Ready`].sort());
    // The restart's previous release may still be stopping: its tasks go.
    let nodes: string[] = [];
    await until(
      '3 running tasks',
      async () => {
        nodes = await taskNodes();
        return nodes.length === 3;
      },
      30_000,
    );
    assert.ok(!nodes.includes(swarm.addresses[worker] as string), nodes.join());

    // On that host: leave, then the join command nodes:add prints.
    await swarm.exec(worker, ['swarm', 'leave']);
    const add = await run(admin, ['nodes:add']);
    assert.equal(add.code, 0, add.stderr);
    const command = add.stdout.trim().split('\n').at(-1) ?? '';
    assert.match(
      command,
      new RegExp(
        `^docker swarm join --token SWMTKN-1-[0-9a-z-]+ ${swarm.addresses[managerNode]?.replaceAll('.', '\\.')}:2377$`,
      ),
    );
    const [exe, ...args] = command.split(' ');
    assert.equal(exe, 'docker');
    await swarm.exec(worker, args);
    await until(
      'the worker ready again',
      async () => (await nodeStates()).includes(`${worker} Ready`),
      30_000,
    );
    assert.equal((await nodeStates()).length, 3);
    const asManager = await run(admin, ['nodes:add', '--manager']);
    assert.match(asManager.stdout, /joins as a manager/);
    assert.notEqual(asManager.stdout.trim().split('\n').at(-1), command);
  });

  test('a node joined with nodes:add --manager is demoted, then removed, by nodes:remove', async () => {
    // The labelled node out of the swarm, then back as a manager.
    await run(ada, ['scheduler-swarm:set', app, 'placement-constraints']);
    assert.equal((await run(ada, ['ps:restart', app])).code, 0);
    const out = await run(admin, ['nodes:remove', labelled]);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    await swarm.exec(labelled, ['swarm', 'leave']);
    const add = await run(admin, ['nodes:add', '--manager']);
    const [, ...args] = (add.stdout.trim().split('\n').at(-1) ?? '').split(' ');
    await swarm.exec(labelled, args);
    await until(
      'a second manager',
      async () =>
        (
          await swarm.exec(managerNode, [
            'node',
            'ls',
            '--format',
            '{{.Hostname}} {{.ManagerStatus}}',
          ])
        ).includes(`${labelled} Reachable`),
      30_000,
    );
    const listed = JSON.parse((await run(admin, ['nodes:list', '--format', 'json'])).stdout) as {
      hostname: string;
      role: string;
    }[];
    assert.equal(listed.find((n) => n.hostname === labelled)?.role, 'manager');

    const removed = await run(admin, ['nodes:remove', labelled]);
    assert.equal(removed.code, 0, removed.stdout + removed.stderr);
    assert.match(removed.stdout, /demoted to a worker/);
    assert.deepEqual(await nodeStates(), [`${managerNode} Ready`, `${worker} Ready`].sort());
    await swarm.exec(labelled, ['swarm', 'leave', '--force']);
    // Back as a worker, for the tests after.
    const join = await run(admin, ['nodes:add']);
    await swarm.exec(labelled, (join.stdout.trim().split('\n').at(-1) ?? '').split(' ').slice(1));
    await until(
      '3 ready nodes',
      async () =>
        (await nodeStates()).every((x) => x.endsWith(' Ready')) &&
        (await nodeStates()).length === 3,
      30_000,
    );
  });

  test('nodes:remove and nodes:add are for admins; the manager Berth uses is never removed; bad input changes nothing', async () => {
    const user = await run(ada, ['nodes:remove', worker]);
    assert.notEqual(user.code, 0);
    const userAdd = await run(ada, ['nodes:add']);
    assert.notEqual(userAdd.code, 0);
    assert.doesNotMatch(userAdd.stdout, /SWMTKN/);
    const self = await run(admin, ['nodes:remove', managerNode]);
    assert.notEqual(self.code, 0);
    assert.match(self.stderr, /was not removed: it is the manager Berth reaches the swarm through/);
    for (const target of [
      'root@-oProxyCommand=x',
      'root@host;id',
      'root',
      '-l@host',
      'root@host:99999',
    ]) {
      const r = await run(admin, ['nodes:add', `--ssh=${target}`]);
      assert.notEqual(r.code, 0, target);
      assert.match(r.stderr, /invalid SSH target/, target);
    }
    // The real OpenSSH client, to a node of this test that runs no sshd: one line, nothing joined.
    const refused = await run(admin, ['nodes:add', '--ssh', `root@${swarm.addresses[worker]}`]);
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      new RegExp(
        `root@${swarm.addresses[worker]?.replaceAll('.', '\\.')} did not join the swarm: .*(refused|timed out|unreachable)`,
        'i',
      ),
    );
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    const hostile = await run(admin, ['nodes:remove', `${worker};x`]);
    assert.notEqual(hostile.code, 0);
    assert.equal((await nodeStates()).length, 3);
    assert.ok((await nodeStates()).every((s) => s.endsWith(' Ready')));
  });
});
