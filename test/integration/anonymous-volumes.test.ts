// An image with a VOLUME line makes Docker give each container an anonymous
// volume at that path. Berth removes the instances a restart or a deploy
// replaces, and one-off runs once they end: their anonymous volumes must go
// with them, or every restart leaks one. The app's named storage
// (storage:mount) is never anonymous, and stays with its data.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { loadConfig } from '../../services/core/config.ts';
import { LABELS } from '../../services/core/docker.ts';
import { Store } from '../../services/core/store/index.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { quietDeployDeps, serveText } from '../harness/deploy.ts';
import {
  ensureTestStackImage,
  removeAppFromEngine,
  testDocker,
  testDockerRun,
  testStackImage,
  volumeExists,
} from '../harness/docker.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const runLabels = testDockerRun();
const prefix = testPrefix();
const store = new Store(await redisClient(prefix), prefix);
const app = `vol${randomBytes(3).toString('hex')}`;
const image = `berth/${app}:volume`;
const ada = userActor('ada', 'user');
let docker: Docker;
let run: ReturnType<typeof commandRunner>;

/** The anonymous volumes the app's running containers have at /data now. */
async function runningVolumes(): Promise<Set<string>> {
  const containers = await docker.listContainers({
    filters: { label: [`${LABELS.app}=${app}`] },
  });
  return new Set(
    containers.flatMap((c) =>
      c.Mounts.filter((m) => m.Destination === '/data').map((m) => m.Name ?? ''),
    ),
  );
}

/**
 * Every volume mounted at /data in one of the app's containers since `since`
 * (Unix seconds), one-offs' included, from the Engine's events: a volume's
 * mount event names its container, a container's events carry its labels.
 */
async function volumesMountedSince(since: number): Promise<Set<string>> {
  const until = Math.ceil(Date.now() / 1000) + 1;
  const events = async (filters: Record<string, string[]>) => {
    const raw = (await docker.getEvents({ since, until, filters })) as unknown;
    const text =
      Buffer.isBuffer(raw) || typeof raw === 'string'
        ? String(raw)
        : await new Promise<string>((resolve, reject) => {
            let all = '';
            const stream = raw as NodeJS.ReadableStream;
            stream.on('data', (d) => {
              all += d;
            });
            stream.on('end', () => resolve(all));
            stream.on('error', reject);
          });
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { Actor: { ID: string; Attributes: Record<string, string> } });
  };
  const ours = new Set(
    (await events({ type: ['container'], label: [`${LABELS.app}=${app}`] })).map((e) => e.Actor.ID),
  );
  const volumes = new Set<string>();
  for (const e of await events({ type: ['volume'], event: ['mount'] })) {
    const a = e.Actor.Attributes;
    if (a.destination === '/data' && ours.has(a.container ?? '')) volumes.add(e.Actor.ID);
  }
  return volumes;
}

before(async () => {
  docker = (await testDocker()).docker;
  await ensureTestStackImage(docker, await tempDir('berth-stack'));
  // The stack image with a VOLUME line, as a user's Dockerfile may have.
  const base = await docker.createContainer({
    Image: testStackImage(),
    Cmd: ['true'],
    Labels: runLabels.labels,
  });
  try {
    await base.commit({
      repo: `berth/${app}`,
      tag: 'volume',
      changes: [
        'VOLUME /data',
        ...Object.entries(runLabels.labels).map(([k, v]) => `LABEL ${k}=${v}`),
      ],
    });
  } finally {
    await base.remove({ force: true });
  }
  run = commandRunner(
    store,
    loadConfig({
      BERTH_DATA_DIR: await tempDir('berth-volumes'),
      BERTH_DOMAIN: 'berth.test',
      BERTH_DRAIN_TIMEOUT: '0',
    }),
  );
  await store.users.create('ada', 'user');
  await store.apps.create({ name: app, owner: 'ada' });
  await deployImage(quietDeployDeps(store, schedulerNamed('docker-local', { docker })), {
    app,
    image,
    processes: { web: serveText('volumes') },
    by: 'ada',
    description: 'Deploy volumes',
  });
});
after(() => removeAppFromEngine(docker, app));

describe("an image's anonymous volumes", () => {
  test('go with the instances a restart replaces and with one-off runs; named storage stays', async () => {
    const mounted = await run(ada, ['storage:mount', app, 'keep:/keep']);
    assert.equal(mounted.code, 0, mounted.stderr);
    const wrote = await run(ada, ['run', app, 'echo kept > /keep/file && ls /data']);
    assert.equal(wrote.code, 0, wrote.stderr);
    const since = Math.floor(Date.now() / 1000) - 1;
    for (let i = 0; i < 2; i++) {
      const restarted = await run(ada, ['ps:restart', app]);
      assert.equal(restarted.code, 0, restarted.stderr);
    }
    // A one-off with its own anonymous volume; it ends and is removed.
    const once = await run(ada, ['run', app, 'cat /keep/file; touch /data/x']);
    assert.equal(once.code, 0, once.stderr);
    assert.match(once.stdout, /^kept$/m);

    const seen = await volumesMountedSince(since);
    const running = await runningVolumes();
    assert.equal(running.size, 1, 'one web instance, one anonymous volume');
    // Two restarts' web instances and a one-off, each with one of its own.
    assert.ok(seen.size >= 3, `${seen.size} anonymous volumes seen`);
    const left = [];
    for (const v of seen) if (!running.has(v) && (await volumeExists(docker, v))) left.push(v);
    assert.deepEqual(left, [], `${left.length} of ${seen.size} anonymous volumes left behind`);
    // The named volume is still there, with its data.
    const volumes = await docker.listVolumes({
      filters: { label: [`${LABELS.app}=${app}`, LABELS.storage] },
    });
    assert.deepEqual(
      (volumes.Volumes ?? []).map((v) => v.Name),
      [`berth-storage.${app}.keep`],
    );
  });
});
