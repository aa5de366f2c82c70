// The real builder for the language tests (test/integration/lang-*.test.ts,
// languages.test.ts): a build worker on the run's Redis, the real Engine and
// git, apps made from the fixture apps under test/fixtures/apps, each
// successful build rolled out by the real deploy step (deploy.ts →
// rollout.ts) as a push's is, and the app asked over HTTP where its route
// leads (or an image run with PORT set and asked on the bridge). App images and
// cache volumes carry the run's label and go at the end; the toolchain images
// (berth-toolchain/*) carry none and are kept between runs, as the stack is.
// One file per language, so that a cold first run (each toolchain image made
// by mmdebstrap, a minute or more under load) stays within a file's time.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before } from 'node:test';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import { prepareDataDir } from '../../infra/bootstrap/data-dir.ts';
import { type BuildWorker, startBuildWorker } from '../../services/builder/worker.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { Store } from '../../services/core/store/index.ts';
import type { BuildQueue } from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { deployBuilds } from '../../services/platform/release/deploy.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import { appSchedulers } from '../../services/platform/scheduler/schedulers.ts';
import { httpGet, runApp } from './buildpacks.ts';
import {
  cleanupDocker,
  ensureTestStackImage,
  removeAppFromEngine,
  testDocker,
  testDockerRun,
  testStackImage,
} from './docker.ts';
import { type Built, fixtureRepos } from './fixture-repos.ts';
import { redisClient, sharedRedisUrl, testPrefix } from './redis.ts';
import { tempDir } from './tmp.ts';

export type { Built };

const searchPath = systemSearchPath(process.env.PATH);

export type LanguageBuilds = Awaited<ReturnType<typeof languageBuilds>>;

/** Call at the top level of a test file (it registers its before and after hooks). */
export async function languageBuilds(tag: string) {
  const run = testDockerRun();
  const prefix = testPrefix();
  const scratch = await tempDir(`berth-lang-${tag}`);
  const paths = await prepareDataDir(path.join(scratch, 'data'));
  // At the top level: node:test runs an `after` a hook registers (as redisClient
  // does) right after that hook.
  const redis = await redisClient(prefix);
  const store = new Store(redis, prefix);
  const queue: BuildQueue = createBuildQueue(redis, prefix);
  let docker: Docker;
  let connection: Redis;
  let worker: BuildWorker;

  before(async () => {
    docker = (await testDocker()).docker;
    await ensureTestStackImage(docker, await tempDir('berth-stack'));
    await store.users.create('ada', 'admin');
    connection = new Redis(await sharedRedisUrl(), { maxRetriesPerRequest: null });
    worker = await startBuildWorker({
      connection,
      redisPrefix: prefix,
      docker,
      paths: { ...paths, runtimes: path.join(scratch, 'runtimes') },
      searchPath,
      stackImage: testStackImage(),
      labels: run.labels,
      concurrency: 2,
      deploy: deployBuilds(store, appSchedulers(store, { docker }), { drainMs: 0 }),
    });
  });

  /** The apps made: their instances and networks go at the end. */
  const apps: string[] = [];
  after(async () => {
    await worker?.close();
    await queue?.close();
    connection?.disconnect();
    for (const app of apps) await removeAppFromEngine(docker, app);
    await cleanupDocker(run.runId, docker);
  });

  const repos = fixtureRepos({
    store,
    redis,
    prefix,
    queue,
    repos: paths.repos,
    scratch,
    namePrefix: `${tag}${run.runId.replace(/[^a-z0-9]/g, '').slice(-6)}`,
    // A cold build makes its toolchain image first: minutes on a loaded machine.
    buildTimeoutMs: 540_000,
  });
  const { commit, build, ok } = repos;
  const appFrom: typeof repos.appFrom = async (...args) => {
    const made = await repos.appFrom(...args);
    apps.push(made.app);
    return made;
  };

  const ms = (b: Built) => `${(b.ms / 1000).toFixed(1)} s`;
  /** The log line that says the toolchain image was made now (a cold build), if any. */
  const made = (b: Built) => b.lines.find((l) => /Made berth-toolchain\//.test(l));

  /** What the app's route leads to answers at `at`, and the release it is. */
  async function served(app: string, at: string) {
    const route = await getRoutes(redis, prefix, app);
    const backend = route?.backends[0];
    assert.ok(backend, `${app} has no route`);
    const res = await httpGet(`http://${backend}${at}`);
    return { ...res, release: route?.release };
  }

  /**
   * The fixture pushed and rolled out, a one-line change pushed and rolled
   * out again; each release answers where the app's route leads.
   */
  async function twice(
    t: { diagnostic: (s: string) => void },
    fixture: string,
    change: { file: string; from: RegExp; to: string },
    at = '/',
  ) {
    const { app, rev, work } = await appFrom(fixture);
    const first = await build(app, rev);
    ok(first);
    const res = await served(app, at);
    assert.equal(res.status, 200);
    assert.equal(res.release, 1);
    const rev2 = await commit(app, work, {
      [change.file]: (await readFile(`${work}/${change.file}`, 'utf8')).replace(
        change.from,
        change.to,
      ),
    });
    const second = await build(app, rev2);
    ok(second);
    const res2 = await served(app, at);
    assert.equal(res2.status, 200);
    assert.equal(res2.release, 2);
    t.diagnostic(
      `${fixture}: first push ${ms(first)}${made(first) ? ` (${made(first)?.trim()})` : ' (toolchain image already there)'}, second push ${ms(second)}`,
    );
    return { app, first, second, body: res.body.toString(), body2: res2.body.toString() };
  }

  async function answerAt(image: string, at: string) {
    const running = await runApp(docker, image, undefined, run.labels);
    try {
      return await httpGet(`${running.url}${at}`);
    } finally {
      await running.container.remove({ force: true });
    }
  }

  const labelsOf = async (image: string | undefined) =>
    (await docker.getImage(image ?? '').inspect()).Config.Labels ?? {};
  return {
    run,
    store,
    appFrom,
    commit,
    build,
    ok,
    twice,
    answerAt,
    labelsOf,
    docker: () => docker,
  };
}
