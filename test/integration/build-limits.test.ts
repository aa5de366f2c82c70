// What a build may use of the machine (services/platform/build/build-limits.ts),
// with the real builder and Engine: a tenant's RUN step that forks without
// end, takes memory without end, or calls another build in flight. Without
// the limits the fork bomb gets all its 300 processes, the hog its 400 MB,
// and a container on the Engine's default bridge (where builds ran) answers.
import assert from 'node:assert/strict';
import { rmdir } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type Docker from 'dockerode';
import {
  type BuildResources,
  ensureBuildNetwork,
  prepareBuildCgroup,
} from '../../services/platform/build/build-limits.ts';
import { type Builder, buildHarness } from '../harness/builds.ts';

const { docker, dockerRun, startBuilder, newApp, commit, build } =
  await buildHarness('berth-build-limits');
const suffix = dockerRun.runId.replace(/[^a-z0-9]/g, '').slice(-10);
const network = `berth-builds-test-${suffix}`;
const cgroupName = `berth-builds-test-${suffix}`;
const listeners: Docker.Container[] = [];

/** A container answering HTTP on port 8000 on `net`; its address there. */
async function listener(net: string): Promise<string> {
  const c = await docker.createContainer({
    Image: 'debian:bookworm-slim',
    Cmd: ['python3', '-m', 'http.server', '8000'],
    Labels: dockerRun.labels,
    HostConfig: { NetworkMode: net },
  });
  listeners.push(c);
  await c.start();
  const info = await c.inspect();
  const ip = info.NetworkSettings.Networks?.[net]?.IPAddress;
  assert.ok(ip, `an address on ${net}`);
  return ip;
}

// At the top level, not in a hook: a Redis client made in a hook closes after it.
await ensureBuildNetwork(docker, dockerRun.labels, network);
const cgroup = await prepareBuildCgroup(docker, 64, { name: cgroupName });
assert.ok(cgroup.parent, cgroup.note);
const resources: BuildResources = {
  memory: 256 * 1024 ** 2,
  pids: 64,
  network,
  cgroupParent: cgroup.parent,
};
const builder: Builder = await startBuilder({ resources });

after(async () => {
  for (const c of listeners) await c.remove({ force: true }).catch(() => {});
  await docker
    .getNetwork(network)
    .remove()
    .catch(() => {});
  // Each build container's cgroup went with it; then the parent can go.
  for (const dir of ['/sys/fs/cgroup/pids', '/sys/fs/cgroup']) {
    await rmdir(path.join(dir, cgroupName)).catch(() => {});
  }
});

/** Builds a Dockerfile whose one RUN step runs `program` with python3; the build's lines and end. */
async function runStep(program: string) {
  const app = await newApp(builder.prefix);
  const dockerfile = [
    'FROM debian:bookworm-slim',
    `ENV BERTH_TEST_RUN=${dockerRun.runId}`,
    'COPY step.py /step.py',
    'RUN python3 /step.py',
    '',
  ].join('\n');
  return build(builder, app, await commit(app, { Dockerfile: dockerfile, 'step.py': program }));
}

describe('builds are limited', () => {
  test('a fork bomb in a RUN step stops at BERTH_BUILD_PIDS', async () => {
    const r = await runStep(
      [
        'import os, time',
        'n = 0',
        'for i in range(300):',
        '    try:',
        '        pid = os.fork()',
        '    except OSError:',
        '        break',
        '    if pid == 0:',
        '        time.sleep(20)',
        '        os._exit(0)',
        '    n += 1',
        "print('forked', n)",
      ].join('\n'),
    );
    assert.equal(r.result.status, 'succeeded', r.result.error);
    const forked = Number(/forked (\d+)/.exec(r.lines.join('\n'))?.[1]);
    assert.ok(forked > 0 && forked < 64, `forked ${forked}`);
  });

  test('a RUN step past BERTH_BUILD_MEMORY is killed, and the build fails', async () => {
    const r = await runStep("x = bytearray(400 * 1024 * 1024); print('allocated')");
    assert.equal(r.result.status, 'failed');
    assert.match(r.result.error ?? '', /non-zero code: 137/);
    assert.doesNotMatch(r.lines.join('\n'), /^ *allocated$/m);
  });

  test('a build reaches neither another build nor a container on the default bridge', async () => {
    const other = await listener(network);
    const bridge = await listener('bridge');
    const probe = (ip: string) =>
      [
        'import urllib.request',
        'try:',
        `    urllib.request.urlopen("http://${ip}:8000/", timeout=3)`,
        `    print("reached ${ip}")`,
        'except Exception as e:',
        `    print("unreachable ${ip}")`,
      ].join('\n');
    const r = await runStep(`${probe(other)}\n${probe(bridge)}`);
    assert.equal(r.result.status, 'succeeded', r.result.error);
    const printed = r.lines.join('\n');
    assert.match(printed, new RegExp(`unreachable ${other.replaceAll('.', '\\.')}`));
    assert.match(printed, new RegExp(`unreachable ${bridge.replaceAll('.', '\\.')}`));
  });
});
