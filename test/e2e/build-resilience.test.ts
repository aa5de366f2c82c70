// The build queue under the failures issue 4 names, at Berth's default
// timings, through `npm start`, the real OpenSSH client, real git and the
// real Docker Engine:
//   - kill -9 of the builder (the control process, which it shares with
//     the web) in the middle of a build: the
//     supervisor starts it again, BullMQ hands the dead worker's build to the
//     new one, which builds it again from the start; the push that waits
//     sees that and ends 0 — within a minute of the kill;
//   - 20 pushes to 5 apps at once: every push ends, either built or replaced
//     by a newer push to its app while it waited; every app ends at its
//     newest push; an app's builds run one at a time, in push order.
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
import {
  type Platform,
  platformKnownHosts,
  SERVE_ON_PORT,
  servicesOf,
  startPlatform,
} from '../harness/platform.ts';
import { opensshCommand } from '../harness/ssh.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';

const execFileP = promisify(execFile);

interface Push {
  code: number;
  lines: string[];
  /** ms from the start of the push to each line. */
  at: number[];
}

function push(cwd: string, args: string[], onLine?: (line: string) => void): Promise<Push> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn('git', ['push', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const at: number[] = [];
    let partial = '';
    const take = (d: Buffer) => {
      const parts = (partial + d.toString()).split(/\r?\n|\r/);
      partial = parts.pop() ?? '';
      for (const raw of parts) {
        const line = raw.trimEnd();
        lines.push(line);
        at.push(performance.now() - started);
        onLine?.(line);
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code) => resolve({ code: code ?? 1, lines, at }));
  });
}

interface Setup {
  platform: Platform;
  dir: string;
  sshCommand: string;
  port: string;
}

async function setUp(t: { after: (fn: () => Promise<void>) => void }): Promise<Setup> {
  const dir = await tempDir();
  const admin = await makeKeyPair(dir, 'admin');
  const platform = await startPlatform({
    dataDir: path.join(dir, 'data'),
    env: { BERTH_ADMIN_PUBKEY: admin.publicPath },
  });
  t.after(async () => {
    await platform.stop();
    await platform.stopRedis();
  });
  const knownHosts = await platformKnownHosts(platform, path.join(dir, 'known_hosts'));
  return {
    platform,
    dir,
    sshCommand: opensshCommand({ key: admin.privatePath, knownHosts }),
    port: platform.env.BERTH_SSH_PORT ?? '',
  };
}

/** A work tree for `app` with the deploy remote; commit() adds a commit with the files. */
async function workTree(s: Setup, app: string) {
  const work = path.join(s.dir, app);
  const git = async (...args: string[]) =>
    (await execFileP('git', args, { cwd: work })).stdout.trim();
  await execFileP('git', ['init', '-q', '-b', 'main', work]);
  await git('config', 'user.email', 'dev@example.com');
  await git('config', 'user.name', 'Dev');
  await git('config', 'core.sshCommand', s.sshCommand);
  await git('remote', 'add', 'deploy', `ssh://berth@127.0.0.1:${s.port}/${app}`);
  return {
    work,
    git,
    async commit(files: Record<string, string>, message: string): Promise<string> {
      for (const [name, content] of Object.entries(files)) {
        await writeFile(path.join(work, name), content);
      }
      await git('add', '-A');
      await git('commit', '-qm', message);
      return git('rev-parse', 'HEAD');
    },
  };
}

describe('builds under failure and load (default timings)', () => {
  test('kill -9 of the builder mid-build: the build runs again and the push succeeds within a minute', async (t) => {
    const s = await setUp(t);
    const app = `kw${randomBytes(3).toString('hex')}`;
    const { docker } = await testDocker();
    t.after(() => removeAppFromEngine(docker, app));
    const tree = await workTree(s, app);
    await tree.commit(
      {
        Dockerfile: `FROM debian:bookworm-slim\nCOPY n.txt /n.txt\nRUN sleep 6 && echo slept\n${SERVE_ON_PORT}\n`,
        'n.txt': 'one\n',
      },
      'first',
    );
    const dataDir = path.join(s.dir, 'data');
    let killedAt = 0;
    let retriedAt = 0;
    const first = await push(tree.work, ['deploy', 'main'], (line) => {
      if (killedAt === 0 && / ---> Running in /.test(line)) {
        killedAt = performance.now();
        void servicesOf(dataDir, 'control').then((pids) => {
          assert.equal(pids.length, 1, 'one control process (web and the builder)');
          process.kill(pids[0] as number, 'SIGKILL');
        });
      }
      if (retriedAt === 0 && /building it again from the start \(attempt 2\)/.test(line)) {
        retriedAt = performance.now();
      }
    });
    const endedAt = performance.now();
    assert.ok(killedAt > 0, first.lines.join('\n'));
    assert.equal(first.code, 0, first.lines.join('\n'));
    assert.ok(retriedAt > killedAt, `no retry: ${first.lines.join('\n')}`);
    const retryMs = retriedAt - killedAt;
    assert.ok(retryMs < 60_000, `retried ${Math.round(retryMs)} ms after the kill`);
    t.diagnostic(
      `kill -9 → build retried after ${Math.round(retryMs)} ms; push ended ${Math.round(endedAt - killedAt)} ms after the kill`,
    );

    // The next push builds as usual.
    await tree.commit({ 'n.txt': 'two\n' }, 'second');
    const next = await push(tree.work, ['deploy', 'main']);
    assert.equal(next.code, 0, next.lines.join('\n'));
    assert.ok(next.lines.some((l) => /^remote: -----> Built berth\//.test(l)));
  });

  test('20 pushes to 5 apps at once: all end, none lost, newest wins, one build at a time per app in order', async (t) => {
    const s = await setUp(t);
    const { docker } = await testDocker();
    const suffix = randomBytes(3).toString('hex');
    const apps = [0, 1, 2, 3, 4].map((i) => `burst${i}${suffix}`);
    t.after(async () => {
      for (const app of apps) await removeAppFromEngine(docker, app);
    });
    // Four commits per app, each a child of the one before; pushed by id.
    const plan: { app: string; n: number; rev: string; cwd: string }[] = [];
    for (const app of apps) {
      const tree = await workTree(s, app);
      for (let n = 1; n <= 4; n++) {
        const rev = await tree.commit(
          {
            Dockerfile: `FROM debian:bookworm-slim\nCOPY n.txt /n.txt\nRUN cat /n.txt && sleep 0.3\n${SERVE_ON_PORT}\n`,
            'n.txt': `${app} ${n}\n`,
          },
          `push ${n}`,
        );
        plan.push({ app, n, rev, cwd: tree.work });
      }
    }
    // Round by round: push 1 of every app at once, then push 2, ... A round
    // starts once every push of the round before has reached the server (its
    // first line came back), so each app's pushes arrive in their order: the
    // newest push is the one that arrived last, not the one launched last.
    const started = performance.now();
    const running: Promise<(typeof plan)[0] & { result: Push }>[] = [];
    for (let n = 1; n <= 4; n++) {
      const round = plan.filter((p) => p.n === n);
      const arrived = round.map((p) => {
        let seen!: () => void;
        const first = new Promise<void>((resolve) => {
          seen = resolve;
        });
        running.push(
          push(p.cwd, ['deploy', `${p.rev}:refs/heads/main`], () => seen()).then((result) => {
            seen();
            return { ...p, result };
          }),
        );
        return first;
      });
      await Promise.all(arrived);
    }
    const results = await Promise.all(running);
    const totalMs = performance.now() - started;

    const built = results.filter((r) => r.result.code === 0);
    const replaced = results.filter((r) =>
      r.result.lines.some((l) => /replaced this one while it waited/.test(l)),
    );
    for (const r of results) {
      assert.ok(
        r.result.code === 0 || replaced.includes(r),
        `${r.app} push ${r.n} ended otherwise:\n${r.result.lines.join('\n')}`,
      );
    }
    assert.equal(built.length + replaced.length, 20, 'every push ended one way or the other');
    for (const app of apps) {
      const mine = results.filter((r) => r.app === app);
      // The newest push of every app is built and is what the app's branch points to.
      assert.equal(mine.find((r) => r.n === 4)?.result.code, 0, `${app}: the last push built`);
      const { stdout } = await execFileP('git', ['ls-remote', 'deploy', 'refs/heads/main'], {
        cwd: mine[0]?.cwd,
      });
      assert.equal(stdout.split('\t')[0], mine.find((r) => r.n === 4)?.rev, `${app} is at push 4`);
      // Every replaced push was replaced by a newer one of its app that built.
      for (const r of mine.filter((x) => replaced.includes(x))) {
        assert.ok(
          mine.some((x) => x.n > r.n && x.result.code === 0),
          `${app} push ${r.n}`,
        );
      }
    }
    // One build at a time per app, in push order: the images of an app were
    // made in the order of its pushes (build ids are time-ordered).
    for (const app of apps) {
      const ids = results
        .filter((r) => r.app === app && r.result.code === 0)
        .sort((a, b) => a.n - b.n)
        .map((r) =>
          r.result.lines
            .map((l) => /^remote: -----> Built berth\/[a-z0-9-]+:([a-z0-9]+) /.exec(l)?.[1])
            .find((x) => x !== undefined),
        );
      assert.ok(ids.every((id) => id !== undefined));
      assert.deepEqual([...ids].sort(), ids, `${app}: builds in push order`);
    }
    t.diagnostic(
      `20 pushes to 5 apps: ${built.length} built, ${replaced.length} replaced by a newer push, all ended in ${Math.round(totalMs)} ms`,
    );
  });

  test('kill -9 of the builder during a rollout: after the restart the app is on one release, serving, nothing orphaned', async (t) => {
    const s = await setUp(t);
    const app = `kr${randomBytes(3).toString('hex')}`;
    const { docker } = await testDocker();
    t.after(() => removeAppFromEngine(docker, app));
    const redis = new Redis(s.platform.env.REDIS_URL ?? '');
    t.after(() => redis.disconnect());
    const prefix = s.platform.env.BERTH_REDIS_PREFIX ?? '';
    const tree = await workTree(s, app);
    const serving = async () => {
      const entry = await getRoutes(redis, prefix, app);
      const res = await fetch(`http://${entry?.backends[0]}/n.txt`, {
        signal: AbortSignal.timeout(5000),
      });
      return `v${entry?.release} ${(await res.text()).trim()}`;
    };
    await tree.commit(
      {
        Dockerfile: `FROM debian:bookworm-slim\nCOPY n.txt /n.txt\nWORKDIR /\n${SERVE_ON_PORT}\n`,
        'n.txt': 'one\n',
      },
      'first',
    );
    assert.equal((await push(tree.work, ['deploy', 'main'])).code, 0);
    assert.equal(await serving(), 'v1 one');

    // v2's web process takes 4 s to listen: the builder dies while the rollout waits for it.
    await tree.commit(
      {
        Dockerfile: `FROM debian:bookworm-slim\nCOPY n.txt /n.txt\nWORKDIR /\nCMD ["sh", "-c", "sleep 4; exec python3 -m http.server \\"$PORT\\""]\n`,
        'n.txt': 'two\n',
      },
      'slow start',
    );
    const dataDir = path.join(s.dir, 'data');
    let killedAt = 0;
    const second = await push(tree.work, ['deploy', 'main'], (line) => {
      if (killedAt === 0 && /Starting 1 web instance of v2/.test(line)) {
        killedAt = performance.now();
        void servicesOf(dataDir, 'control').then((pids) =>
          process.kill(pids[0] as number, 'SIGKILL'),
        );
      }
    });
    assert.ok(killedAt > 0, second.lines.join('\n'));
    const endedMs = performance.now() - killedAt;
    // The restarted builder reconciled (v2 failed, its instance gone, v1 routed),
    // then built the push again: it ends deployed as v3.
    assert.equal(second.code, 0, second.lines.join('\n'));
    const store = new Store(redis, prefix);
    assert.deepEqual(
      (await store.releases.list(app)).map((r) => [r.version, r.status]),
      [
        [3, 'succeeded'],
        [2, 'failed'],
        [1, 'succeeded'],
      ],
    );
    assert.equal(await serving(), 'v3 two');
    // Only v3 runs once v1 has drained (30 s by default): no instance of v2 is left.
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.app}=${app}`] },
    });
    assert.ok(
      !containers.some((c) => c.Labels[LABELS.release] === '2'),
      JSON.stringify(containers.map((c) => c.Names)),
    );
    t.diagnostic(`kill -9 during the rollout → push ended ${Math.round(endedMs)} ms later on v3`);
  });
});
