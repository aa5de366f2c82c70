// A real build worker (services/builder/worker.ts) for tests, against the
// real Docker Engine, real git and the run's real Redis: commits go into an
// app's bare repository, a build is enqueued as the SSH service enqueues
// one, and build() follows it as a push does. Every image carries the test
// run's berth.test-run label (passed through the worker's `labels`); the
// untagged layers failed builds leave behind (as `docker build` does) are
// removed by id from their logs, after the file's tests.
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after } from 'node:test';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import { prepareDataDir } from '../../infra/bootstrap/data-dir.ts';
import {
  type BuildWorker,
  type BuildWorkerOptions,
  startBuildWorker,
} from '../../services/builder/worker.ts';
import type { DataPaths } from '../../services/core/paths.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { Store } from '../../services/core/store/index.ts';
import {
  type BuildQueue,
  type BuildResult,
  enqueueBuild,
  followBuild,
} from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { ensureRepo } from '../../services/platform/git/repos.ts';
import { cleanupDocker, testDocker, testDockerRun } from './docker.ts';
import { testGitEnv } from './git.ts';
import { redisClient, sharedRedisUrl, testPrefix } from './redis.ts';
import { tempDir } from './tmp.ts';

export interface Builder {
  prefix: string;
  redis: Redis;
  queue: BuildQueue;
  connection: Redis;
  worker: BuildWorker;
}

export interface Built {
  id: string;
  rev: string;
  result: BuildResult;
  lines: string[];
  ms: number;
}

/**
 * A build worker (`main`) and what drives it; call at a test file's top
 * level, so its cleanup runs after the file's tests.
 */
export async function buildHarness(name: string) {
  const execFileP = promisify(execFile);
  const searchPath = systemSearchPath(process.env.PATH);
  const GIT_ENV = testGitEnv({ PATH: searchPath });
  const git = async (args: string[], cwd: string, env: Record<string, string> = {}) =>
    (await execFileP('git', args, { cwd, env: { ...GIT_ENV, ...env } })).stdout.trim();

  const dockerRun = testDockerRun();
  const scratch = await tempDir(name);
  const paths: DataPaths = await prepareDataDir(path.join(scratch, 'data'));
  const docker: Docker = (await testDocker()).docker;
  /** Every ` ---> <id>` layer the builds printed, to remove after. */
  const layers = new Set<string>();

  const builders: Builder[] = [];

  async function stopBuilder(b: Builder) {
    if (!builders.includes(b)) return;
    builders.splice(builders.indexOf(b), 1);
    await b.worker.close();
    await b.queue.close();
    b.connection.disconnect();
  }

  async function startBuilder(
    options: Partial<Omit<BuildWorkerOptions, 'connection'>> & { prefix?: string } = {},
  ): Promise<Builder> {
    const { prefix = testPrefix(), ...tuning } = options;
    const redis = await redisClient(prefix);
    const connection = new Redis(await sharedRedisUrl(), { maxRetriesPerRequest: null });
    const worker = await startBuildWorker({
      connection,
      redisPrefix: prefix,
      docker,
      paths,
      searchPath,
      labels: dockerRun.labels,
      concurrency: 2,
      cancelPollMs: 500,
      ...tuning,
    });
    const b = { prefix, redis, queue: createBuildQueue(redis, prefix), connection, worker };
    builders.push(b);
    return b;
  }

  // Called at a file's top level: node:test runs an `after` that a hook
  // registers (as redisClient does) right after that hook.
  const main = await startBuilder();

  after(async () => {
    // A copy: stopBuilder takes each out of `builders`.
    for (const b of [...builders]) await stopBuilder(b);
    // The labelled images first (their untagged parents go with them), then
    // what failed builds left, newest first; a layer still in use is skipped.
    await cleanupDocker(dockerRun.runId, docker);
    for (const id of [...layers].reverse()) {
      await docker
        .getImage(id)
        .remove()
        .catch(() => {});
    }
  });

  let apps = 0;
  /** A fresh app, in the store under `prefix` (the builder's), and its bare repository. */
  async function newApp(prefix: string = main.prefix): Promise<string> {
    const app = `bt${dockerRun.runId.replace(/[^a-z0-9]/g, '').slice(-8)}${++apps}`;
    const store = new Store(await redisClient(prefix), prefix);
    if (!(await store.users.get('ada'))) await store.users.create('ada', 'admin');
    await store.apps.create({ name: app, owner: 'ada' });
    await ensureRepo(paths, app);
    return app;
  }

  /** Commits `files` in the app's work tree and fetches it into the bare repository; the commit id. */
  async function commit(app: string, files: Record<string, string | null>): Promise<string> {
    const work = path.join(scratch, 'work', app);
    await mkdir(work, { recursive: true });
    await git(['init', '-q', '-b', 'main'], work);
    for (const [name, content] of Object.entries(files)) {
      if (content === null) await rm(path.join(work, name), { force: true });
      else {
        await mkdir(path.dirname(path.join(work, name)), { recursive: true });
        await writeFile(path.join(work, name), content);
      }
    }
    await git(['add', '-A'], work);
    await git(['commit', '-q', '--allow-empty', '-m', 'change'], work);
    // A fetch runs no hooks: the commit lands in the repository as after a push.
    const bare = path.join(paths.repos, `${app}.git`);
    await git([`--git-dir=${bare}`, 'fetch', '-q', work, '+main:refs/heads/main'], scratch);
    return git(['rev-parse', 'HEAD'], work);
  }

  /** Enqueues a build of `rev` and follows it to its end, as a push does. */
  async function build(
    b: Builder,
    app: string,
    rev: string,
    opts: {
      quarantine?: string;
      onLine?: (line: string, id: string) => void;
      /** How long the build (and its deploy) may take; default 90 s. */
      timeoutMs?: number;
    } = {},
  ): Promise<Built> {
    const started = performance.now();
    const id = await enqueueBuild(b.queue, {
      app,
      rev,
      ref: 'refs/heads/main',
      pusher: 'ada',
      ...(opts.quarantine === undefined ? {} : { quarantine: opts.quarantine }),
    });
    const lines: string[] = [];
    const result = await followBuild(
      b.redis,
      b.prefix,
      id,
      (line) => {
        lines.push(line);
        const layer = /^ {7} ---> ([0-9a-f]{12})$/.exec(line);
        if (layer?.[1]) layers.add(layer[1]);
        opts.onLine?.(line, id);
      },
      AbortSignal.timeout(opts.timeoutMs ?? 90_000),
      { queue: b.queue },
    );
    return { id, rev, result, lines, ms: performance.now() - started };
  }

  /** Runs the image and returns what it printed. */
  async function runImage(image: string): Promise<string> {
    const container = await docker.createContainer({
      Image: image,
      Tty: true,
      Labels: dockerRun.labels,
    });
    try {
      await container.start();
      await container.wait();
      return (await container.logs({ stdout: true, stderr: true })).toString('utf8');
    } finally {
      await container.remove({ force: true });
    }
  }

  /** Enqueues git:from-image of `image` and follows it to its end. */
  async function deployImage(b: Builder, app: string, image: string): Promise<Built> {
    const started = performance.now();
    const id = await enqueueBuild(b.queue, { app, image, pusher: 'ada' });
    const lines: string[] = [];
    const result = await followBuild(
      b.redis,
      b.prefix,
      id,
      (line) => lines.push(line),
      AbortSignal.timeout(60_000),
      { queue: b.queue },
    );
    return { id, rev: '', result, lines, ms: performance.now() - started };
  }

  return {
    git,
    searchPath,
    dockerRun,
    scratch,
    paths,
    docker,
    layers,
    main,
    startBuilder,
    stopBuilder,
    newApp,
    commit,
    build,
    runImage,
    deployImage,
  };
}
