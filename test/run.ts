// `npm test`: the same installs as `npm start` (Debian packages, Docker Engine,
// stack image), a Redis of the run's own, then every test file with node's
// test runner. Whatever this run started is stopped at the end, so no service
// is left running; the last lines printed are the runner's summary.
//
//   npm test                      every suite
//   npm test -- --fast            unit tests only: no Docker, no installs (seconds)
//   npm test -- --hostile         the hostile-input suite: the files that attack
//                                 Berth as a tenant or a stranger would (HOSTILE)
//   npm test -- test/unit/x.test.ts ...   just those files
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureDockerEngine } from '../infra/bootstrap/docker-engine.ts';
import { ensurePackages, REQUIRED_PROGRAMS } from '../infra/bootstrap/packages.ts';
import { createProgress } from '../infra/bootstrap/progress.ts';
import { startRedisServer } from '../infra/bootstrap/redis-server.ts';
import { loadConfig } from '../services/core/config.ts';
import { createDockerClient } from '../services/core/docker.ts';
import { errorLine } from '../services/core/errors.ts';
import { systemSearchPath } from '../services/core/programs.ts';
import { BUILD_NETWORK } from '../services/platform/build/build-limits.ts';
import { NETWORK } from '../services/platform/scheduler/docker-local.ts';
import { cleanupDocker, ensureTestStackImage } from './harness/docker.ts';
import { freePort } from './harness/ports.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SUITES = ['test/unit', 'test/integration', 'test/e2e'];

async function findTests(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, dir), { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const e of entries) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) found.push(...(await findTests(rel)));
    else if (e.name.endsWith('.test.ts')) found.push(rel);
  }
  return found.sort();
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: {
      fast: { type: 'boolean', default: false },
      hostile: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  const files =
    positionals.length > 0
      ? positionals
      : values.hostile
        ? [...HOSTILE]
        : (await Promise.all((values.fast ? ['test/unit'] : SUITES).map(findTests))).flat();
  const needsMachine = files.some((f) => !f.startsWith('test/unit/'));

  const scratch = await mkdtemp(path.join(os.tmpdir(), 'berth-test-run-'));
  const runId = randomBytes(4).toString('hex');
  const cleanups: (() => Promise<unknown>)[] = [
    () => rm(scratch, { recursive: true, force: true }),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, BERTH_TEST_RUN: runId };
  try {
    if (needsMachine) {
      const progress = createProgress(process.stderr);
      const searchPath = systemSearchPath(process.env.PATH);
      const config = loadConfig({ DOCKER_HOST: process.env.DOCKER_HOST, BERTH_DATA_DIR: scratch });
      await ensurePackages({
        progress,
        searchPath,
        isRoot: process.getuid?.() === 0,
        programs: {
          ...REQUIRED_PROGRAMS,
          // Let's Encrypt's test CA and its DNS server, for the ACME tests.
          pebble: 'pebble',
          'pebble-challtestsrv': 'pebble',
          // Debian's Chromium, which the browser tests drive with playwright-core
          // (never a browser build of Playwright's own: nothing but Debian's
          // packages and npm can be fetched here).
          chromium: 'chromium',
          // systemd's tools check the unit `berth service:install` writes
          // (test/e2e/service.test.ts), where systemd is not PID 1 too.
          'systemd-analyze': 'systemd',
        },
      });
      const engine = await ensureDockerEngine({ config, progress, logDir: scratch, searchPath });
      if (engine.startedByUs) cleanups.push(() => engine.stop());
      const docker = await createDockerClient(config);
      cleanups.push(() => cleanupDocker(runId));
      // Platforms started by the tests, and deploys through the commands, make
      // apps' networks (berth.<app>), shared ones without the test label and
      // the builds' network;
      // those this run made go at its end, unless a container is still on them.
      const berthNetworks = async () =>
        (await docker.listNetworks())
          .filter(
            (n) =>
              n.Name === NETWORK || n.Name === BUILD_NETWORK || n.Name.startsWith(`${NETWORK}.`),
          )
          .map((n) => n.Name);
      const before = new Set(await berthNetworks());
      cleanups.push(async () => {
        // Which run made a network is not written on it, so while another
        // test run goes on, its new networks are left alone: removing one
        // between its creation and its first container failed that run's test.
        const others = await otherTestRuns(runId);
        if (others.length > 0) {
          process.stderr.write(
            `# networks made during this run are left: another test run is going on (pid ${others.join(', ')})\n`,
          );
          return;
        }
        for (const name of await berthNetworks()) {
          if (before.has(name)) continue;
          await docker
            .getNetwork(name)
            .remove()
            .catch(() => {});
        }
      });
      await ensureTestStackImage(docker, scratch, progress);
      const redis = await startRedisServer({
        dir: path.join(scratch, 'redis'),
        port: await freePort(),
      });
      cleanups.push(async () => process.kill(redis.pid, 'SIGKILL'));
      env.BERTH_TEST_REDIS_URL = redis.url;
    }
    // Some files run after the others, alone:
    //   - those that stop and kill a Docker Engine: they time how fast apps
    //     come back, and their cleanup tells the bridges their engine left on
    //     the host from others' by what appeared meanwhile
    //     (test/harness/private-engine.ts);
    //   - the router's hostile-traffic load test: it checks the router's
    //     memory is back within 10% after 10,000 aborts and 1,000 websockets,
    //     and on a machine shared with three other files the round ran 5×
    //     slower, V8's heap grew with the longer backlog and was not given
    //     back within 30 s (+11.5% in one full run of five; +1.2% alone;
    //     alone it still kept +11% once, so a heap kept after the second
    //     round must then not grow in a third). What it measures is the
    //     router, not the scheduler.
    const solo = files.filter((f) => SOLO.includes(path.normalize(f)));
    const shared = files.filter((f) => !SOLO.includes(path.normalize(f)));
    let code = shared.length > 0 ? await runNodeTests(shared, env) : 0;
    for (const file of solo) code = (await runNodeTests([file], env)) || code;
    return code;
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((e: unknown) => process.stderr.write(`cleanup: ${errorLine(e)}\n`));
    }
  }
}

/**
 * The hostile-input suite: each file reproduces attacks on Berth by a tenant
 * (another user's images, volumes, network, the machine's processes and
 * memory, live streams, cookies, the disk through pushes) or a stranger
 * (floods, slow and malformed requests), and fails without its fix. They
 * also run in the full suite.
 */
/** Processes of other test runs on this machine (a BERTH_TEST_RUN that is not `runId`). */
async function otherTestRuns(runId: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'latin1').catch(() => '');
    const run = environ.split('\0').find((v) => v.startsWith('BERTH_TEST_RUN='));
    if (run !== undefined && run !== `BERTH_TEST_RUN=${runId}`) pids.push(Number(entry));
  }
  return pids;
}

const HOSTILE = [
  'test/unit/image-policy.test.ts',
  'test/integration/anonymous-volumes.test.ts',
  'test/integration/app-networks.test.ts',
  'test/integration/body-limit.test.ts',
  'test/integration/bounded-output.test.ts',
  'test/integration/build-limits.test.ts',
  'test/integration/commands.test.ts',
  'test/integration/default-limits.test.ts',
  'test/integration/metrics.test.ts',
  'test/integration/push-quotas.test.ts',
  'test/integration/push-waiter.test.ts',
  'test/integration/quotas.test.ts',
  'test/integration/router-status-page.test.ts',
  'test/integration/router.test.ts',
  'test/integration/ssh-server.test.ts',
  'test/integration/ssh-store-down.test.ts',
  'test/integration/tenant-images.test.ts',
  'test/integration/tenant-nonroot.test.ts',
  'test/integration/tenant-storage.test.ts',
  'test/integration/web-auth.test.ts',
  'test/integration/web-live.test.ts',
  'test/integration/router-primary.test.ts',
  'test/e2e/start.test.ts',
  'test/integration/router-hostile.test.ts',
];

/** Test files that need the machine to themselves (see main). */
const SOLO = [
  'test/e2e/engine-restart.test.ts',
  'test/e2e/power-loss.test.ts',
  'test/integration/router-hostile.test.ts',
  'test/integration/swarm.test.ts',
  'test/integration/swarm-nodes.test.ts',
  'test/integration/swarm-tasks.test.ts',
];

function runNodeTests(files: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    // Most time in the slow suites is spent waiting on Docker and Redis, not CPU.
    '--test-concurrency=4',
    '--test-timeout=600000',
    ...files,
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`npm test: ${errorLine(e)}\n`);
    process.exit(1);
  },
);
