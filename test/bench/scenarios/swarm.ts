// `npm run bench swarm` (issue 21): a 3-node Docker Swarm made on this
// machine (test/harness/swarm.ts, nested Engines on an --internal network)
// and one Berth (`npm start`) with two apps pushed from the same checkout,
// one on the swarm scheduler and one on docker-local, in the same rounds:
//   - push to serving (git push until the router serves the new commit),
//     pair by pair, and the ratio swarm / docker-local per pair;
//   - the image's distribution per release: the push of the release's image
//     to Berth's registry, as the deploy printed it ("Pushed to ... in N s"),
//     the nodes' pull being part of the swarm's push to serving;
//   - the router's throughput to the swarm app's task (on a node, reached at
//     the node's address) beside the docker-local instance (on this
//     machine), wrk on loopback, pair by pair, and their ratio.
// The app is a Dockerfile app (the footprint scenario's): its build is the
// Engine's, so the figures are the deploy's, not a runtime download's.
import { readFile } from 'node:fs/promises';
import { ensurePackages } from '../../../infra/bootstrap/packages.ts';
import { createProgress } from '../../../infra/bootstrap/progress.ts';
import { systemSearchPath } from '../../../services/core/programs.ts';
import { berthWithApp } from '../../harness/berth-app.ts';
import { newTestRunId, removeAppFromEngine, testDocker } from '../../harness/docker.ts';
import { SERVE_ON_PORT } from '../../harness/platform.ts';
import { removeOwnRegistry, startSwarm } from '../../harness/swarm.ts';
import { figure, type Scenario } from '../scenario.ts';
import { runWrk, wrkScript } from '../wrk.ts';

// Fewer while exploring: BERTH_BENCH_SWARM_ROUNDS.
const ROUNDS = Number(process.env.BERTH_BENCH_SWARM_ROUNDS || 3);
const WRK_SECONDS = 5;
const CONNECTIONS = 20;
const SERVED_WITHIN_MS = 180_000;

export const swarmScenario: Scenario = {
  name: 'swarm',
  description: `a 3-node swarm on this machine: push to serving on the swarm beside docker-local, the image's distribution per release, router throughput to a task on a node beside a local instance (wrk, ${CONNECTIONS} connections); ${ROUNDS} rounds`,
  async run(log) {
    await ensurePackages({
      progress: createProgress(process.stderr),
      searchPath: systemSearchPath(process.env.PATH),
      isRoot: process.getuid?.() === 0,
      programs: { wrk: 'wrk' },
    });
    const { docker: shared } = await testDocker();
    const swarm = await startSwarm(shared, { runId: newTestRunId(), pull: true });
    log(
      `swarm: 3 engines ready in ${swarm.figures.enginesReadyMs} ms, formed in ${swarm.figures.swarmFormedMs} ms`,
    );
    const registry = `${swarm.gateway}:5000`;
    try {
      const b = await berthWithApp(
        'bsw',
        {
          BERTH_SWARM_MANAGER: swarm.manager,
          BERTH_SWARM_NETWORK: swarm.overlay,
          BERTH_SWARM_REGISTRY: registry,
          BERTH_DRAIN_TIMEOUT: '0',
          BERTH_ALLOWED_BASE_IMAGES: 'docker.io/library/*',
        },
        'python-plain',
      );
      const local = `${b.app}l`;
      try {
        const ca = (
          await b.command('registry:report', '--global', '--registry-own-ca-file')
        ).trim();
        await swarm.trustRegistry(registry, await readFile(ca, 'utf8'));
        await b.command('apps:create', b.app);
        await b.command('scheduler:set', b.app, 'selected', 'swarm');
        await b.command('apps:create', local);
        await b.git(
          'remote',
          'add',
          'local',
          `ssh://berth@127.0.0.1:${b.platform.env.BERTH_SSH_PORT}/${local}`,
        );
        await b.commitFile(
          'Dockerfile',
          `FROM debian:bookworm-slim\nWORKDIR /srv\nCOPY . /srv/\n${SERVE_ON_PORT}\n`,
        );
        const targets = [
          { name: 'swarm', remote: 'deploy', host: b.host },
          { name: 'docker-local', remote: 'local', host: `${local}.localhost` },
        ];
        // The first deploy of each (the base image's layers into the registry and the nodes): unmeasured.
        for (const t of targets) {
          const first = await b.pushWithOutput(t.remote);
          if (first.code !== 0) throw new Error(`git push ${t.remote}: ${first.out.slice(-2000)}`);
        }
        for (const t of targets) await b.untilServed('Dockerfile', SERVED_WITHIN_MS, t.host);

        const servedMs: Record<string, number[]> = { swarm: [], 'docker-local': [] };
        const ratio: number[] = [];
        const distributionMs: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const marker = `round-${round}-${Date.now().toString(36)}.txt`;
          await b.commitFile(marker, 'a new release\n');
          // Alternating which goes first, so neither always meets a warmer machine.
          const order = round % 2 === 0 ? targets : [...targets].reverse();
          const took: Record<string, number> = {};
          for (const t of order) {
            const t0 = performance.now();
            const { code, out } = await b.pushWithOutput(t.remote);
            if (code !== 0) throw new Error(`git push ${t.remote}: ${code}\n${out.slice(-2000)}`);
            await b.untilServed(marker, SERVED_WITHIN_MS, t.host);
            took[t.name] = performance.now() - t0;
            servedMs[t.name]?.push(Math.round(took[t.name] as number));
            const pushed = /Pushed to \S+ in ([0-9.]+) s/.exec(out);
            if (t.name === 'swarm') {
              if (!pushed)
                throw new Error(`the swarm push said no "Pushed to": ${out.slice(-1500)}`);
              distributionMs.push(Math.round(Number(pushed[1]) * 1000));
            }
          }
          ratio.push(
            Number(((took.swarm as number) / (took['docker-local'] as number)).toFixed(2)),
          );
          log(
            `round ${round + 1}: push to serving swarm ${Math.round(took.swarm as number)} ms, docker-local ${Math.round(took['docker-local'] as number)} ms; image into the registry ${distributionMs.at(-1)} ms`,
          );
        }

        const script = await wrkScript(b.dir);
        const rps: Record<string, number[]> = { swarm: [], 'docker-local': [] };
        const rpsRatio: number[] = [];
        for (const t of targets) {
          // Unmeasured: pooled connections, the page cache.
          await runWrk({
            script,
            port: b.routerPort,
            host: t.host,
            connections: CONNECTIONS,
            threads: 1,
            seconds: 2,
          });
        }
        for (let round = 0; round < ROUNDS; round++) {
          const order = round % 2 === 0 ? targets : [...targets].reverse();
          const got: Record<string, number> = {};
          for (const t of order) {
            const r = await runWrk({
              script,
              port: b.routerPort,
              host: t.host,
              connections: CONNECTIONS,
              threads: 1,
              seconds: WRK_SECONDS,
            });
            if (r.badStatus + r.socketErrors > 0) {
              throw new Error(
                `${t.name}: ${r.badStatus} bad answers, ${r.socketErrors} socket errors`,
              );
            }
            got[t.name] = r.requestsPerSecond;
            rps[t.name]?.push(Math.round(r.requestsPerSecond));
          }
          rpsRatio.push(
            Number(((got.swarm as number) / (got['docker-local'] as number)).toFixed(2)),
          );
          log(
            `round ${round + 1}: router to the swarm task ${Math.round(got.swarm as number)} req/s, to the local instance ${Math.round(got['docker-local'] as number)} req/s`,
          );
        }
        return [
          figure('push to serving, swarm', 'ms', servedMs.swarm ?? []),
          figure('push to serving, docker-local', 'ms', servedMs['docker-local'] ?? []),
          figure('push to serving, swarm / docker-local (per pair)', 'ratio', ratio),
          figure("image into Berth's registry per release", 'ms', distributionMs),
          figure('router to a swarm task on a node', 'req/s', rps.swarm ?? []),
          figure('router to a docker-local instance', 'req/s', rps['docker-local'] ?? []),
          figure('router throughput, swarm task / local instance (per pair)', 'ratio', rpsRatio),
        ];
      } finally {
        const { docker } = await testDocker();
        await b.close();
        await removeAppFromEngine(docker, local).catch(() => {});
        await removeOwnRegistry(docker, registry).catch(() => {});
      }
    } finally {
      await swarm.remove();
    }
  },
};
