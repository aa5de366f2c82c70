// A tenant's app under a neighbour's fork bomb and memory hog: a running
// Berth serves ada's app (node-plain, pushed over SSH) through the router its
// steady traffic (8 keep-alive connections, each sending a request every
// 20 ms or so: about 400 requests a second, well below what the machine can
// serve, since a load that saturates the CPU measures how the CPU is shared,
// not how the app answers), while mallory, a user who is not an admin, runs
// in her own app (pushed by her, over SSH with her own key) one-offs that
// fork until they cannot (every process spinning the CPU) and take memory
// until they are stopped. Round by round, ada's p99 with the neighbour quiet
// is set against her p99 under attack (goal: within 2×), with Berth's default
// limits (BERTH_DEFAULT_PIDS, BERTH_DEFAULT_MEMORY) the only defence.
import { execFile } from 'node:child_process';
import { cp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { connectDocker, LABELS } from '../../../services/core/docker.ts';
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
/** Between an answer and the connection's next request. */
const PAUSE_MS = 20;
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

/** The processes, CPUs (over one second) and memory of `app`'s running containers together. */
async function attackerUse(app: string) {
  const { docker } = await connectDocker(testDockerTarget());
  const containers = await docker.listContainers({ filters: { label: [`${LABELS.app}=${app}`] } });
  let pids = 0;
  let cpus = 0;
  let memoryMb = 0;
  for (const c of containers) {
    const s = (await docker
      .getContainer(c.Id)
      .stats({ stream: false })) as Docker.ContainerStats & {
      pids_stats?: { current?: number };
    };
    pids += s.pids_stats?.current ?? 0;
    const cpu = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
    const system = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
    if (system > 0) cpus += (cpu / system) * (s.cpu_stats.online_cpus ?? 1);
    memoryMb += (s.memory_stats.usage ?? 0) / 1024 ** 2;
  }
  return { pids, cpus, memoryMb };
}

export const noisyNeighbourScenario: Scenario = {
  name: 'noisy-neighbour',
  description: `${CONNECTIONS} connections (a request each ${PAUSE_MS} ms after the last answer) to one user's app through the router, quiet then under another user's fork bomb and memory hog, ${ROUNDS} rounds`,
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
      const attackerPids: number[] = [];
      const attackerCpus: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const load = startLoad({
          port: b.routerPort,
          host: b.host,
          connections: CONNECTIONS,
          maxMs: 5 * 60_000,
          phase: 'quiet',
          pauseMs: PAUSE_MS,
        });
        await new Promise((r) => setTimeout(r, PHASE_MS));
        load.phase('starting');
        await attack();
        // The bomb reaches its limit within a second or two.
        await new Promise((r) => setTimeout(r, 2000));
        load.phase('attack');
        // What the attack holds, halfway through: the neighbour's processes and CPU.
        await new Promise((r) => setTimeout(r, PHASE_MS / 2));
        const held = await attackerUse(atk);
        log(
          `round ${round}: mallory's one-offs hold ${held.pids} processes, ${held.cpus.toFixed(2)} CPUs, ${Math.round(held.memoryMb)} MB`,
        );
        attackerPids.push(held.pids);
        attackerCpus.push(held.cpus);
        await new Promise((r) => setTimeout(r, PHASE_MS / 2));
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
        figure("the neighbour's processes mid-attack", 'count', attackerPids),
        figure("the neighbour's CPUs mid-attack", 'ratio', attackerCpus),
      ];
      return figures;
    } finally {
      await b.close();
      const { docker } = await connectDocker(testDockerTarget());
      await removeAppFromEngine(docker, atk);
    }
  },
};
