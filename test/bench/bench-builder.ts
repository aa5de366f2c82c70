// What the build scenarios share: a Redis, a Docker Engine (started for the
// run when none runs, as npm test does), a data directory, a store with one
// app, a build worker and the app's work tree; commit() + build() time one
// build as a push has it (enqueue → build → end entry). Every image carries
// the run's bench label and goes in close(). BERTH_BENCH_TRACE=1 prints each
// build's log with the ms at which every line arrived, to see where time goes.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import { prepareDataDir } from '../../infra/bootstrap/data-dir.ts';
import { ensureDockerEngine } from '../../infra/bootstrap/docker-engine.ts';
import { silentProgress } from '../../infra/bootstrap/progress.ts';
import { startRedisServer } from '../../infra/bootstrap/redis-server.ts';
import { type BuildWorkerOptions, startBuildWorker } from '../../services/builder/worker.ts';
import { loadConfig } from '../../services/core/config.ts';
import { createDockerClient, LABELS } from '../../services/core/docker.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { Store } from '../../services/core/store/index.ts';
import { enqueueBuild, followBuild } from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { ensureRepo } from '../../services/platform/git/repos.ts';
import { removeImagesByLabel } from '../harness/docker.ts';
import { freePort } from '../harness/ports.ts';

const run = promisify(execFile);

export interface BenchBuilder {
  docker: Docker;
  store: Store;
  app: string;
  /** The app's work tree (git). */
  work: string;
  /** Labels for whatever else the scenario builds (plain docker build). */
  labelArgs: string[];
  /** Writes the files, commits them and puts the commit in the app's repository. */
  commit(files: Record<string, string>): Promise<string>;
  /** Builds a commit as a push would; resolves the ms from enqueue to the end entry. */
  build(rev: string): Promise<number>;
  close(): Promise<void>;
}

export async function benchBuilder(
  worker: Partial<Pick<BuildWorkerOptions, 'paths'>> & { runtimes?: string } = {},
): Promise<BenchBuilder> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-build-'));
  const benchLabel = `berth-bench-${randomBytes(4).toString('hex')}`;
  const redisServer = await startRedisServer({
    dir: path.join(scratch, 'redis'),
    port: await freePort(),
  });
  const redis = new Redis(redisServer.url);
  const connection = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  const config = loadConfig({ DOCKER_HOST: process.env.DOCKER_HOST });
  const searchPath = systemSearchPath(process.env.PATH);
  const engine = await ensureDockerEngine({
    config,
    progress: silentProgress,
    logDir: scratch,
    searchPath,
  });
  const docker = await createDockerClient(config);
  const paths = await prepareDataDir(path.join(scratch, 'data'));
  const prefix = 'bench:';
  const store = new Store(redis, prefix);
  const builder = await startBuildWorker({
    connection,
    redisPrefix: prefix,
    docker,
    paths: { ...paths, ...(worker.runtimes ? { runtimes: worker.runtimes } : {}) },
    searchPath,
    stackImage: config.stackImage,
    labels: { [LABELS.testRun]: benchLabel },
  });
  const queue = createBuildQueue(redis, prefix);
  const app = `bench${randomBytes(3).toString('hex')}`;
  await store.users.create('bench', 'admin');
  await store.apps.create({ name: app, owner: 'bench' });
  await ensureRepo(paths, app);
  const work = path.join(scratch, 'work');
  await mkdir(work);
  const git = (...args: string[]) => run('git', args, { cwd: work });
  await git('init', '-q', '-b', 'main');
  let n = 0;
  return {
    docker,
    store,
    app,
    work,
    labelArgs: ['--label', `${LABELS.testRun}=${benchLabel}`],
    async commit(files) {
      for (const [name, content] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(work, name)), { recursive: true });
        await writeFile(path.join(work, name), content);
      }
      await git('add', '-A');
      await git('-c', 'user.email=b@b', '-c', 'user.name=b', 'commit', '-qm', `v${++n}`);
      const bare = path.join(paths.repos, `${app}.git`);
      await run('git', [`--git-dir=${bare}`, 'fetch', '-q', work, '+main:refs/heads/main']);
      return (await git('rev-parse', 'HEAD')).stdout.trim();
    },
    async build(rev) {
      const t0 = performance.now();
      const id = await enqueueBuild(queue, { app, rev, ref: 'refs/heads/main', pusher: 'bench' });
      const lines: string[] = [];
      const result = await followBuild(
        redis,
        prefix,
        id,
        (l) =>
          lines.push(
            process.env.BERTH_BENCH_TRACE ? `${Math.round(performance.now() - t0)} ${l}` : l,
          ),
        new AbortController().signal,
        { queue },
      );
      if (process.env.BERTH_BENCH_TRACE) console.log(lines.join('\n'));
      if (result.status !== 'succeeded') {
        throw new Error(`Berth build failed: ${result.error}\n${lines.join('\n')}`);
      }
      return performance.now() - t0;
    },
    async close() {
      await builder.close();
      await queue.close();
      connection.disconnect();
      redis.disconnect();
      await removeImagesByLabel(docker, LABELS.testRun, benchLabel);
      for (const v of (
        await docker.listVolumes({ filters: { label: [`${LABELS.testRun}=${benchLabel}`] } })
      ).Volumes ?? []) {
        await docker
          .getVolume(v.Name)
          .remove()
          .catch(() => {});
      }
      if (engine.startedByUs) await engine.stop();
      try {
        process.kill(redisServer.pid, 'SIGKILL');
      } catch {}
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

/** `docker build` of a directory with the classic builder, as Berth's Engine runs it; the ms it took. */
export async function plainDockerBuild(
  dir: string,
  tag: string,
  labelArgs: string[],
  extra: string[] = [],
): Promise<number> {
  const t0 = performance.now();
  await run('docker', ['build', '-q', ...labelArgs, ...extra, '-t', tag, dir], {
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
  });
  return performance.now() - t0;
}
