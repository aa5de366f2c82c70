// The builder (services/builder/worker.ts) against the real Docker Engine, real
// git and the run's real Redis, driven as a push drives it (test/harness/builds.ts).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../../services/core/actor.ts';
import { LABELS } from '../../services/core/docker.ts';
import { tagImage } from '../../services/core/docker-images.ts';
import { Store } from '../../services/core/store/index.ts';
import { APP_HOOKS } from '../../services/platform/app-hooks.ts';
import { destroyApp } from '../../services/platform/apps/apps.ts';
import { buildLogFile } from '../../services/platform/build/build-log.ts';
import { enqueueBuild, followBuild, requestCancel } from '../../services/platform/build/queue.ts';
import { createBuildQueue } from '../../services/platform/build/queue-open.ts';
import { leftoversKey } from '../../services/platform/build/retention.ts';
import { type Builder, buildHarness } from '../harness/builds.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { until } from '../harness/wait.ts';

const {
  git,
  dockerRun,
  scratch,
  paths,
  docker,
  main,
  startBuilder,
  stopBuilder,
  newApp,
  commit,
  build,
  runImage,
  deployImage,
} = await buildHarness('berth-builder');

const appFiles = (hello: string) => ({
  Dockerfile: [
    'FROM debian:bookworm-slim',
    `ENV BERTH_TEST_RUN=${dockerRun.runId}`,
    'COPY unchanged.txt /unchanged.txt',
    'COPY hello.txt /hello.txt',
    '# The commit, as late as possible: every RUN after it misses the cache.',
    'ARG GIT_REV',
    'RUN echo "rev=$GIT_REV" > /rev',
    'CMD ["sh", "-c", "cat /hello.txt /rev"]',
    '',
  ].join('\n'),
  'unchanged.txt': 'the same in every build\n',
  'hello.txt': `${hello}\n`,
});

/** A Dockerfile with a RUN step that takes 30 s (never cached: it never finishes). */
const slowFiles = () => ({
  Dockerfile: `FROM debian:bookworm-slim\nENV BERTH_TEST_RUN=${dockerRun.runId}\nRUN sleep 30\n`,
});

/** The id of the container of the step running now, from Docker's lines. */
const runningIn = (lines: string[]) =>
  lines
    .map((l) => / ---> Running in ([0-9a-f]{12})$/.exec(l)?.[1])
    .filter((x) => x !== undefined)
    .at(-1);

/** Whether the containers are gone, waiting up to `ms` for the Engine to remove them. */
async function containersGone(ids: (string | undefined)[], ms = 0): Promise<boolean> {
  if (ids.length === 0 || ids.some((id) => id === undefined)) return false;
  const deadline = Date.now() + ms;
  for (;;) {
    const all = await docker.listContainers({ all: true });
    if (!all.some((c) => ids.some((id) => id !== undefined && c.Id.startsWith(id)))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(200);
  }
}
const containerGone = (id: string | undefined) => containersGone([id]);

async function waitFor(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`);
    await sleep(50);
  }
}

const WORKER_PROCESS = fileURLToPath(
  new URL('../fixtures/build-worker-process.ts', import.meta.url),
);

/** A builder worker in a child process (to kill -9), once it listens on the queue. */
async function workerProcess(prefix: string, timing: object): Promise<ChildProcess> {
  const args = {
    redisUrl: await sharedRedisUrl(),
    redisPrefix: prefix,
    dataDir: paths.root,
    labels: dockerRun.labels,
    ...timing,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_PROCESS, JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  after(() => {
    child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`the worker process exited with ${code}`)));
  });
  return child;
}

describe('the builder', () => {
  test('builds a Dockerfile app into a labelled image that runs, with GIT_REV, and reuses the cache', async (t) => {
    const app = await newApp();
    const rev1 = await commit(app, appFiles('hello one'));
    const first = await build(main, app, rev1);
    assert.equal(
      first.result.status,
      'succeeded',
      `${first.result.error}\n${first.lines.join('\n')}`,
    );
    const image = `berth/${app}:${first.id}`;
    assert.equal(first.result.image, image);
    assert.equal(first.lines[0], `-----> Building ${app} from ${rev1.slice(0, 7)}`);
    assert.ok(
      first.lines.includes('-----> Dockerfile build (Dockerfile at the root of the repository)'),
    );
    assert.ok(
      first.lines.some((l) => /^ {7}Step 1\/\d+ : FROM debian:bookworm-slim$/.test(l)),
      first.lines.join('\n'),
    );
    assert.ok(first.lines.some((l) => /^ {7}Step 7\/\d+ : CMD /.test(l)));
    assert.match(first.lines.at(-1) ?? '', new RegExp(`^-----> Built ${image} \\(\\d+\\.\\d s`));

    const inspect = await docker.getImage(image).inspect();
    const labels = inspect.Config.Labels ?? {};
    assert.equal(labels[LABELS.managed], 'true');
    assert.equal(labels[LABELS.app], app);
    // Only labels that are the same on every build (each costs a LABEL step);
    // berth.stack and its revision come with the base image.
    const ours = Object.keys(labels).filter(
      (k) => k.startsWith('berth.') && k !== LABELS.stack && k !== LABELS.stackRevision,
    );
    assert.deepEqual(ours.sort(), [LABELS.app, LABELS.managed, LABELS.testRun]);
    assert.equal(labels[LABELS.testRun], dockerRun.runId);
    assert.equal((await docker.getImage(`berth/${app}:latest`).inspect()).Id, inspect.Id);
    assert.equal((await runImage(image)).replace(/\r/g, ''), `hello one\nrev=${rev1}\n`);

    // The durable copy: every line the stream had, then how it ended.
    const file = await readFile(buildLogFile(paths.buildLogs, app, first.id), 'utf8');
    assert.equal(file, `${[...first.lines, '-----> Build succeeded'].join('\n')}\n`);

    // One file changed: the steps before it come from the cache.
    const rev2 = await commit(app, { 'hello.txt': 'hello two\n' });
    const second = await build(main, app, rev2);
    assert.equal(second.result.status, 'succeeded', second.lines.join('\n'));
    const step = (n: number) => second.lines.findIndex((l) => l.startsWith(`       Step ${n}/`));
    const cached = (n: number) =>
      second.lines.slice(step(n), step(n + 1)).includes('        ---> Using cache');
    assert.deepEqual([2, 3, 4, 5].map(cached), [true, true, false, false], second.lines.join('\n'));
    assert.match(second.lines.at(-1) ?? '', /, 2 of \d+ steps cached\)$/);
    const out2 = await runImage(`berth/${app}:${second.id}`);
    assert.equal(out2.replace(/\r/g, ''), `hello two\nrev=${rev2}\n`);
    t.diagnostic(`cold build ${Math.round(first.ms)} ms, warm build ${Math.round(second.ms)} ms`);
  });

  test('leaves what .dockerignore lists out of the context, and changing it keeps the cache', async () => {
    const app = await newApp();
    const rev1 = await commit(app, {
      '.dockerignore': '# not sent\nsecret.txt\nlogs/\n*.tmp\n!keep.tmp\n',
      Dockerfile: [
        'FROM debian:bookworm-slim',
        `ENV BERTH_TEST_RUN=${dockerRun.runId}`,
        'COPY . /app',
        'RUN ls -A /app > /listing',
        'CMD ["cat", "/listing"]',
        '',
      ].join('\n'),
      'index.txt': 'index\n',
      'secret.txt': 'secret one\n',
      'x.tmp': 'scratch\n',
      'keep.tmp': 'kept\n',
    });
    // git tracks no empty directory: logs/ needs a file.
    const work = path.join(scratch, 'work', app);
    await mkdir(path.join(work, 'logs'));
    const rev2 = await commit(app, { 'logs/app.log': 'a log line\n' });
    assert.notEqual(rev1, rev2);
    const first = await build(main, app, rev2);
    assert.equal(
      first.result.status,
      'succeeded',
      `${first.result.error}\n${first.lines.join('\n')}`,
    );
    assert.ok(
      first.lines.includes('       .dockerignore: 4 paths left out of the context'),
      first.lines.join('\n'),
    );
    const listing = (await runImage(`berth/${app}:${first.id}`)).replace(/\r/g, '').split('\n');
    for (const name of ['Dockerfile', 'keep.tmp', 'index.txt']) {
      assert.ok(listing.includes(name), `${name} is in ${listing.join(' ')}`);
    }
    for (const name of ['secret.txt', 'logs', 'x.tmp']) {
      assert.ok(!listing.includes(name), `${name} is not in ${listing.join(' ')}`);
    }

    // Only ignored files changed: the COPY step (3) comes from the cache.
    const rev3 = await commit(app, { 'secret.txt': 'secret two\n', 'logs/app.log': 'another\n' });
    const second = await build(main, app, rev3);
    assert.equal(second.result.status, 'succeeded', second.lines.join('\n'));
    const step = (n: number) => second.lines.findIndex((l) => l.startsWith(`       Step ${n}/`));
    const cached = (n: number) =>
      second.lines.slice(step(n), step(n + 1)).includes('        ---> Using cache');
    assert.deepEqual([2, 3, 4].map(cached), [true, true, true], second.lines.join('\n'));
  });

  test('reads the commit from the push quarantine; a quarantine that is gone fails clearly', async () => {
    const app = await newApp();
    const work = path.join(scratch, 'work', app);
    await mkdir(work, { recursive: true });
    await git(['init', '-q', '-b', 'main'], work);
    for (const [name, content] of Object.entries(appFiles('from quarantine'))) {
      await writeFile(path.join(work, name), content);
    }
    await git(['add', '-A'], work);
    await git(['commit', '-q', '-m', 'q'], work);
    const rev = await git(['rev-parse', 'HEAD'], work);
    // The objects go only into a quarantine directory, as during a push.
    const bare = path.join(paths.repos, `${app}.git`);
    const quarantine = path.join(bare, 'objects', 'incoming-test');
    await mkdir(path.join(quarantine, 'pack'), { recursive: true });
    await git([`--git-dir=${bare}`, 'fetch', '-q', work, 'main:refs/quarantined/main'], scratch, {
      GIT_OBJECT_DIRECTORY: quarantine,
      GIT_ALTERNATE_OBJECT_DIRECTORIES: path.join(bare, 'objects'),
    });
    await assert.rejects(git([`--git-dir=${bare}`, 'cat-file', '-e', rev], scratch));
    const built = await build(main, app, rev, { quarantine });
    assert.equal(built.result.status, 'succeeded', built.lines.join('\n'));

    await rm(quarantine, { recursive: true });
    const gone = await build(main, app, rev, { quarantine });
    assert.deepEqual(gone.result, {
      status: 'failed',
      error: `cannot read commit ${rev.slice(0, 7)} of app "${app}": the pushed objects are gone (the push that asked for this build has ended) — push again`,
    });
  });

  test('a failing step ends the build with the Dockerfile line, the step and the reason', async () => {
    const app = await newApp();
    const rev = await commit(app, {
      Dockerfile: `FROM debian:bookworm-slim\nENV BERTH_TEST_RUN=${dockerRun.runId}\n\nRUN echo about to fail && \\\n    exit 3\n`,
    });
    const built = await build(main, app, rev);
    assert.equal(built.result.status, 'failed');
    assert.equal(
      built.result.error,
      `Dockerfile:4: RUN echo about to fail &&     exit 3: The command '/bin/sh -c echo about to fail &&     exit 3' returned a non-zero code: 3`,
    );
    assert.ok(built.lines.includes('       about to fail'), built.lines.join('\n'));
    const file = await readFile(buildLogFile(paths.buildLogs, app, built.id), 'utf8');
    assert.equal(file.trimEnd().split('\n').at(-1), ` !     ${built.result.error}`);
  });

  test('a Dockerfile the Engine cannot parse names its line', async () => {
    const app = await newApp();
    const rev = await commit(app, { Dockerfile: 'FROM debian:bookworm-slim\nFOO bar\n' });
    const built = await build(main, app, rev);
    assert.deepEqual(built.result, {
      status: 'failed',
      error: 'Dockerfile:2: unknown instruction: FOO',
    });
  });

  test('a base image that is not here and cannot be pulled is named, with what to do', async () => {
    const app = await newApp();
    const rev = await commit(app, { Dockerfile: 'FROM nosuch-image:1\nRUN true\n' });
    const built = await build(main, app, rev);
    assert.equal(built.result.status, 'failed');
    assert.match(
      built.result.error ?? '',
      /^base image nosuch-image:1 is not on this machine and cannot be pulled: .+ — use one that is \(FROM debian:bookworm-slim always is\), or build the base image on this machine first$/,
    );
    assert.ok(
      built.lines.includes(
        '       Base image nosuch-image:1 is not on this machine; the Docker Engine will try to pull it',
      ),
    );
  });

  test('a commit with no Dockerfile that no buildpack recognises fails with one clear line', async () => {
    const app = await newApp();
    const rev = await commit(app, { 'index.js': 'console.log(1)\n' });
    const built = await build(main, app, rev);
    assert.deepEqual(built.result, {
      status: 'failed',
      error:
        'no Dockerfile, and none of the buildpacks (ruby, node, python, php, go, static, procfile) recognises this app — add a Dockerfile (Berth builds Node.js, Python, Ruby, PHP and Go apps, static sites and Procfile apps without one)',
    });
  });

  test('a cancelled build stops within seconds and leaves no build container', async (t) => {
    const app = await newApp();
    const rev = await commit(app, slowFiles());
    let cancelledAt = 0;
    const built = await build(main, app, rev, {
      onLine: (line, id) => {
        if (cancelledAt === 0 && / ---> Running in /.test(line)) {
          cancelledAt = performance.now();
          void requestCancel(main.redis, main.prefix, id, 'the push was interrupted');
        }
      },
    });
    const stoppedMs = performance.now() - cancelledAt;
    assert.deepEqual(built.result, {
      status: 'failed',
      error: 'cancelled: the push was interrupted',
    });
    assert.ok(
      cancelledAt > 0 && stoppedMs < 6000,
      `stopped ${Math.round(stoppedMs)} ms after the cancel`,
    );
    assert.ok(await containerGone(runningIn(built.lines)), 'the RUN step container is gone');
    t.diagnostic(`cancel to end: ${Math.round(stoppedMs)} ms`);
  });

  test('a build running past its timeout is stopped and says so', async (t) => {
    const short = await startBuilder({ timeoutMs: 4000 });
    t.after(() => stopBuilder(short));
    const app = await newApp(short.prefix);
    const rev = await commit(app, slowFiles());
    const built = await build(short, app, rev);
    assert.equal(built.result.status, 'failed');
    assert.match(built.result.error ?? '', /^timed out after 4 s — /);
    assert.ok(built.ms < 12_000, `ended after ${Math.round(built.ms)} ms`);
    assert.ok(await containerGone(runningIn(built.lines)), 'the RUN step container is gone');
    t.diagnostic(`timeout 4 s: ended after ${Math.round(built.ms)} ms`);
  });

  test('a stopping builder lets a build run for its grace period, then cancels it', async (t) => {
    const b = await startBuilder({ stopGraceMs: 1000 });
    t.after(() => stopBuilder(b));
    const app = await newApp(b.prefix);
    const rev = await commit(app, slowFiles());
    let closing: Promise<number> | undefined;
    const built = await build(b, app, rev, {
      onLine: (line) => {
        if (closing === undefined && / ---> Running in /.test(line)) {
          const t0 = performance.now();
          closing = b.worker.close().then(() => performance.now() - t0);
        }
      },
    });
    assert.deepEqual(built.result, {
      status: 'failed',
      error: 'cancelled: the builder was stopped',
    });
    const closeMs = (await closing) ?? Number.NaN;
    assert.ok(closeMs < 5000, `close took ${Math.round(closeMs)} ms`);
    assert.ok(await containerGone(runningIn(built.lines)), 'the RUN step container is gone');
    t.diagnostic(`close() with a build running: ${Math.round(closeMs)} ms`);
  });

  test('a worker killed mid-build: the build runs again once, and a second death ends it failed', async (t) => {
    const prefix = testPrefix();
    const redis = await redisClient(prefix);
    const queue = createBuildQueue(redis, prefix);
    t.after(() => queue.close());
    const timing = { lockDurationMs: 2000, stalledIntervalMs: 1000 };
    const app = await newApp(prefix);
    const rev = await commit(app, {
      Dockerfile: `FROM debian:bookworm-slim\nENV BERTH_TEST_RUN=${dockerRun.runId}\nRUN sleep 5\n`,
    });
    const first = await workerProcess(prefix, timing);
    const started = performance.now();
    const id = await enqueueBuild(queue, { app, rev, ref: 'refs/heads/main', pusher: 'ada' });
    const lines: string[] = [];
    const following = followBuild(
      redis,
      prefix,
      id,
      (line) => lines.push(line),
      AbortSignal.timeout(60_000),
      { queue },
    );
    const containers = () => lines.filter((l) => / ---> Running in /.test(l)).length;
    await waitFor('the first attempt to run its step', () => containers() === 1);
    first.kill('SIGKILL');
    const killedAt = performance.now();
    // Another builder finds the dead worker's job and builds it again.
    const second = await workerProcess(prefix, timing);
    await waitFor('the second attempt to run its step', () => containers() === 2);
    const retriedMs = performance.now() - killedAt;
    assert.ok(
      lines.includes(
        `-----> The builder running this build stopped; building it again from the start (attempt 2)`,
      ),
      lines.join('\n'),
    );
    second.kill('SIGKILL');
    const killedAgainAt = performance.now();
    // Died twice: the next builder ends it failed instead of a third attempt.
    const third = await startBuilder({ prefix, ...timing });
    t.after(() => stopBuilder(third));
    const result = await following;
    const endedMs = performance.now() - killedAgainAt;
    assert.deepEqual(result, {
      status: 'failed',
      error:
        'the builder running this build stopped and it was not finished (job stalled more than allowable limit) — push again; the builder log says why it stopped',
    });
    assert.equal(lines.filter((l) => l.startsWith('-----> Building ')).length, 2);
    const ids = lines.map((l) => / ---> Running in ([0-9a-f]{12})$/.exec(l)?.[1]);
    assert.ok(
      await containersGone(
        ids.filter((x) => x !== undefined),
        10_000,
      ),
      'the killed builds left no container',
    );
    t.diagnostic(
      `kill → retried in ${Math.round(retriedMs)} ms; second kill → failed in ${Math.round(endedMs)} ms; whole ${Math.round(performance.now() - started)} ms`,
    );
  });
});

const storeOf = (b: Builder) => new Store(b.redis, b.prefix);
const tagsOf = async (app: string) =>
  (await docker.listImages({ filters: { reference: [`berth/${app}`] } }))
    .flatMap((i) => i.RepoTags ?? [])
    .sort();

describe('build settings, prebuilt images and retention', () => {
  test('a Dockerfile at the path builder-dockerfile:set gave, with build args from the config', async () => {
    const app = await newApp();
    const store = storeOf(main);
    await store.apps.setBuildSetting(app, 'dockerfilePath', 'docker/web.Dockerfile');
    await store.apps.setBuildSetting(app, 'buildArgs', ['GREETING', 'MISSING']);
    await store.config.set(app, { GREETING: 'hello from the config' });
    const rev = await commit(app, {
      // The root Dockerfile would fail: the build must not use it.
      Dockerfile: 'FROM debian:bookworm-slim\nRUN exit 9\n',
      'docker/web.Dockerfile': [
        'FROM debian:bookworm-slim',
        `ENV BERTH_TEST_RUN=${dockerRun.runId}`,
        'ARG GREETING',
        'RUN echo "$GREETING" > /greeting',
        'CMD ["cat", "/greeting"]',
        '',
      ].join('\n'),
    });
    const built = await build(main, app, rev);
    assert.equal(built.result.status, 'succeeded', built.lines.join('\n'));
    assert.ok(
      built.lines.includes(
        '-----> Dockerfile build (docker/web.Dockerfile, the path builder-dockerfile:set gave)',
      ),
      built.lines.join('\n'),
    );
    assert.ok(built.lines.some((l) => /Build arg MISSING is not set/.test(l)));
    assert.ok(built.lines.includes("       Build args from the app's config: GREETING"));
    assert.deepEqual(built.result.processes, { web: null });
    assert.match(await runImage(built.result.image ?? ''), /hello from the config/);
    const detected = (await store.apps.buildSettings(app)).detected;
    assert.equal(detected?.builder, 'dockerfile');
    assert.equal(detected?.build, built.id);

    // builder:set selected dockerfile with the path gone: one clear line.
    await store.apps.setBuildSetting(app, 'builder', 'dockerfile');
    await store.apps.setBuildSetting(app, 'dockerfilePath', 'nowhere/Dockerfile');
    const missing = await build(main, app, rev);
    assert.match(
      missing.result.error ?? '',
      /^nowhere\/Dockerfile is not in the commit, and the app builds from a Dockerfile \(builder:set selected dockerfile\) — /,
    );
  });

  test('git:from-image tags a prebuilt image as the next image; an image-only app refuses pushes', async (t) => {
    const source = await newApp();
    const made = await build(main, source, await commit(source, appFiles('prebuilt')));
    assert.equal(made.result.status, 'succeeded');
    const prebuilt = await docker.getImage(made.result.image ?? '').inspect();
    // Another app's image is never one to deploy (tenant-images.test.ts); one
    // the admin allows (BERTH_ALLOWED_BASE_IMAGES) is.
    const allowed = `berth-test/prebuilt${dockerRun.runId.replace(/[^a-z0-9]/g, '')}:1`;
    await tagImage(docker, prebuilt.Id, allowed);
    const b = await startBuilder({ allowedBaseImages: ['docker.io/berth-test/*'] });
    t.after(() => stopBuilder(b));

    const app = await newApp(b.prefix);
    await storeOf(b).apps.setBuildSetting(app, 'builder', 'image');
    const push = await build(b, app, await commit(app, appFiles('pushed')));
    assert.equal(push.result.status, 'failed');
    assert.match(push.result.error ?? '', new RegExp(`^${app} deploys prebuilt images`));

    const deployed = await deployImage(b, app, allowed);
    assert.equal(deployed.result.status, 'succeeded', deployed.lines.join('\n'));
    assert.equal(deployed.result.image, `berth/${app}:${deployed.id}`);
    assert.deepEqual(deployed.result.processes, { web: null });
    const tagged = await docker.getImage(deployed.result.image ?? '').inspect();
    assert.equal(tagged.Id, prebuilt.Id, 'the same image, not a copy');
    assert.match(await runImage(deployed.result.image ?? ''), /prebuilt/);

    const absent = await deployImage(b, app, 'berth-test/absent:1');
    assert.equal(absent.result.status, 'failed');
    assert.match(
      absent.result.error ?? '',
      /^image berth-test\/absent:1 is not on this machine and cannot be pulled: .* — load it first/,
    );
  });

  test("after each success an app keeps its newest images; a failed build's layers go too", async (t) => {
    const b = await startBuilder({ imageRetention: 2 });
    t.after(() => stopBuilder(b));
    const app = await newApp(b.prefix);
    const ok = async (hello: string) => {
      const built = await build(b, app, await commit(app, appFiles(hello)));
      assert.equal(built.result.status, 'succeeded', built.lines.join('\n'));
      return built.id;
    };
    const first = await ok('one');
    const second = await ok('two');
    // A failing step after a new layer: the layer stays (cache), noted for later.
    const failed = await build(
      b,
      app,
      await commit(app, {
        ...appFiles('three'),
        Dockerfile: `${appFiles('three').Dockerfile}RUN exit 4\n`,
      }),
    );
    assert.equal(failed.result.status, 'failed');
    // A step failing right after FROM left no layer of its own: the base image is nobody's leftover.
    const early = await build(
      b,
      app,
      await commit(app, {
        ...appFiles('early'),
        Dockerfile: 'FROM debian:bookworm-slim\nRUN exit 3\n',
      }),
    );
    assert.equal(early.result.status, 'failed');
    // Docker's build output names layers by their short id.
    const base = (await docker.getImage('debian:bookworm-slim').inspect()).Id.replace(
      /^sha256:/,
      '',
    );
    const noted = Object.keys(await b.redis.hgetall(leftoversKey(b.prefix)));
    assert.ok(
      !noted.some((id) => base.startsWith(id)),
      `the base image ${base} noted as a leftover`,
    );
    const leftovers = await b.redis.hgetall(leftoversKey(b.prefix));
    const left = Object.keys(leftovers).find((id) => leftovers[id] === app);
    assert.ok(left, 'the failed build noted its last layer');
    assert.deepEqual(
      await tagsOf(app),
      [`berth/${app}:${first}`, `berth/${app}:${second}`, `berth/${app}:latest`].sort(),
    );

    const fourth = await ok('four');
    // Retention runs once the push has its answer (worker.ts): soon after, not before.
    const want = [`berth/${app}:${second}`, `berth/${app}:${fourth}`, `berth/${app}:latest`].sort();
    await until(
      'the oldest image and the leftover gone',
      async () =>
        JSON.stringify(await tagsOf(app)) === JSON.stringify(want) &&
        (await b.redis.hget(leftoversKey(b.prefix), left)) === null,
      60_000,
    );
    await assert.rejects(docker.getImage(left).inspect(), { statusCode: 404 });
  });

  test("destroying an app removes its images and its cache volume, nothing of anyone else's", async () => {
    const app = await newApp();
    const built = await build(main, app, await commit(app, appFiles('doomed')));
    assert.equal(built.result.status, 'succeeded');
    await docker.createVolume({
      Name: `berth-cache-${app}`,
      Labels: { [LABELS.managed]: 'true', [LABELS.app]: app, ...dockerRun.labels },
    });
    // A volume someone else made under a Berth-like name stays.
    const other = await newApp();
    await docker.createVolume({ Name: `berth-cache-${other}`, Labels: dockerRun.labels });
    const removed = await destroyApp(ROOT, app, {
      store: storeOf(main),
      files: paths,
      docker,
      hooks: APP_HOOKS,
    });
    assert.deepEqual(
      removed?.removed.sort(),
      [`berth/${app}:${built.id}`, `berth/${app}:latest`, `volume berth-cache-${app}`].sort(),
    );
    assert.deepEqual(await tagsOf(app), []);
    await assert.rejects(docker.getVolume(`berth-cache-${app}`).inspect(), { statusCode: 404 });
    await destroyApp(ROOT, other, {
      store: storeOf(main),
      files: paths,
      docker,
      hooks: APP_HOOKS,
    });
    assert.ok(await docker.getVolume(`berth-cache-${other}`).inspect(), "not Berth's: kept");
    await docker.getVolume(`berth-cache-${other}`).remove();
  });
});
