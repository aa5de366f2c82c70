// The stack image against the real Engine. It is built only when it does not
// exist yet (a cold build takes a minute or two); it is never rebuilt here.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { createProgress, silentProgress } from '../../infra/bootstrap/progress.ts';
import {
  BASE_IMAGE,
  ensureStackImage,
  STACK_LABELS,
  type StackImageResult,
} from '../../infra/bootstrap/stack-image.ts';
import { DEFAULTS } from '../../services/core/config.ts';
import { type DockerConnection, LABELS } from '../../services/core/docker.ts';
import { splitImageRef } from '../../services/core/docker-images.ts';
import {
  cleanupDocker,
  ensureTestDockerEngine,
  newTestRunId,
  type TestDockerRun,
  testDocker,
  testDockerRun,
  testLabels,
} from '../harness/docker.ts';
import { tempDir } from '../harness/tmp.ts';

const STACK_IMAGE = DEFAULTS.BERTH_STACK_IMAGE;

/** Runs a command in a container of `image` labelled for this test; its output and exit code. */
async function runIn(
  docker: Docker,
  image: string,
  cmd: string[],
  labels: Record<string, string>,
): Promise<{ out: string; code: number }> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: cmd,
    Tty: true,
    Labels: labels,
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const out = ((await container.logs({ stdout: true, stderr: true })) as Buffer).toString();
    return { out: out.trim(), code: StatusCode };
  } finally {
    await container.remove({ force: true });
  }
}

/** Builds a directory holding `dockerfile` with the classic builder; the build output and image id. */
async function build(
  docker: Docker,
  dockerfile: string,
  options: { t: string; labels: Record<string, string> },
): Promise<{ id: string; output: string }> {
  const dir = await tempDir('berth-build');
  await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
  const stream = await docker.buildImage(
    { context: dir, src: ['Dockerfile'] },
    { ...options, rm: true, forcerm: true },
  );
  let id = '';
  let output = '';
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(
      stream,
      (err: Error | null) => (err ? reject(err) : resolve()),
      (e: { stream?: string; aux?: { ID?: string }; error?: string }) => {
        if (e.aux?.ID) id = e.aux.ID;
        if (e.stream) output += e.stream;
        if (e.error) reject(new Error(`docker build: ${e.error}`));
      },
    ),
  );
  return { id, output };
}

describe('the stack image', () => {
  const run = testDockerRun();
  let t: DockerConnection & TestDockerRun;
  let first: StackImageResult;

  before(async () => {
    await ensureTestDockerEngine();
    t = { ...(await testDocker()), ...run };
    // A cold build shows its progress (it takes a while); a warm one prints nothing.
    first = await ensureStackImage({
      docker: t.docker,
      image: STACK_IMAGE,
      progress: createProgress(process.stderr),
      workDir: await tempDir('berth-stack'),
    });
    if (first.source !== 'existing') {
      process.stderr.write(`# stack image built from ${first.source} in ${first.durationMs} ms\n`);
    }
  });

  test('exists, carries its labels and configuration, and is Debian 12', async () => {
    const info = await t.docker.getImage(STACK_IMAGE).inspect();
    assert.equal(info.Id, first.imageId);
    for (const [k, v] of Object.entries(STACK_LABELS)) assert.equal(info.Config.Labels?.[k], v);
    // Images built FROM the stack inherit its labels: berth.managed must not be one.
    assert.equal(info.Config.Labels?.[LABELS.managed], undefined);
    assert.deepEqual(info.Config.Cmd, ['bash']);
    assert.ok(info.Config.Env.includes('LANG=C.UTF-8'));
    assert.ok(info.Config.Env.some((e) => e.startsWith('PATH=/usr/local/sbin:')));

    const r = await runIn(t.docker, STACK_IMAGE, ['cat', '/etc/debian_version'], t.labels);
    assert.equal(r.code, 0);
    assert.match(r.out, /^12\./);
  });

  test('debian:bookworm-slim resolves (to the stack image unless the machine has its own)', async () => {
    const base = await t.docker.getImage(BASE_IMAGE).inspect();
    assert.equal(base.Id, first.baseImageId);
    const r = await runIn(t.docker, BASE_IMAGE, ['cat', '/etc/debian_version'], t.labels);
    assert.match(r.out, /^12\./);
  });

  test('a second ensure finds it and rebuilds nothing, well under a second', async () => {
    const started = Date.now();
    const again = await ensureStackImage({
      docker: t.docker,
      image: STACK_IMAGE,
      progress: silentProgress,
      workDir: await tempDir('berth-stack'),
    });
    const took = Date.now() - started;
    assert.equal(again.source, 'existing');
    assert.equal(again.imageId, first.imageId);
    assert.ok(took < 1000, `took ${took} ms`);
    process.stderr.write(`# warm ensureStackImage: ${took} ms\n`);
  });

  test('a Dockerfile FROM debian:bookworm-slim builds offline', async () => {
    const tag = `berth-test/offline-${t.runId.replace(/\./g, '-')}:latest`;
    const { id, output } = await build(
      t.docker,
      `FROM ${BASE_IMAGE}\nRUN echo built-offline > /berth-test && cat /etc/debian_version\n`,
      { t: tag, labels: t.labels },
    );
    assert.match(output, /Successfully built/);
    const info = await t.docker.getImage(tag).inspect();
    assert.equal(info.Id, id);
    assert.equal(info.Config.Labels?.[LABELS.testRun], t.runId);
    const r = await runIn(t.docker, tag, ['cat', '/berth-test'], t.labels);
    assert.equal(r.out, 'built-offline');
  });

  test('splitImageRef keeps a registry port out of the tag', () => {
    assert.deepEqual(splitImageRef('berth/stack:bookworm'), {
      repo: 'berth/stack',
      tag: 'bookworm',
    });
    assert.deepEqual(splitImageRef('localhost:5000/stack'), {
      repo: 'localhost:5000/stack',
      tag: 'latest',
    });
  });

  test('cleanupDocker removes what a run labelled, and nothing else', async () => {
    const runId = newTestRunId();
    const labels = testLabels(runId);
    const { docker } = t;
    const tag = `berth-test/cleanup-${runId.replace(/\./g, '-')}:latest`;
    await build(docker, `FROM ${BASE_IMAGE}\nRUN true\n`, { t: tag, labels });
    const container = await docker.createContainer({ Image: tag, Cmd: ['true'], Labels: labels });
    const network = await docker.createNetwork({ Name: `berth-test-${runId}`, Labels: labels });
    const volume = await docker.createVolume({ Name: `berth-test-${runId}`, Labels: labels });

    const report = await cleanupDocker(runId, docker);
    assert.deepEqual(report, { containers: 1, networks: 1, volumes: 1, images: 1, errors: [] });
    const gone = async (p: Promise<unknown>) =>
      assert.equal(
        await p.then(() => 200).catch((e: { statusCode?: number }) => e.statusCode),
        404,
      );
    await gone(container.inspect());
    await gone(network.inspect());
    await gone(docker.getVolume(volume.name).inspect());
    await gone(docker.getImage(tag).inspect());
    // The stack image carries no test label and stays.
    assert.equal((await docker.getImage(STACK_IMAGE).inspect()).Id, first.imageId);
  });
});
