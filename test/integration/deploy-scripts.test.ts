// app.json's deployment tasks and cron through the real builder and deploy
// step (services/builder/worker.ts → run-build.ts → deploy.ts), the real
// Engine, git and the run's Redis: the fixture app
// test/fixtures/apps/app-json-tasks (an app.json with comments, formation,
// scripts.dokku.predeploy / postdeploy and cron) is committed as a push
// commits it, built by the Procfile buildpack and rolled out. Then pushes
// that fail: a predeploy that exits 3 and a bad cron schedule, each
// refused with the previous release serving on.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { LABELS } from '../../services/core/docker.ts';
import { Store } from '../../services/core/store/index.ts';
import { deployBuilds } from '../../services/platform/release/deploy.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import { appSchedulers } from '../../services/platform/scheduler/schedulers.ts';
import { FIXTURE_APPS_DIR } from '../harness/buildpacks.ts';
import { buildHarness } from '../harness/builds.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { ensureTestStackImage, removeAppFromEngine, testStackImage } from '../harness/docker.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const h = await buildHarness('berth-deploy-scripts');
await ensureTestStackImage(h.docker, await tempDir('berth-stack'));
const prefix = testPrefix();
const store = new Store(await redisClient(prefix), prefix);
const builder = await h.startBuilder({
  prefix,
  stackImage: testStackImage(),
  deploy: deployBuilds(store, appSchedulers(store, { docker: h.docker }), { drainMs: 0 }),
});
const app = await h.newApp(prefix);
after(() => removeAppFromEngine(h.docker, app));
const run = commandRunner(store);
const ada = userActor('ada', 'admin');

/** The fixture's files, with `change` applied to its app.json text. */
async function fixture(change: (appJson: string) => string = (t) => t) {
  const dir = path.join(FIXTURE_APPS_DIR, 'app-json-tasks');
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files[path.relative(dir, full)] = await readFile(full, 'utf8');
  }
  files['app.json'] = change(files['app.json'] ?? '');
  return files;
}

/** What the app's routed web instance serves at `path`. */
async function served(p: string): Promise<{ release: number | undefined; text: string }> {
  const entry = await getRoutes(store.redis, prefix, app);
  const backend = entry?.backends[0];
  if (!backend) return { release: entry?.release, text: '' };
  const res = await fetch(`http://${backend}${p}`, { signal: AbortSignal.timeout(5000) });
  return { release: entry?.release, text: (await res.text()).trim() };
}

describe('app.json deployment tasks and cron, pushed', () => {
  test('predeploy runs before traffic moves and its file is in the image served; postdeploy after', async () => {
    await store.config.set(app, { GREETING: 'hej' });
    const built = await h.build(builder, app, await h.commit(app, await fixture()));
    const out = built.lines.join('\n');
    assert.equal(built.result.status, 'succeeded', out);
    // Heroku's scripts.postdeploy is said not to run; Dokku's keys are not in that line.
    assert.match(out, /app\.json: Berth does not use scripts\.postdeploy\n/);
    const order = [
      /Running predeploy: echo/,
      /predeploy wrote site\/predeploy\.txt/,
      /Starting 1 web instance of v1/,
      /v1 of .* is live/,
      /cron: 1 task scheduled/,
      /Running postdeploy: echo/,
      /postdeploy ran as postdeploy\.1/,
    ].map((re) => out.search(re));
    assert.ok(
      order.every((at, i) => at >= 0 && (i === 0 || at > (order[i - 1] ?? 0))),
      `in this order: ${order}\n${out}`,
    );
    // The formation's worker runs beside web (without app.json, web alone would).
    const running = await h.docker.listContainers({
      filters: { label: [`${LABELS.app}=${app}`, `${LABELS.release}=1`] },
    });
    assert.deepEqual(running.map((c) => c.Labels[LABELS.process]).sort(), ['web', 'worker']);
    // Written by predeploy with the release's config, served from the release's image.
    assert.deepEqual(await served('/predeploy.txt'), {
      release: 1,
      text: 'predeployed with GREETING=hej',
    });
    // The commit kept the image's own settings: no config var was baked into it.
    const release = await store.releases.current(app);
    const image = await h.docker.getImage(release?.image ?? '').inspect();
    const env = image.Config.Env.join(' ');
    assert.ok(!/\b(GREETING|DYNO|PORT)=/.test(env), env);
    const built0 = await h.docker.getImage(`${release?.image}`).history();
    assert.match(built0[0]?.Comment ?? '', /^berth predeploy of /);
  });

  test('the cron task is listed with its next run on a minute boundary, and cron:run runs it now', async () => {
    const listed = await run(ada, ['cron:list', app, '--format', 'json']);
    assert.equal(listed.code, 0, listed.stderr);
    const [task] = JSON.parse(listed.stdout) as { id: string; schedule: string; next: string }[];
    assert.equal(task?.schedule, '* * * * *');
    assert.match(task?.next ?? '', /:00\.000Z$/);
    const ran = await run(ada, ['cron:run', app, task?.id ?? '']);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /cron ran as run\.1 with GREETING=hej/);
    const text = await run(ada, ['cron:list', app]);
    assert.match(text.stdout, new RegExp(`${task?.id}  \\* \\* \\* \\* \\*  echo .* succeeded `));
    const report = await run(ada, ['cron:report', app, '--cron-task-count']);
    assert.equal(report.stdout, '1\n');
  });

  test('a predeploy that fails stops the deploy: the previous release serves, the push says why', async () => {
    const failing = await fixture((t) =>
      t.replace(
        /"predeploy": ".*",/,
        '"predeploy": "echo migrating; sleep 0.3; echo table locked >&2; exit 3",',
      ),
    );
    const built = await h.build(builder, app, await h.commit(app, failing));
    const out = built.lines.join('\n');
    assert.equal(built.result.status, 'failed', out);
    assert.match(
      built.result.error ?? '',
      /^predeploy failed for app "[a-z0-9]+" \(exit code 3\): table locked/,
    );
    assert.match(
      out,
      /predeploy failed \(exit code 3\); its last 2 lines:\n\s+ {2}migrating\n\s+ {2}table locked/,
    );
    assert.match(built.result.error ?? '', /nothing changed, the previous release keeps serving/);
    assert.doesNotMatch(out, /Starting 1 web instance of v2/);
    assert.deepEqual(await served('/predeploy.txt'), {
      release: 1,
      text: 'predeployed with GREETING=hej',
    });
    assert.equal((await store.releases.current(app))?.version, 1);
  });

  test('a bad cron schedule fails the deploy before anything changes, in one line', async () => {
    const bad = await fixture((t) => t.replace('"* * * * *"', '"*/5 * * *"'));
    const built = await h.build(builder, app, await h.commit(app, bad));
    assert.equal(built.result.status, 'failed');
    assert.ok(
      built.result.error?.startsWith(
        `app.json cron.0 of app "${app}": it has 4 fields; use five (minute hour day-of-month month day-of-week)`,
      ),
      built.result.error,
    );
    assert.doesNotMatch(built.lines.join('\n'), /Running predeploy/);
    assert.equal((await served('/predeploy.txt')).release, 1);
    assert.equal((await store.releases.list(app)).length, 2, 'v2 (failed) only; no v3');
  });

  test("a Dockerfile image's ENTRYPOINT sees the config in predeploy; the committed image keeps its own settings", async () => {
    const other = await h.newApp(prefix);
    after(() => removeAppFromEngine(h.docker, other));
    await store.config.set(other, { GREETING: 'hallo' });
    const built = await h.build(
      builder,
      other,
      await h.commit(other, {
        // As many images' docker-entrypoint.sh do: it needs the app's config.
        'entry.sh':
          '[ -n "$GREETING" ] || { echo "entrypoint: GREETING is not set" >&2; exit 9; }\nexec "$@"\n',
        Dockerfile: [
          'FROM debian:bookworm-slim',
          'RUN mkdir -p /srv/site && echo hi > /srv/site/index.html',
          'COPY entry.sh /entry.sh',
          'WORKDIR /srv/site',
          'ENTRYPOINT ["/bin/sh", "/entry.sh"]',
          'CMD ["sh", "-c", "exec python3 -m http.server $PORT"]',
          '',
        ].join('\n'),
        'app.json': JSON.stringify({
          scripts: { dokku: { predeploy: 'echo "predeployed $GREETING" > p.txt' } },
        }),
      }),
    );
    assert.equal(built.result.status, 'succeeded', built.lines.join('\n'));
    const entry = await getRoutes(store.redis, prefix, other);
    const res = await fetch(`http://${entry?.backends[0]}/p.txt`, {
      signal: AbortSignal.timeout(5000),
    });
    assert.equal((await res.text()).trim(), 'predeployed hallo');
    const release = await store.releases.current(other);
    const { Config: c } = await h.docker.getImage(release?.image ?? '').inspect();
    assert.deepEqual(c.Entrypoint, ['/bin/sh', '/entry.sh']);
    assert.deepEqual(c.Cmd, ['sh', '-c', 'exec python3 -m http.server $PORT']);
    assert.ok(!c.Env.some((e) => /^(GREETING|PORT|DYNO)=/.test(e)), c.Env.join(' '));
  });
});
