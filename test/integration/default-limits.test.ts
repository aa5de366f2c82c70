// Limits by default (BERTH_DEFAULT_MEMORY, BERTH_DEFAULT_PIDS, no NET_RAW),
// with the real Engine, through `run` as a user types it: the attacks a
// tenant's one-off can make on the machine. Without the limits, the fork
// bomb starts all its processes, the hog takes its 300 MB, and the raw
// socket opens (the container runs as root with Docker's default
// capabilities).
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { engineApp, quietDeployDeps, serveText } from '../harness/deploy.ts';
import { testStackImage } from '../harness/docker.ts';

const { store, app, config, docker, ada, run } = await engineApp('lim', {
  BERTH_DEFAULT_MEMORY: '128m',
  BERTH_DEFAULT_PIDS: '64',
});

before(async () => {
  await deployImage(
    quietDeployDeps(
      store,
      schedulerNamed('docker-local', { docker, limits: config.defaultLimits }),
    ),
    {
      app,
      image: testStackImage(),
      processes: { web: serveText('limited') },
      by: 'ada',
      description: 'Deploy limited',
    },
  );
});

describe('limits by default', () => {
  test('a fork bomb in a one-off stops at BERTH_DEFAULT_PIDS', async () => {
    // Python forks (a shell would stop at the first failed fork): each child
    // sleeps, and the parent counts the children it got before fork failed.
    const program = [
      'import os, time',
      'n = 0',
      'for i in range(500):',
      '    try:',
      '        pid = os.fork()',
      '    except OSError:',
      '        break',
      '    if pid == 0:',
      '        time.sleep(30)',
      '        os._exit(0)',
      '    n += 1',
      'print(n)',
    ];
    const r = await run(ada, [
      'run',
      app,
      `printf '%s\\n' ${program.map((l) => `'${l}'`).join(' ')} | python3`,
    ]);
    const processes = Number(r.stdout.trim().split('\n')[0]);
    assert.ok(processes > 0, r.stdout + r.stderr);
    assert.ok(processes < 64, `${processes} children forked in a one-off limited to 64 processes`);
  });

  test('a memory hog in a one-off is killed at BERTH_DEFAULT_MEMORY', async () => {
    const r = await run(ada, [
      'run',
      app,
      'python3 -c "x = bytearray(300 * 1024 * 1024); print(\'took\', len(x))"',
    ]);
    assert.equal(r.code, 137, `exit ${r.code}: ${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout, /took/);
  });

  test('no raw sockets, in a one-off or an instance', async () => {
    const r = await run(ada, [
      'run',
      app,
      'python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print(\'raw socket open\')"',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /PermissionError|Operation not permitted/);
    const [web] = await docker.listContainers({
      filters: { label: [`berth.app=${app}`, 'berth.process=web'] },
    });
    const info = await docker.getContainer(web?.Id ?? '').inspect();
    assert.deepEqual(info.HostConfig.CapDrop, ['NET_RAW']);
    assert.equal(info.HostConfig.PidsLimit, 64);
    assert.equal(info.HostConfig.Memory, 128 * 1024 ** 2);
  });

  test("run passes every word after the app to the command, options too (Dokku's run)", async () => {
    const r = await run(ada, ['run', app, 'ls', '-la', '/etc/hostname']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^-rw-r--r-- .* \/etc\/hostname$/m);
    const dashed = await run(ada, ['run', app, '--', 'echo', '--help']);
    assert.equal(dashed.stdout.trim(), '--help', dashed.stderr);
    assert.match((await run(ada, ['run', '--help'])).stdout, /^Usage: berth run APP COMMAND/m);
  });

  test('a one-off has half the CPU weight of an instance', async () => {
    const r = await run(ada, [
      'run',
      app,
      'cat /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || cat /sys/fs/cgroup/cpu.weight',
    ]);
    assert.equal(r.code, 0, r.stderr);
    // cgroup v1 shows 512 shares; on v2 runc maps them to cpu.weight 20 (1024 to 39).
    assert.match(r.stdout.trim(), /^(512|20)$/);
  });

  test('resource:report shows the defaults, and an app limit takes their place', async () => {
    const report = await run(ada, ['resource:report', app]);
    assert.match(report.stdout, /^\(default\) +128 MB of memory, 64 processes$/m);
    assert.match(report.stdout, /^\(one-off runs\) +half the CPU weight of an instance/m);
    const set = await run(ada, ['resource:limit', app, '--pids', '32', 'web', '--no-restart']);
    assert.equal(set.code, 0, set.stderr);
    assert.match((await run(ada, ['resource:report', app])).stdout, /^web +32 processes$/m);
    for (const bad of ['8', 'lots', '2000000']) {
      const r = await run(ada, ['resource:limit', app, '--pids', bad]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /invalid process limit/);
    }
  });
});
