// Docker for tests: the real local Engine, never a mock. Everything a test
// creates carries `berth.test-run=<id>`; cleanupDocker removes what carries
// the id. Under `npm test` (test/run.ts) the id of each test file starts with
// the run's own (BERTH_TEST_RUN), so the runner's final cleanupDocker(runId)
// also catches what a killed test file left behind.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { type DockerEngine, ensureDockerEngine } from '../../infra/bootstrap/docker-engine.ts';
import { createProgress, silentProgress } from '../../infra/bootstrap/progress.ts';
import { ensureStackImage, type StackImageResult } from '../../infra/bootstrap/stack-image.ts';
import { DEFAULTS } from '../../services/core/config.ts';
import {
  connectDocker,
  type DockerConnection,
  type DockerTarget,
  dockerStatus,
  LABELS,
  MANAGED_LABELS,
  pingDocker,
} from '../../services/core/docker.ts';

const execFileAsync = promisify(execFile);

/** The engine tests use: DOCKER_HOST when the runner sets it, else the local socket. */
export function testDockerTarget(): DockerTarget {
  const host = process.env.DOCKER_HOST;
  return { dockerHost: host === undefined || host === '' ? undefined : host };
}

/**
 * The shared engine, started when nothing answers (and then left running for
 * the other test files; `npm test` starts it beforehand and stops it at the
 * end). Its log stays in a fixed directory, as dockerd outlives the test.
 */
export function ensureTestDockerEngine(): Promise<DockerEngine> {
  return ensureDockerEngine({
    config: testDockerTarget(),
    progress: silentProgress,
    logDir: path.join(os.tmpdir(), 'berth-test-dockerd'),
  });
}

/** True when the engine answers (tests that need it skip otherwise). */
export async function dockerAvailable(timeoutMs = 2000): Promise<boolean> {
  return (await pingDocker(testDockerTarget(), timeoutMs)).ok;
}

/**
 * The stack image tests build on: BERTH_TEST_STACK_IMAGE, else the platform's
 * default. On an Engine shared with another checkout or a running Berth, name
 * a tag of your own (berth-wt/stack:bookworm): a branch whose stack revision
 * differs then builds its own stack instead of replacing theirs.
 */
export function testStackImage(): string {
  const own = process.env.BERTH_TEST_STACK_IMAGE;
  return own === undefined || own === '' ? DEFAULTS.BERTH_STACK_IMAGE : own;
}

/**
 * Builds the test stack image when it is missing or out of date (a cold build
 * shows its progress: it takes a minute). A stack under a tag of its own
 * leaves debian:bookworm-slim where it is.
 */
export function ensureTestStackImage(
  docker: Docker,
  workDir: string,
  progress = createProgress(process.stderr),
): Promise<StackImageResult> {
  const image = testStackImage();
  return ensureStackImage({
    docker,
    image,
    progress,
    workDir,
    tagBase: image === DEFAULTS.BERTH_STACK_IMAGE,
  });
}

/** A fresh label value: `<BERTH_TEST_RUN>.<random>` under the runner, `<random>` alone. */
export function newTestRunId(): string {
  const own = randomBytes(4).toString('hex');
  const run = process.env.BERTH_TEST_RUN;
  return run ? `${run}.${own}` : own;
}

/** The labels to put on every container, network, volume and image a test creates. */
export function testLabels(runId: string): Record<string, string> {
  return { ...MANAGED_LABELS, [LABELS.testRun]: runId };
}

/** A negotiated client on the engine tests use. */
export function testDocker(): Promise<DockerConnection> {
  return connectDocker(testDockerTarget());
}

export interface TestDockerRun {
  runId: string;
  /** Put these on everything the test creates. */
  labels: Record<string, string>;
}

/**
 * A run id of this test file's own; what carries it is removed when the
 * file's tests end. Call it at the top of the file or in a describe body:
 * node:test runs an `after` registered inside a before hook right after that
 * hook, before the tests.
 */
export function testDockerRun(): TestDockerRun {
  const runId = newTestRunId();
  after(async () => {
    const report = await cleanupDocker(runId);
    for (const line of report.errors) process.stderr.write(`# cleanupDocker: ${line}\n`);
  });
  return { runId, labels: testLabels(runId) };
}

export interface CleanupReport {
  containers: number;
  networks: number;
  volumes: number;
  images: number;
  /** What could not be removed, one line each. */
  errors: string[];
}

/**
 * Removes the containers, networks, volumes and images labelled
 * berth.test-run=<runId> or <runId>.<anything>. An engine that no longer
 * answers has nothing left to clean.
 */
export async function cleanupDocker(runId: string, client?: Docker): Promise<CleanupReport> {
  const report: CleanupReport = { containers: 0, networks: 0, volumes: 0, images: 0, errors: [] };
  let docker = client;
  if (!docker) {
    if (!(await pingDocker(testDockerTarget(), 2000)).ok) return report;
    docker = (await connectDocker(testDockerTarget())).docker;
  }
  const ours = (labels: Record<string, string> | null | undefined) => {
    const value = labels?.[LABELS.testRun];
    return value !== undefined && (value === runId || value.startsWith(`${runId}.`));
  };
  // Label filters match exact values only, so filter on the key and match here.
  const filters = { label: [LABELS.testRun] };
  const attempt = async (what: string, remove: () => Promise<unknown>): Promise<boolean> => {
    try {
      await remove();
      return true;
    } catch (e) {
      const status = (e as { statusCode?: number }).statusCode;
      if (status === 404) return false;
      report.errors.push(`${what}: ${(e as Error).message}`);
      return false;
    }
  };

  const containers = await docker.listContainers({ all: true, filters });
  for (const c of containers.filter((c) => ours(c.Labels))) {
    const removed = await attempt(`container ${c.Id.slice(0, 12)}`, () =>
      docker.getContainer(c.Id).remove({ force: true, v: true }),
    );
    if (removed) report.containers++;
  }
  const networks = await docker.listNetworks({ filters });
  for (const n of networks.filter((n) => ours(n.Labels))) {
    if (await attempt(`network ${n.Name}`, () => docker.getNetwork(n.Id).remove())) {
      report.networks++;
    }
  }
  const volumes = (await docker.listVolumes({ filters })).Volumes ?? [];
  for (const v of volumes.filter((v) => ours(v.Labels))) {
    if (await attempt(`volume ${v.Name}`, () => docker.getVolume(v.Name).remove({ force: true }))) {
      report.volumes++;
    }
  }
  // Newest first, so that an image goes before the image it was built on.
  const images = (await docker.listImages({ filters }))
    .filter((i) => ours(i.Labels))
    .sort((a, b) => b.Created - a.Created);
  for (const i of images) {
    if (await attempt(`image ${i.Id}`, () => docker.getImage(i.Id).remove({ force: true }))) {
      report.images++;
    }
  }
  return report;
}

/** Removes every image carrying label=value, newest first (children before parents). */
export async function removeImagesByLabel(
  docker: Docker,
  label: string,
  value: string,
): Promise<void> {
  const images = await docker.listImages({ all: true, filters: { label: [`${label}=${value}`] } });
  for (const image of images.sort((a, b) => b.Created - a.Created)) {
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => {});
  }
}

/**
 * Removes what the platform made for `app` (label berth.app): its containers
 * (with their anonymous volumes), its networks, then its images and its
 * volumes, for tests whose builds and deploys run inside `npm start` or
 * through the commands and so carry no test label.
 */
export async function removeAppFromEngine(docker: Docker, app: string): Promise<void> {
  const filters = { label: [`${LABELS.app}=${app}`] };
  for (const c of await docker.listContainers({ all: true, filters })) {
    await docker
      .getContainer(c.Id)
      .remove({ force: true, v: true })
      .catch(() => {});
  }
  for (const n of await docker.listNetworks({ filters })) {
    await docker
      .getNetwork(n.Id)
      .remove()
      .catch(() => {});
  }
  await removeImagesByLabel(docker, LABELS.app, app);
  for (const v of (await docker.listVolumes({ filters })).Volumes ?? []) {
    await docker
      .getVolume(v.Name)
      .remove()
      .catch(() => {});
  }
}

/**
 * How many connections this process holds to the Docker Engine's unix
 * socket: the Engine's ends of them, which ss lists under the socket's path,
 * whose peers are sockets of this process (/proc/self/fd). Counted from the
 * kernel, so nothing in the code under test can hide one.
 */
export async function dockerConnections(): Promise<number> {
  const mine = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/self/fd/${fd}`).catch(() => ''));
    if (m?.[1]) mine.add(m[1]);
  }
  const { stdout } = await execFileAsync('ss', ['-xH']);
  // u_str ESTAB RECV-Q SEND-Q LOCAL-PATH INODE PEER-PATH PEER-INODE
  return stdout.split('\n').filter((line) => {
    const f = line.trim().split(/\s+/);
    return /docker\.sock$/.test(f[4] ?? '') && mine.has(f[7] ?? '');
  }).length;
}

/** Whether the volume `name` is on the Engine (any other answer than 404 throws). */
export function volumeExists(docker: Docker, name: string): Promise<boolean> {
  return docker
    .getVolume(name)
    .inspect()
    .then(
      () => true,
      (e: unknown) => {
        if (dockerStatus(e) === 404) return false;
        throw e;
      },
    );
}
