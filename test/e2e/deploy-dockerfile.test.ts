// git push of a Dockerfile app, as a user does it: `npm start` (which runs
// the real builder service), the real OpenSSH client and real git against
// Berth's SSH port, the real Docker Engine building the image. The push shows
// Docker's step lines as `remote:` lines and ends 0; a broken Dockerfile
// rejects the push with the line that failed. The images (berth/<app>:*, made
// by the platform, so without this file's test label) and the layers a failed
// build leaves are removed at the end by app label and by id.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { LABELS } from '../../services/core/docker.ts';
import { Store } from '../../services/core/store/index.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import { removeAppFromEngine, testDocker } from '../harness/docker.ts';
import { startLoad } from '../harness/load.ts';
import { platformKnownHosts, SERVE_ON_PORT, startPlatform } from '../harness/platform.ts';
import { request } from '../harness/router.ts';
import { opensshArgs, opensshCommand } from '../harness/ssh.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';

const execFileP = promisify(execFile);

function run(file: string, args: string[], cwd: string) {
  return new Promise<{ code: number; out: string; lines: string[] }>((resolve) => {
    const child = spawn(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d;
    });
    child.on('close', (code) => {
      // git pads "remote:" lines with spaces to clear the terminal's line.
      const lines = out.split(/\r?\n|\r/).map((l) => l.trimEnd());
      resolve({ code: code ?? 1, out: lines.join('\n'), lines });
    });
  });
}

describe('git push of a Dockerfile app to a running Berth', () => {
  test('builds the image with the build output live on the push; a broken Dockerfile rejects it', async (t) => {
    const dir = await tempDir();
    const dataDir = path.join(dir, 'data');
    const admin = await makeKeyPair(dir, 'admin');
    const { docker } = await testDocker();
    const app = `df${randomBytes(4).toString('hex')}`;
    const layers = new Set<string>();

    const started = performance.now();
    const p = await startPlatform({ dataDir, env: { BERTH_ADMIN_PUBKEY: admin.publicPath } });
    t.after(async () => {
      await p.stop();
      await p.stopRedis();
      // After Berth stops: a running builder's reconciler would start the
      // app's instances again (they were left running, one per run).
      await removeAppFromEngine(docker, app);
      for (const id of [...layers].reverse()) {
        await docker
          .getImage(id)
          .remove()
          .catch(() => {});
      }
    });
    const redis = new Redis(p.env.REDIS_URL ?? '');
    t.after(() => redis.disconnect());
    const prefix = p.env.BERTH_REDIS_PREFIX ?? '';
    assert.ok(
      !p.stderr.some((l) => /builder/.test(l) && /https?:\/\//.test(l)),
      'the builder lists no endpoint',
    );
    const port = p.env.BERTH_SSH_PORT ?? '';
    const knownHosts = await platformKnownHosts(p, path.join(dir, 'known_hosts'));
    const sshCommand = opensshCommand({ key: admin.privatePath, knownHosts });

    const work = path.join(dir, app);
    const git = (...args: string[]) => execFileP('git', args, { cwd: work });
    await execFileP('git', ['init', '-q', '-b', 'main', work]);
    await git('config', 'user.email', 'dev@example.com');
    await git('config', 'user.name', 'Dev');
    await git('config', 'core.sshCommand', sshCommand);
    await git('remote', 'add', 'deploy', `ssh://berth@127.0.0.1:${port}/${app}`);
    await writeFile(
      path.join(work, 'Dockerfile'),
      [
        'FROM debian:bookworm-slim',
        'COPY hello.txt /hello.txt',
        'ARG GIT_REV',
        'RUN echo "$GIT_REV" > /rev',
        'WORKDIR /',
        SERVE_ON_PORT,
        '',
      ].join('\n'),
    );
    await writeFile(path.join(work, 'hello.txt'), 'hello from a push\n');
    await git('add', '.');
    await git('commit', '-qm', 'first');
    const { stdout: rev } = await git('rev-parse', 'HEAD');

    const pushStarted = performance.now();
    const push = await run('git', ['push', 'deploy', 'main'], work);
    const pushMs = performance.now() - pushStarted;
    for (const l of push.lines) {
      const layer = /^remote: {8}---> ([0-9a-f]{12})$/.exec(l);
      if (layer?.[1]) layers.add(layer[1]);
    }
    assert.equal(push.code, 0, push.out);
    assert.ok(
      push.lines.includes(`remote: -----> Building ${app} from ${rev.slice(0, 7)}`),
      push.out,
    );
    const step = (re: RegExp) => push.lines.some((l) => re.test(l));
    assert.ok(step(/^remote: {8}Step 1\/\d+ : FROM debian:bookworm-slim$/), push.out);
    assert.ok(step(/^remote: {8}Step 4\/\d+ : RUN echo "\$GIT_REV" > \/rev$/), push.out);
    const built = push.lines
      .map((l) => /^remote: -----> Built (berth\/[a-z0-9-]+:[a-z0-9]+) /.exec(l)?.[1])
      .find((x) => x !== undefined);
    assert.ok(built?.startsWith(`berth/${app}:`), push.out);
    const image = await docker.getImage(built ?? '').inspect();
    assert.equal(image.Config.Labels?.[LABELS.app], app);
    assert.equal((await docker.getImage(`berth/${app}:latest`).inspect()).Id, image.Id);
    // The push waited for the release: v1 runs, and the route table points at it.
    assert.ok(push.lines.includes(`remote: -----> v1 of ${app} is live`), push.out);
    // Served through Berth's router at <app>.<BERTH_DOMAIN>, as a user reaches it.
    const httpPort = Number(p.env.BERTH_HTTP_PORT);
    const serving = async () => {
      const entry = await getRoutes(redis, prefix, app);
      const res = await request(httpPort, `${app}.localhost`, { path: '/hello.txt' });
      if (res.status !== 200) throw new Error(`router answered ${res.status}: ${res.body}`);
      return { release: entry?.release, body: res.body };
    };
    assert.deepEqual(await serving(), { release: 1, body: 'hello from a push\n' });

    // The Engine loses the container (as a dockerd restart can): while Berth
    // runs, the builder's reconcile starts it again and routes to it.
    const lost = performance.now();
    const removed = new Set<string>();
    for (const c of await docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.app}=${app}`] },
    })) {
      await docker.getContainer(c.Id).remove({ force: true });
      removed.add(c.Id);
    }
    // Until the route names a new container of the app (an address can come
    // back on another container: the network hands addresses out again).
    let back: { release: number | undefined; body: string } | undefined;
    while (performance.now() - lost < 40_000) {
      const fresh = (
        await docker.listContainers({ filters: { label: [`${LABELS.app}=${app}`] } })
      ).filter((c) => !removed.has(c.Id));
      const addresses = fresh.map(
        (c) => `${Object.values(c.NetworkSettings.Networks)[0]?.IPAddress}:5000`,
      );
      const routed = (await getRoutes(redis, prefix, app))?.backends ?? [];
      back = routed.some((b) => addresses.includes(b))
        ? await serving().catch(() => undefined)
        : undefined;
      if (back) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(back, { release: 1, body: 'hello from a push\n' });
    const recoveredMs = performance.now() - lost;

    // ps:rebuild: the pushed commit built again and released as v2, its build live in the output.
    const rebuilt = await run(
      'ssh',
      [
        ...opensshArgs({ port, key: admin.privatePath, knownHosts }),
        'berth@127.0.0.1',
        'ps:rebuild',
        app,
      ],
      work,
    );
    assert.equal(rebuilt.code, 0, rebuilt.out);
    assert.ok(
      rebuilt.lines.includes(`-----> Building ${app} from ${rev.slice(0, 7)}`),
      rebuilt.out,
    );
    assert.ok(rebuilt.lines.includes(`-----> v2 of ${app} is live`), rebuilt.out);
    assert.deepEqual(await serving(), { release: 2, body: 'hello from a push\n' });

    // A broken Dockerfile: the push is rejected with the line that failed.
    await writeFile(
      path.join(work, 'Dockerfile'),
      'FROM debian:bookworm-slim\nCOPY hello.txt /hello.txt\nRUN exit 3\n',
    );
    await git('commit', '-qam', 'broken');
    const failed = await run('git', ['push', 'deploy', 'main'], work);
    for (const l of failed.lines) {
      const layer = /^remote: {8}---> ([0-9a-f]{12})$/.exec(l);
      if (layer?.[1]) layers.add(layer[1]);
    }
    assert.notEqual(failed.code, 0, failed.out);
    assert.ok(
      failed.lines.includes(
        "remote:  !     Dockerfile:3: RUN exit 3: The command '/bin/sh -c exit 3' returned a non-zero code: 3",
      ),
      failed.out,
    );
    assert.match(failed.out, /\[remote rejected\] main -> main/);

    // An image whose web process exits: the release fails, v1 keeps serving.
    await writeFile(
      path.join(work, 'Dockerfile'),
      'FROM debian:bookworm-slim\nCMD ["sh", "-c", "echo cannot start >&2; exit 1"]\n',
    );
    await git('commit', '-qam', 'exits');
    // Requests go on through the router all along the failing deploy.
    const load = startLoad({
      port: httpPort,
      host: `${app}.localhost`,
      path: '/hello.txt',
      connections: 4,
      maxMs: 120_000,
      phase: 'failing deploy',
    });
    const exits = await run('git', ['push', 'deploy', 'main'], work);
    const [during] = await load.stop();
    assert.notEqual(exits.code, 0, exits.out);
    assert.ok(exits.lines.includes('remote:          cannot start'), exits.out);
    assert.ok(
      exits.lines.some((l) =>
        l.startsWith(
          `remote:  !     web.1 of app "${app}" did not become ready: the process exited before accepting connections on port 5000`,
        ),
      ),
      exits.out,
    );
    // What to do, for a process that exited; and which step failed.
    assert.match(
      exits.out,
      /it exited: its last lines are above \(logs:failed \S+ shows its whole log\)/,
    );
    assert.match(exits.out, /Push rejected: the build succeeded but its release did not go live/);
    assert.match(exits.out, /^remote: {8}web\.1 is not ready: .*; its last (line|\d+ lines):$/m);
    assert.deepEqual(await serving(), { release: 2, body: 'hello from a push\n' });
    assert.ok(during && during.requests > 0);
    assert.equal(
      during.non2xx + during.errors,
      0,
      `failed requests: ${during.examples.join('; ')}`,
    );
    const v3 = await new Store(redis, prefix).releases.get(app, 3);
    assert.equal(v3?.status, 'failed');
    // logs:failed: the reason and the failed instance's own lines, kept after it was removed.
    const failedLogs = await run(
      'ssh',
      [
        ...opensshArgs({ port, key: admin.privatePath, knownHosts }),
        'berth@127.0.0.1',
        'logs:failed',
        app,
      ],
      work,
    );
    assert.equal(failedLogs.code, 0, failedLogs.out);
    assert.match(
      failedLogs.out,
      new RegExp(`^=====> v3 of ${app} failed \\(Deploy [0-9a-f]{7}, by admin, `, 'm'),
    );
    assert.match(
      failedLogs.out,
      /^ ! {5}web\.1 of app .* did not become ready: the process exited/m,
    );
    assert.match(failedLogs.out, /^\S+ app\[web\.1\]: cannot start$/m);

    // Ctrl-C: the builder (idle) stops with the rest.
    const stopped = await p.stop();
    assert.ok(stopped.clean, p.stderr.join('\n'));
    t.diagnostic(
      `platform ready ${Math.round(p.readyMs)} ms; ${during?.requests} requests during the failing deploy, none failed; push with a cold build ${Math.round(pushMs)} ms; a lost container served again after ${Math.round(recoveredMs)} ms; Ctrl-C to stopped ${Math.round(stopped.ms)} ms; whole test ${Math.round(performance.now() - started)} ms`,
    );
  });
});
