// The docker-local scheduler (services/platform/scheduler/docker-local.ts) and the TCP
// readiness check against the real Engine: instances from the stack image
// (python3's http.server on $PORT), on networks of this file's own (Berth's
// are `berth.<app>`), labelled with this run's test label so the run removes them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { LABELS } from '../../services/core/docker.ts';
import { waitForTcp } from '../../services/platform/release/health.ts';
import type { InstanceSpec, Scheduler } from '../../services/platform/scheduler/scheduler.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import {
  cleanupDocker,
  ensureTestStackImage,
  testDocker,
  testDockerRun,
  testStackImage,
} from '../harness/docker.ts';
import { tempDir } from '../harness/tmp.ts';

const run = testDockerRun();
const network = `berth-test-${run.runId.replace(/[^a-z0-9]/g, '')}`;
let docker: Docker;
let scheduler: Scheduler;

before(async () => {
  docker = (await testDocker()).docker;
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  // The registry's docker-local, the one Berth's own code gets.
  scheduler = schedulerNamed('docker-local', { docker, network, labels: run.labels });
});
after(() => cleanupDocker(run.runId, docker));

const app = `dl${randomBytes(3).toString('hex')}`;
const spec = (over: Partial<InstanceSpec> = {}): InstanceSpec => ({
  app,
  type: 'web',
  release: 1,
  instance: 1,
  image: testStackImage(),
  command: 'exec python3 -m http.server "$PORT"',
  env: { GREETING: 'hello', PYTHONUNBUFFERED: '1' },
  port: 5000,
  stopTimeoutSec: 5,
  ...over,
});

/** Runs python in a throwaway container on the app's network: what its other processes see. */
async function fetchFromNetwork(url: string): Promise<string> {
  const container = await docker.createContainer({
    Image: testStackImage(),
    Cmd: [
      'python3',
      '-c',
      'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).status)',
      url,
    ],
    Labels: run.labels,
    HostConfig: { NetworkMode: `${network}.${app}` },
  });
  try {
    await container.start();
    await container.wait();
    return ((await container.logs({ stdout: true, stderr: true })) as unknown as Buffer)
      .toString('utf8')
      .replace(/[\x00-\x08]/g, '');
  } finally {
    await container.remove({ force: true });
  }
}

describe('the docker-local scheduler', () => {
  test('web instances run labelled on the network, are ready the moment they accept TCP, and answer by app name', async (t) => {
    const one = await scheduler.start(spec());
    const two = await scheduler.start(spec({ instance: 2 }));
    for (const i of [one, two]) {
      assert.equal(i.state, 'running');
      assert.match(i.address ?? '', /^\d+\.\d+\.\d+\.\d+:5000$/);
      const ready = await waitForTcp({ address: i.address ?? '', timeoutMs: 20_000 });
      assert.ok(ready.ok, JSON.stringify(ready));
      t.diagnostic(
        `instance ${i.instance} ready after ${ready.ms} ms (${ready.attempts} attempts)`,
      );
    }
    const info = await docker.getContainer(one.id).inspect();
    assert.match(info.Name, new RegExp(`^/${app}\\.web\\.1\\.v1\\.[0-9a-f]{6}$`));
    assert.equal(info.Config.Labels?.[LABELS.process], 'web');
    assert.equal(info.Config.Labels?.[LABELS.release], '1');
    assert.ok(info.Config.Env?.includes('GREETING=hello'));
    assert.ok(info.Config.Env?.includes('PORT=5000'));
    assert.equal(info.HostConfig.RestartPolicy?.Name, 'unless-stopped');
    assert.deepEqual(info.HostConfig.LogConfig?.Config, { 'max-size': '10m', 'max-file': '3' });
    // Another container on the network reaches the app by its name.
    const fetched = await fetchFromNetwork(`http://${app}:5000/`);
    assert.match(fetched, /^200$/m, fetched);
    assert.ok((await scheduler.logs(one, 50)).some((l) => /Serving HTTP on/.test(l)));

    const listed = await scheduler.list(app);
    assert.deepEqual(
      listed.map((i) => [i.type, i.instance, i.state]),
      [
        ['web', 1, 'running'],
        ['web', 2, 'running'],
      ],
    );
    const started = performance.now();
    for (const i of listed) await scheduler.stop(i);
    t.diagnostic(
      `two instances stopped (SIGTERM) in ${Math.round(performance.now() - started)} ms`,
    );
    assert.deepEqual(await scheduler.list(app), []);
  });

  test('a process that exits is restarted, and shown with its exit code and restarts', async () => {
    const crash = await scheduler.start(
      spec({ type: 'worker', command: 'echo "about to fail" >&2; exit 3' }),
    );
    let seen = crash;
    for (let i = 0; i < 100; i++) {
      [seen = crash] = await scheduler.list(app);
      if (seen.restarts >= 1 && seen.exitCode === 3) break;
      await sleep(100);
    }
    assert.ok(seen.restarts >= 1, JSON.stringify(seen));
    assert.equal(seen.exitCode, 3);
    assert.equal(seen.address, undefined);
    assert.ok((await scheduler.logs(seen, 10)).includes('about to fail'));
    await scheduler.stop(seen);
    assert.deepEqual(await scheduler.list(app), []);
  });

  test('usage: CPU and memory of running instances, as docker stats counts them', async () => {
    const busy = await scheduler.start(
      spec({
        type: 'worker',
        command: 'while :; do :; done',
        limits: { memory: 64 * 1024 * 1024 },
      }),
    );
    const idle = await scheduler.start(
      spec({ type: 'worker', instance: 2, command: 'exec sleep 600' }),
    );
    try {
      const usage = await scheduler.usage([busy.id, idle.id, 'no-such-container']);
      const b = usage.get(busy.id);
      const i = usage.get(idle.id);
      assert.ok(b && i, 'both running instances are measured');
      assert.equal(usage.has('no-such-container'), false, 'one gone is left out');
      // A busy loop takes a CPU when it gets one; the suite shares two.
      assert.ok(
        b.cpuPercent > 20 && b.cpuPercent > i.cpuPercent + 10,
        `busy ${b.cpuPercent}%, idle ${i.cpuPercent}%`,
      );
      assert.ok(i.cpuPercent < 10, `idle ${i.cpuPercent}%`);
      assert.ok(b.memoryBytes > 0 && b.memoryBytes < 64 * 1024 * 1024);
      assert.equal(b.memoryLimitBytes, 64 * 1024 * 1024, 'resource:limit is the limit');
      assert.ok(i.memoryLimitBytes > 64 * 1024 * 1024, "no limit: the machine's memory");
    } finally {
      await scheduler.stop(busy);
      await scheduler.stop(idle);
    }
  });

  test('the TCP check gives up on an exited process at once, and on silence at its timeout', async () => {
    const quiet = await scheduler.start(spec({ command: 'exec sleep 600' }));
    const silent = await waitForTcp({ address: quiet.address ?? '', timeoutMs: 500 });
    assert.equal(silent.ok, false);
    assert.match(
      !silent.ok ? silent.reason : '',
      /^nothing accepted connections on port 5000 within 1 s/,
    );
    const gone = await waitForTcp({
      address: quiet.address ?? '',
      timeoutMs: 30_000,
      alive: async () => false,
    });
    assert.deepEqual(
      !gone.ok && gone.reason,
      'the process exited before accepting connections on port 5000',
    );
    assert.ok(gone.ms < 2000);
    await scheduler.stop(quiet);
  });

  test('an image that does not exist is one clear error, and leaves nothing', async () => {
    await assert.rejects(scheduler.start(spec({ image: 'berth-test/none:1' })), {
      statusCode: 404,
    });
    assert.deepEqual(await scheduler.list(app), []);
  });
});
