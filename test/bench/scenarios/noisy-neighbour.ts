// A tenant's app under a neighbour's fork bomb and memory hog: a running
// Berth serves ada's app (node-plain, pushed over SSH) through the router to
// 8 keep-alive connections, while mallory, a user who is not an admin, runs
// in her own app (pushed by her, over SSH with her own key) one-offs that
// fork until they cannot (every process spinning the CPU) and take memory
// until they are stopped. Round by round, ada's p99 with the neighbour quiet
// is set against her p99 under attack (goal: within 2×), with Berth's default
// limits (BERTH_DEFAULT_PIDS, BERTH_DEFAULT_MEMORY) the only defence.
import { execFile } from 'node:child_process';
import { cp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { connectDocker } from '../../../services/core/docker.ts';
import { berthWithApp } from '../../harness/berth-app.ts';
import { FIXTURE_APPS_DIR } from '../../harness/buildpacks.ts';
import { removeAppFromEngine, testDockerTarget } from '../../harness/docker.ts';
import { startLoad } from '../../harness/load.ts';
import { platformKnownHosts } from '../../harness/platform.ts';
import { opensshArgs, opensshCommand } from '../../harness/ssh.ts';
import { makeKeyPair } from '../../harness/ssh-keys.ts';
import { type Figure, figure, type Scenario } from '../scenario.ts';

const run = promisify(execFile);
const CONNECTIONS = 8;
const ROUNDS = Number(process.env.BERTH_BENCH_NOISY_ROUNDS || 3);
const PHASE_MS = 8000;
/** How long each attack runs: longer than the attack phase, then it ends by itself. */
const ATTACK_S = 14;

// Forks until the pids limit says no; every process spins the CPU until time is up.
const FORK_BOMB = `import os, time
end = time.time() + ${ATTACK_S}
n = 0
while time.time() < end:
    try:
        if os.fork() == 0:
            n = 0
    except OSError:
        break
while time.time() < end:
    pass`;
// Takes memory 64 MB at a time, touching every page, until time is up (or the limit stops it).
const MEMORY_HOG = `import time
end = time.time() + ${ATTACK_S}
held = []
while time.time() < end:
    try:
        held.append(bytearray(64 * 1024 * 1024))
    except MemoryError:
        time.sleep(0.1)`;

export const noisyNeighbourScenario: Scenario = {
  name: 'noisy-neighbour',
  description: `${CONNECTIONS} connections to one user's app through the router, quiet then under another user's fork bomb and memory hog, ${ROUNDS} rounds`,
  async run(log) {
    const b = await berthWithApp('noisy');
    const atk = `${b.app}x`;
    try {
      await b.push();
      await b.untilServed('node-plain on');

      // Mallory: a user, not an admin, with her own key and app, pushed by her.
      const key = await makeKeyPair(b.dir, 'mallory');
      await run('sh', ['-c', `ssh "$@" ssh-keys:add mallory < ${key.publicPath}`, 'ssh', ...b.ssh]);
      const knownHosts = await platformKnownHosts(b.platform, path.join(b.dir, 'known_hosts'));
      const sshPort = b.platform.env.BERTH_SSH_PORT ?? '';
      const mallory = [
        ...opensshArgs({ port: sshPort, key: key.privatePath, knownHosts }),
        'berth@127.0.0.1',
      ];
      await run('ssh', [...mallory, 'apps:create', atk]);
      const work = path.join(b.dir, atk);
      await cp(path.join(FIXTURE_APPS_DIR, 'node-plain'), work, { recursive: true });
      await writeFile(path.join(work, 'bomb.py'), FORK_BOMB);
      await writeFile(path.join(work, 'hog.py'), MEMORY_HOG);
      const git = (...args: string[]) => run('git', args, { cwd: work });
      await git('init', '-q', '-b', 'main');
      await git('config', 'user.email', 'm@m');
      await git('config', 'user.name', 'm');
      await git('config', 'core.sshCommand', opensshCommand({ key: key.privatePath, knownHosts }));
      await git('remote', 'add', 'deploy', `ssh://berth@127.0.0.1:${sshPort}/${atk}`);
      await git('add', '-A');
      await git('commit', '-qm', 'mine');
      await git('push', '-q', 'deploy', 'main');
      log(`ada's app ${b.app}; mallory's app ${atk}`);

      const attack = async () => {
        for (const program of ['bomb.py', 'hog.py']) {
          await run('ssh', [...mallory, 'run:detached', atk, 'python3', program]);
        }
      };

      const quiet: number[] = [];
      const attacked: number[] = [];
      const ratios: number[] = [];
      const failed: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const load = startLoad({
          port: b.routerPort,
          host: b.host,
          connections: CONNECTIONS,
          maxMs: 5 * 60_000,
          phase: 'quiet',
        });
        await new Promise((r) => setTimeout(r, PHASE_MS));
        load.phase('starting');
        await attack();
        // The bomb reaches its limit within a second or two.
        await new Promise((r) => setTimeout(r, 2000));
        load.phase('attack');
        await new Promise((r) => setTimeout(r, PHASE_MS));
        const results = await load.stop();
        const q = results.find((r) => r.phase === 'quiet');
        const a = results.find((r) => r.phase === 'attack');
        if (!q || !a) throw new Error('a phase had no requests');
        quiet.push(q.p99Ms);
        attacked.push(a.p99Ms);
        ratios.push(a.p99Ms / q.p99Ms);
        failed.push(results.reduce((n, r) => n + r.non2xx + r.errors, 0));
        log(
          `round ${round}: quiet ${q.requests} requests p99 ${q.p99Ms.toFixed(1)} ms | attack ${a.requests} requests p99 ${a.p99Ms.toFixed(1)} ms (${(a.p99Ms / q.p99Ms).toFixed(2)}×), failed ${failed.at(-1)}`,
        );
        // The attacks end by themselves; the next round starts quiet.
        await new Promise((r) => setTimeout(r, (ATTACK_S - 8) * 1000 + 2000));
      }
      const figures: Figure[] = [
        figure('quiet p99', 'ms', quiet),
        figure('under attack p99', 'ms', attacked),
        figure('under attack / quiet p99 (bar ≤ 2)', 'ratio', ratios),
        figure('failed requests', 'count', failed),
      ];
      return figures;
    } finally {
      await b.close();
      const { docker } = await connectDocker(testDockerTarget());
      await removeAppFromEngine(docker, atk);
    }
  },
};
