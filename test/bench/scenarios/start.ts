// Cold and warm `npm start` to ready. Cold: no Docker Engine and no Redis
// running (the packages and the stack image are in place, as after a reboot).
// Warm: both running, a second start. Each run uses a fresh data directory
// and Redis port, and ends with Ctrl-C.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPlatform } from '../../harness/platform.ts';
import { figure, type Scenario } from '../scenario.ts';

const COLD_RUNS = 3;
const WARM_RUNS = 5;

/** Stops the local dockerd (SIGTERM, as its service manager would) and waits for it to exit. */
async function stopDockerd(): Promise<void> {
  const pid = Number((await readFile('/var/run/docker.pid', 'utf8').catch(() => '')).trim());
  if (!(pid > 0)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(100);
  }
  throw new Error(`dockerd (pid ${pid}) did not stop within 60 s`);
}

export const startScenario: Scenario = {
  name: 'start',
  description: `npm start to ready: cold (no Docker Engine, no Redis) x${COLD_RUNS}, warm x${WARM_RUNS}`,
  async run(log) {
    const cold: number[] = [];
    const warm: number[] = [];
    const stops: number[] = [];
    const runOnce = async (kind: 'cold' | 'warm') => {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-start-'));
      try {
        if (kind === 'cold') await stopDockerd();
        const p = await startPlatform({ dataDir });
        // The warm start needs Redis running too: start once to bring it up,
        // then measure the second start on the same data directory.
        if (kind === 'warm') {
          await p.stop();
          const again = await startPlatform({ dataDir, env: p.env });
          warm.push(again.readyMs);
          stops.push((await again.stop()).ms);
          log(`warm: ${Math.round(again.readyMs)} ms to ready`);
        } else {
          cold.push(p.readyMs);
          stops.push((await p.stop()).ms);
          log(`cold: ${Math.round(p.readyMs)} ms to ready`);
        }
        await p.stopRedis();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    };
    for (let i = 0; i < COLD_RUNS; i++) await runOnce('cold');
    for (let i = 0; i < WARM_RUNS; i++) await runOnce('warm');
    return [
      figure('cold start to ready', 'ms', cold),
      figure('warm start to ready', 'ms', warm),
      figure('Ctrl-C to stopped', 'ms', stops),
    ];
  },
};
