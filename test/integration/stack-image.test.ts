// The stack image against the real Engine. The test stack (testStackImage) is
// built only when it is missing or of another revision (a cold build takes a
// minute); the revision test rebuilds a stack under a tag of the test's own.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { silentProgress } from '../../infra/bootstrap/progress.ts';
import {
  BASE_IMAGE,
  ensureStackImage,
  STACK_LABELS,
  STACK_REVISION,
  type StackImageResult,
} from '../../infra/bootstrap/stack-image.ts';
import { type DockerConnection, LABELS } from '../../services/core/docker.ts';
import { inspectImage, splitImageRef } from '../../services/core/docker-images.ts';
import {
  cleanupDocker,
  ensureTestDockerEngine,
  ensureTestStackImage,
  newTestRunId,
  type TestDockerRun,
  testDocker,
  testDockerRun,
  testLabels,
  testStackImage,
} from '../harness/docker.ts';
import { tempDir } from '../harness/tmp.ts';

const STACK_IMAGE = testStackImage();
const MB = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

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
    first = await ensureTestStackImage(t.docker, await tempDir('berth-stack'));
    if (first.source !== 'existing') {
      process.stderr.write(`# stack image built from ${first.source} in ${first.durationMs} ms\n`);
    }
  });

  test('exists, carries its labels and configuration, and is Debian 12', async () => {
    const info = await t.docker.getImage(STACK_IMAGE).inspect();
    assert.equal(info.Id, first.imageId);
    for (const [k, v] of Object.entries(STACK_LABELS)) assert.equal(info.Config.Labels?.[k], v);
    assert.equal(info.Config.Labels?.[LABELS.stackRevision], STACK_REVISION);
    // Images built FROM the stack inherit its labels: berth.managed must not be one.
    assert.equal(info.Config.Labels?.[LABELS.managed], undefined);
    assert.deepEqual(info.Config.Cmd, ['bash']);
    assert.ok(info.Config.Env.includes('LANG=C.UTF-8'));
    assert.ok(info.Config.Env.some((e) => e.startsWith('PATH=/usr/local/sbin:')));

    const r = await runIn(t.docker, STACK_IMAGE, ['cat', '/etc/debian_version'], t.labels);
    assert.equal(r.code, 0);
    assert.match(r.out, /^12\./);
  });

  test('has what the buildpacks need: python3 with venv and pip, nginx with gzip_static, CA certificates', async () => {
    const r = await runIn(
      t.docker,
      STACK_IMAGE,
      [
        'sh',
        '-c',
        // No network: the venv's pip comes from python3-venv's bundled wheels.
        'python3 -m venv /tmp/venv && /tmp/venv/bin/pip --version && nginx -V 2>&1 && test -s /etc/ssl/certs/ca-certificates.crt && echo certs-ok',
      ],
      t.labels,
    );
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^pip \d+\.\d+.* \(python 3\.11\)/m);
    assert.match(r.out, /--with-http_gzip_static_module/);
    assert.match(r.out, /certs-ok/);
    const info = await t.docker.getImage(STACK_IMAGE).inspect();
    process.stderr.write(`# stack image ${STACK_IMAGE}: ${MB(info.Size)}\n`);
  });

  test('an image of an older revision is rebuilt with the current packages and replaced', async () => {
    // A stack image of another revision under a tag of this test's own: the
    // machine's stack and debian:bookworm-slim are not touched.
    const tag = `berth-test/stack-${t.runId.replace(/\./g, '-')}:bookworm`;
    const old = await build(
      t.docker,
      `FROM ${STACK_IMAGE}\nLABEL ${LABELS.stackRevision}=0-old\n`,
      {
        t: tag,
        labels: t.labels,
      },
    );
    const baseBefore = (await inspectImage(t.docker, BASE_IMAGE))?.Id;
    let rebuilt: StackImageResult | undefined;
    try {
      rebuilt = await ensureStackImage({
        docker: t.docker,
        image: tag,
        progress: silentProgress,
        workDir: await tempDir('berth-stack'),
        tagBase: false,
      });
      assert.equal(rebuilt.source, 'mmdebstrap');
      assert.notEqual(rebuilt.imageId, old.id);
      assert.equal(rebuilt.removedImageId, old.id);
      assert.equal(await inspectImage(t.docker, old.id), undefined);
      const info = await t.docker.getImage(tag).inspect();
      assert.equal(info.Id, rebuilt.imageId);
      assert.equal(info.Config.Labels?.[LABELS.stackRevision], STACK_REVISION);
      assert.equal((await inspectImage(t.docker, BASE_IMAGE))?.Id, baseBefore);
      const r = await runIn(t.docker, tag, ['python3', '-c', 'print("py-ok")'], t.labels);
      assert.equal(r.out, 'py-ok');
      process.stderr.write(
        `# rebuilt stack (mmdebstrap with packages): ${rebuilt.durationMs} ms, ${MB(info.Size)}\n`,
      );

      const again = await ensureStackImage({
        docker: t.docker,
        image: tag,
        progress: silentProgress,
        workDir: await tempDir('berth-stack'),
        tagBase: false,
      });
      assert.equal(again.source, 'existing');
      assert.equal(again.imageId, rebuilt.imageId);
    } finally {
      // The rebuilt stack carries no test label (nor would a real one): remove it by name.
      await t.docker
        .getImage(rebuilt?.imageId ?? tag)
        .remove({ force: true })
        .catch(() => {});
    }
  });

  test('debian:bookworm-slim resolves (to the stack image unless the machine has its own)', async () => {
    const base = await t.docker.getImage(BASE_IMAGE).inspect();
    assert.equal(base.Id, first.baseImageId);
    const r = await runIn(t.docker, BASE_IMAGE, ['cat', '/etc/debian_version'], t.labels);
    assert.match(r.out, /^12\./);
  });

  test('a second ensure finds it and rebuilds nothing, well under a second', async () => {
    const started = Date.now();
    const again = await ensureTestStackImage(
      t.docker,
      await tempDir('berth-stack'),
      silentProgress,
    );
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
