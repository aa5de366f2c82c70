// Releases of the test stack image for tests that deploy with the real
// Engine but no build: an app of a user's to deploy, a web process that
// serves a text, the deployer's deps when the rollout's lines are not read,
// and what the route serves now.
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../services/core/config.ts';
import { Store } from '../../services/core/store/index.ts';
import { type DeployDeps, deployImage } from '../../services/platform/release/deploy.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import type { Scheduler } from '../../services/platform/scheduler/scheduler.ts';
import { commandRunner, userActor } from './commands.ts';
import { ensureTestStackImage, removeAppFromEngine, testDocker, testStackImage } from './docker.ts';
import { redisClient, testPrefix } from './redis.ts';
import { tempDir } from './tmp.ts';

/**
 * An app named `<label><hex>` of ada (not an admin), in a store under a
 * prefix of the test's own, with the stack image on the real Engine, the
 * configuration `env` adds to, and the commands as ada types them; its
 * containers, network and volumes go after the file's tests. Call it at a
 * file's top level: a Redis client made in a hook is cleaned up after it.
 */
export async function engineApp(label: string, env: Record<string, string> = {}) {
  const prefix = testPrefix();
  const store = new Store(await redisClient(prefix), prefix);
  const app = `${label}${randomBytes(3).toString('hex')}`;
  const config = loadConfig({
    BERTH_DATA_DIR: await tempDir(`berth-${label}`),
    DOCKER_HOST: process.env.DOCKER_HOST,
    ...env,
  });
  const { docker } = await testDocker();
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  await store.users.create('ada', 'user');
  await store.apps.create({ name: app, owner: 'ada' });
  after(() => removeAppFromEngine(docker, app));
  const ada = userActor('ada', 'user');
  return { prefix, store, app, config, docker, ada, run: commandRunner(store, config) };
}

/**
 * A web process command serving "<text>" at / on $PORT (python3 is in the
 * stack image). Shell expansions in `text` (such as $GREETING) are expanded
 * in the container.
 */
export const serveText = (text: string) =>
  `export PYTHONUNBUFFERED=1; mkdir -p /tmp/s && echo "${text}" > /tmp/s/index.html && cd /tmp/s && exec python3 -m http.server "$PORT"`;

/** The deployer's deps for a test that does not read the rollout's lines. */
export const quietDeployDeps = (
  store: Store,
  scheduler: Scheduler,
  o: Partial<DeployDeps> = {},
): DeployDeps => ({
  store,
  scheduler,
  log: { heading: () => {}, detail: () => {} },
  signal: AbortSignal.timeout(60_000),
  drainMs: 0,
  ...o,
});

/** The app's routed release, how many backends it has, and the texts they serve. */
export async function routedContent(
  redis: Redis,
  prefix: string,
  app: string,
): Promise<{ release: number | undefined; backends: number; texts: string[] }> {
  const entry = await getRoutes(redis, prefix, app);
  const texts = new Set<string>();
  for (const backend of entry?.backends ?? []) {
    const res = await fetch(`http://${backend}/`, { signal: AbortSignal.timeout(5000) });
    texts.add((await res.text()).trim());
  }
  return { release: entry?.release, backends: entry?.backends.length ?? 0, texts: [...texts] };
}

/** Deploys the stack image as `app`, its web process serving `text` (a release by ada). */
export const deployText = (store: Store, scheduler: Scheduler, app: string, text: string) =>
  deployImage(quietDeployDeps(store, scheduler), {
    app,
    image: testStackImage(),
    processes: { web: serveText(text) },
    by: 'ada',
    description: `Deploy ${text}`,
  });

/**
 * A one-off container of `image` on `app`'s network (as `run` makes one),
 * running `command` with sh and `env`: its output and exit code.
 */
export async function oneOffOn(
  scheduler: Scheduler,
  app: string,
  image: string,
  command: string,
  env: Record<string, string>,
): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const result = await scheduler.runOnce(
    {
      app,
      type: 'run',
      release: 1,
      instance: 0,
      image,
      command,
      env,
      port: 5000,
      stopTimeoutSec: 1,
    },
    (line) => lines.push(line),
    AbortSignal.timeout(60_000),
  );
  return { code: result.exitCode, out: lines.join('\n') };
}
