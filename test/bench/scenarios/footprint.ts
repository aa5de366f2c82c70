// Berth's memory footprint and warm start: the PSS sum of every Berth
// process (../footprint.ts) under `npm start` with the default number of
// router processes, idle with no apps, idle with 50 apps deployed, and
// during a Dockerfile build and its push; then the warm start to ready
// (Docker Engine, Redis, the stack image and the compiled code all in place).
import { spawn } from 'node:child_process';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectDocker } from '../../../services/core/docker.ts';
import { berthWithApp } from '../../harness/berth-app.ts';
import { removeAppFromEngine, testDockerTarget, testStackImage } from '../../harness/docker.ts';
import { SERVE_ON_PORT, startPlatform } from '../../harness/platform.ts';
import { describeProcesses, sampleFootprint } from '../footprint.ts';
import { figure, median, type Scenario } from '../scenario.ts';

const IDLE_SAMPLES = 5;
const APPS = 50;
/** Deploys at once while seeding the 50 apps: bounded, on 2 shared cores. */
const DEPLOYS_AT_ONCE = 5;
const WARM_RUNS = 5;
/** What the 50 apps run: the stack image serving its working directory on $PORT. */
const IMAGE = 'berth-bench-footprint/web:latest';
/** Services settle (connections, first reconcile) before an idle sample. */
const SETTLE_MS = 5000;

export const footprintScenario: Scenario = {
  name: 'footprint',
  description: `PSS sum of Berth's processes: idle, with ${APPS} apps, during a build and a push; warm start to ready x${WARM_RUNS}`,
  async run(log) {
    const b = await berthWithApp(
      'footprint',
      {
        // The default (one per CPU), not the tests' one.
        BERTH_ROUTER_PROCESSES: String(os.availableParallelism()),
        BERTH_DRAIN_TIMEOUT: '0',
        BERTH_ALLOWED_BASE_IMAGES: `docker.io/library/*,docker.io/${IMAGE}`,
      },
      'python-plain',
    );
    const dataDir = b.platform.env.BERTH_DATA_DIR ?? '';
    const npmPid = b.platform.child.pid;
    const apps: string[] = [];
    const { docker } = await connectDocker({ dockerHost: testDockerTarget().dockerHost });
    const idle = async (what: string) => {
      await sleep(SETTLE_MS);
      const samples: number[] = [];
      let last: Awaited<ReturnType<typeof sampleFootprint>> | undefined;
      for (let i = 0; i < IDLE_SAMPLES; i++) {
        last = await sampleFootprint(dataDir, npmPid);
        samples.push(last.mb);
        await sleep(1000);
      }
      log(`${what}: ${Math.round(median(samples))} MB in ${last?.processes.length} processes`);
      for (const line of describeProcesses(last?.processes ?? [])) log(`  ${line}`);
      return samples;
    };
    try {
      const idleNoApps = await idle('idle, no apps');

      // A Dockerfile app, so the push builds with the Engine (no runtime download).
      await b.commitFile(
        'Dockerfile',
        `FROM debian:bookworm-slim\nWORKDIR /srv\nCOPY . /srv/\n${SERVE_ON_PORT}\n`,
      );
      const during: number[] = [];
      let peak: Awaited<ReturnType<typeof sampleFootprint>> | undefined;
      let pushing = true;
      const pushStart = performance.now();
      const pushed = b.push().finally(() => {
        pushing = false;
      });
      while (pushing) {
        const s = await sampleFootprint(dataDir, npmPid);
        during.push(s.mb);
        if (!peak || s.mb > peak.mb) peak = s;
        await sleep(250);
      }
      await pushed;
      log(
        `during the push (${Math.round((performance.now() - pushStart) / 1000)} s): median ${Math.round(median(during))} MB, peak ${Math.round(peak?.mb ?? 0)} MB (${during.length} samples)`,
      );
      for (const line of describeProcesses(peak?.processes ?? [])) log(`  ${line}`);

      // 50 apps deployed by Berth itself from one small image (no build), a
      // few at a time, each on a network of its own.
      await new Promise<void>((resolve, reject) => {
        const child = spawn('docker', ['build', '-q', '-t', IMAGE, '-'], {
          stdio: ['pipe', 'ignore', 'inherit'],
        });
        child.stdin.end(`FROM ${testStackImage()}\n${SERVE_ON_PORT}\n`);
        child.on('close', (code) =>
          code === 0 ? resolve() : reject(new Error(`docker build: ${code}`)),
        );
      });
      const t0 = performance.now();
      for (let i = 0; i < APPS; i += DEPLOYS_AT_ONCE) {
        await Promise.all(
          Array.from({ length: Math.min(DEPLOYS_AT_ONCE, APPS - i) }, async (_, j) => {
            const app = `${b.app}-${String(i + j).padStart(2, '0')}`;
            apps.push(app);
            await b.command('apps:create', app);
            await b.command('git:from-image', app, IMAGE);
          }),
        );
      }
      log(`${APPS} apps deployed in ${Math.round((performance.now() - t0) / 1000)} s`);
      const idleApps = await idle(`idle, ${APPS} apps`);

      // Warm starts: everything in place, Redis running; the same data directory.
      const warm: number[] = [];
      const env = b.platform.env;
      await b.platform.stop();
      for (let i = 0; i < WARM_RUNS; i++) {
        const p = await startPlatform({ dataDir, env });
        warm.push(p.readyMs);
        log(`warm start: ${Math.round(p.readyMs)} ms to ready`);
        await p.stop();
      }
      return [
        figure('PSS sum, idle, no apps', 'MB', idleNoApps),
        figure(`PSS sum, idle, ${APPS} apps deployed`, 'MB', idleApps),
        figure('PSS sum, during a build and a push', 'MB', during),
        figure('PSS sum, peak during a build and a push', 'MB', [peak?.mb ?? 0]),
        figure('warm start to ready', 'ms', warm),
      ];
    } finally {
      for (const app of apps) await removeAppFromEngine(docker, app).catch(() => {});
      await b.close();
      await docker
        .getImage(IMAGE)
        .remove()
        .catch(() => {});
    }
  },
};
