// Dockerfile build time: Berth's builder (enqueue → build → end entry) next
// to a plain `docker build` of the same tree, pair by pair in one run, cold
// (first build of the app) and warm (one source file changed, dependencies
// not). A Redis, a data directory and a worker of the scenario's own; every
// image it makes carries a bench label and is removed at the end.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { prepareDataDir } from '../../../infra/bootstrap/data-dir.ts';
import { ensureDockerEngine } from '../../../infra/bootstrap/docker-engine.ts';
import { silentProgress } from '../../../infra/bootstrap/progress.ts';
import { startRedisServer } from '../../../infra/redis-server.ts';
import { createBuildQueue, enqueueBuild, followBuild } from '../../../services/builder/queue.ts';
import { startBuildWorker } from '../../../services/builder/worker.ts';
import { loadConfig } from '../../../services/core/config.ts';
import { createDockerClient, LABELS } from '../../../services/core/docker.ts';
import { systemSearchPath } from '../../../services/core/programs.ts';
import { ensureRepo } from '../../../services/git-receiver/repos.ts';
import { removeImagesByLabel } from '../../harness/docker.ts';
import { freePort } from '../../harness/ports.ts';
import { figure, type Scenario } from '../scenario.ts';

const run = promisify(execFile);
const PAIRS = 5;

// A node-style app: dependencies first (cached), then the source.
const DOCKERFILE = [
  'FROM debian:bookworm-slim',
  'WORKDIR /app',
  'COPY package.json /app/',
  'RUN echo "installing dependencies" && sleep 1 && echo done > /app/deps',
  'COPY . /app/',
  'CMD ["cat", "/app/index.js"]',
  '',
].join('\n');

export const buildScenario: Scenario = {
  name: 'build',
  description: `Dockerfile app: Berth's builder vs plain docker build, ${PAIRS} warm pairs after one cold pair`,
  async run(log) {
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-build-'));
    const benchLabel = `berth-bench-${randomBytes(4).toString('hex')}`;
    const redisServer = await startRedisServer({
      dir: path.join(scratch, 'redis'),
      port: await freePort(),
    });
    const redis = new Redis(redisServer.url);
    const connection = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    // Like npm test: an engine that is not running is started for the run, then stopped.
    const config = loadConfig({ DOCKER_HOST: process.env.DOCKER_HOST });
    const engine = await ensureDockerEngine({
      config,
      progress: silentProgress,
      logDir: scratch,
      searchPath: systemSearchPath(process.env.PATH),
    });
    const docker = await createDockerClient(config);
    const paths = await prepareDataDir(path.join(scratch, 'data'));
    const searchPath = systemSearchPath(process.env.PATH);
    const prefix = 'bench:';
    const worker = await startBuildWorker({
      connection,
      redisPrefix: prefix,
      docker,
      paths,
      searchPath,
      labels: { [LABELS.testRun]: benchLabel },
    });
    const queue = createBuildQueue(redis, prefix);
    const app = `bench${randomBytes(3).toString('hex')}`;
    const work = path.join(scratch, 'work');
    const git = (...args: string[]) => run('git', args, { cwd: work });
    try {
      await ensureRepo(paths, app);
      await mkdir(work);
      await git('init', '-q', '-b', 'main');
      await writeFile(path.join(work, 'Dockerfile'), DOCKERFILE);
      await writeFile(path.join(work, 'package.json'), '{"name":"bench","version":"1.0.0"}\n');

      const berth = async (n: number) => {
        await writeFile(path.join(work, 'index.js'), `console.log(${n})\n`);
        await git('add', '-A');
        await git('-c', 'user.email=b@b', '-c', 'user.name=b', 'commit', '-qm', `v${n}`);
        const bare = path.join(paths.repos, `${app}.git`);
        await run('git', [`--git-dir=${bare}`, 'fetch', '-q', work, '+main:refs/heads/main']);
        const { stdout } = await git('rev-parse', 'HEAD');
        const t0 = performance.now();
        const id = await enqueueBuild(queue, {
          app,
          rev: stdout.trim(),
          ref: 'refs/heads/main',
          pusher: 'bench',
        });
        const result = await followBuild(
          redis,
          prefix,
          id,
          () => {},
          new AbortController().signal,
          { queue },
        );
        if (result.status !== 'succeeded') throw new Error(`Berth build failed: ${result.error}`);
        return performance.now() - t0;
      };
      // The same tree, built as a user would on the server.
      const plain = async () => {
        const t0 = performance.now();
        await run(
          'docker',
          [
            'build',
            '-q',
            '--label',
            `${LABELS.testRun}=${benchLabel}`,
            '-t',
            `${app}-plain:latest`,
            work,
          ],
          {
            env: { ...process.env, DOCKER_BUILDKIT: '0' },
          },
        );
        return performance.now() - t0;
      };

      const coldBerth = [await berth(0)];
      const coldPlain = [await plain()];
      const warmBerth: number[] = [];
      const warmPlain: number[] = [];
      const ratios: number[] = [];
      for (let i = 1; i <= PAIRS; i++) {
        const b = await berth(i);
        const p = await plain();
        warmBerth.push(b);
        warmPlain.push(p);
        ratios.push(b / p);
        log(`pair ${i}: Berth ${Math.round(b)} ms, plain docker build ${Math.round(p)} ms`);
      }
      return [
        figure('cold build, Berth', 'ms', coldBerth),
        figure('cold build, plain docker build (after Berth: base layers cached)', 'ms', coldPlain),
        figure('warm build, Berth', 'ms', warmBerth),
        figure('warm build, plain docker build', 'ms', warmPlain),
        figure('warm Berth / plain (per pair)', 'ratio', ratios),
      ];
    } finally {
      await worker.close();
      await queue.close();
      connection.disconnect();
      redis.disconnect();
      await removeImagesByLabel(docker, LABELS.testRun, benchLabel);
      if (engine.startedByUs) await engine.stop();
      try {
        process.kill(redisServer.pid, 'SIGKILL');
      } catch {}
      await rm(scratch, { recursive: true, force: true });
    }
  },
};
