// The router's data path against the alternatives, with wrk on loopback at 50
// connections, all in one run, pair by pair: each round runs every target for
// a few seconds, in an order rotated from round to round, so a noisy moment
// on this shared machine hits every target alike. Targets:
//   direct   wrk → the backend (what the client and backend cost by themselves);
//   pipe     wrk → a plain node:http pipe with a keep-alive agent, its own
//            process: the ceiling for a Node.js data path;
//   router   wrk → Berth's router (proxy/main.ts, the real service, with Redis,
//            an app whose route points at the backend, its headers and metrics;
//            it listens on every interface, as in production, on a free port);
//   nginx    wrk → Debian's nginx configured as Dokku configures it;
// and, to tell what limits the router:
//   http-proxy-1.18  the pipe's job done by http-proxy 1.18.1's proxy.web
//                 alone (the library the router is built on);
//   http-proxy-3  the same by http-proxy-3, its maintained fork;
//   router-code   proxy/forward.ts in a bare server: the router less its service.
// (test/bench/proxy-variants.ts has the Node.js variants.) Every proxy
// gets the same number of processes (BERTH_ROUTER_PROCESSES, cluster workers,
// nginx's worker_processes): 1, as the reference figures, then 2.
// With 1 process, the proxy under test has a core to itself (CPU 1; wrk and
// the backend share CPU 0, pinned with taskset): the figures are then each
// proxy's own cost per request, not how the scheduler shared two cores among
// three busy processes (noise that moved one target's rounds by a quarter). With
// 2 processes nothing is pinned: that is the router as it runs here.
//
// The backend is Debian's nginx answering a small fixed body from memory
// (one worker per CPU thread): 75–80k req/s on one core here, 7× what a
// Node.js proxy forwards, and the cheapest answer per request, which leaves
// the most of the 2 cores to the proxy under test (wrk and the backend share
// them with it). A Node.js backend would cost about as much CPU per request
// as the proxy itself and blur the comparison.
//
// The bar (the router issue): at least 0.8× the pipe's throughput with a p99
// no more than 2× the pipe's.
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePackages } from '../../../infra/bootstrap/packages.ts';
import { createProgress } from '../../../infra/bootstrap/progress.ts';
import { startRedisServer } from '../../../infra/bootstrap/redis-server.ts';
import { loadConfig } from '../../../services/core/config.ts';
import { systemSearchPath } from '../../../services/core/programs.ts';
import { openStore } from '../../../services/core/store/index.ts';
import { setRoutes } from '../../../services/platform/routes/routes.ts';
import { freePort } from '../../harness/ports.ts';
import { startRouter } from '../../harness/router.ts';
import { pinTree } from '../cpu.ts';
import { dokkuProxyConfig, startNginx, staticConfig, stopChild, untilListening } from '../nginx.ts';
import { type Figure, figure, type Scenario } from '../scenario.ts';
import { runWrk, type WrkResult, wrkScript } from '../wrk.ts';

const CONNECTIONS = 50;
// A shorter run while exploring: BERTH_BENCH_PROXY_ROUNDS, _SECONDS and
// _PROCESSES (e.g. "1"); the defaults are the figures' own. BERTH_BENCH_ROUTER_B
// (the path of another checkout, its npm ci done) adds that checkout's router
// as the target `router-b`, measured in the same rounds: a before/after of
// the router with the machine's noise shared.
const ROUNDS = Number(process.env.BERTH_BENCH_PROXY_ROUNDS || 5);
const SECONDS = Number(process.env.BERTH_BENCH_PROXY_SECONDS || 5);
const WARMUP_SECONDS = 2;
const PROCESS_COUNTS = (process.env.BERTH_BENCH_PROXY_PROCESSES || '1,2').split(',').map(Number);
const APP = 'bench';
const DOMAIN = 'berth.test';
const HOST = `${APP}.${DOMAIN}`;
const BODY = `${'b'.repeat(63)}\n`;
/** Programs the scenario runs → their Debian packages. */
const PROGRAMS = { wrk: 'wrk', nginx: 'nginx', 'redis-server': 'redis-server' };
const VARIANTS = fileURLToPath(new URL('../proxy-variants.ts', import.meta.url));

interface Target {
  name: string;
  port: number;
  /** The proxy's process (its primary or master), to pin; none for direct. */
  pid?: number;
}

/** With one process each: the proxy's core, and the one wrk and the backend share. */
const PROXY_CPU = '1';
const LOAD_CPU = '0';
const ALL_CPUS = `0-${os.availableParallelism() - 1}`;

export const proxyScenario: Scenario = {
  name: 'proxy',
  description: `wrk, ${CONNECTIONS} connections: direct, plain node pipe, http-proxy 1.18.1 alone, http-proxy-3 alone, the router's path on http.request, forward.ts in a bare server, Berth's router, nginx (Dokku's config); ${ROUNDS} rounds × ${SECONDS} s, ${PROCESS_COUNTS.join(' and ')} process(es) each`,
  async run(log) {
    await ensurePackages({
      progress: createProgress(process.stderr),
      searchPath: systemSearchPath(process.env.PATH),
      isRoot: process.getuid?.() === 0,
      programs: PROGRAMS,
      keepStopped: { nginx: 'nginx' },
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-proxy-'));
    // Stopped in reverse order at the end, whatever happened.
    const stops: (() => Promise<void>)[] = [];
    try {
      const script = await wrkScript(dir);
      const backendPort = await freePort();
      const backendDir = path.join(dir, 'backend');
      const backend = await startNginx(
        backendDir,
        backendPort,
        staticConfig(backendDir, {
          port: backendPort,
          workers: os.availableParallelism(),
          body: BODY,
        }),
      );
      stops.push(backend.stop);
      const redisUrl = await startRedis(path.join(dir, 'redis'), stops);

      const figures: Figure[] = [];
      for (const processes of PROCESS_COUNTS) {
        const proxies: (() => Promise<void>)[] = [];
        stops.push(() => stopEach(proxies));
        const targets: Target[] = [
          { name: 'direct', port: backendPort },
          ...(await startProxies(dir, processes, backendPort, redisUrl, proxies)),
        ];
        const pinned = processes === 1 && os.availableParallelism() >= 2;
        await pinTree(backend.pid, pinned ? LOAD_CPU : ALL_CPUS);
        for (const t of targets) if (t.pid) await pinTree(t.pid, pinned ? PROXY_CPU : ALL_CPUS);
        const measure = (t: Target, seconds: number) =>
          runWrk({
            script,
            port: t.port,
            host: HOST,
            connections: CONNECTIONS,
            threads: 1,
            seconds,
            ...(pinned ? { cpus: LOAD_CPU } : {}),
          });
        // Unmeasured: JIT, pooled connections, page cache.
        for (const t of targets) check(t, await measure(t, WARMUP_SECONDS));

        const results = new Map<string, WrkResult[]>(targets.map((t) => [t.name, []]));
        for (let round = 0; round < ROUNDS; round++) {
          const order = targets.map((_, i) => targets[(i + round) % targets.length] as Target);
          for (const t of order) results.get(t.name)?.push(check(t, await measure(t, SECONDS)));
          const line = targets.map((t) => {
            const r = results.get(t.name)?.at(-1) as WrkResult;
            return `${t.name} ${Math.round(r.requestsPerSecond)} req/s, p50 ${r.p50Ms.toFixed(2)}, p99 ${r.p99Ms.toFixed(2)} ms`;
          });
          log(`${processes}p round ${round + 1}: ${line.join(' | ')}`);
        }
        figures.push(...figuresFor(processes, results));
        await stopEach(proxies);
      }
      return figures;
    } finally {
      await stopEach(stops);
      await rm(dir, { recursive: true, force: true });
    }
  },
};

/** Runs the stops in reverse order (and empties the list), each whatever the others did. */
async function stopEach(stops: (() => Promise<void>)[]): Promise<void> {
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
}

/** A redis-server of the bench's own with the app and its route to the backend. */
async function startRedis(dir: string, stops: (() => Promise<void>)[]): Promise<string> {
  const redis = await startRedisServer({ dir, port: await freePort() });
  stops.push(async () => {
    try {
      process.kill(redis.pid, 'SIGKILL');
    } catch {}
  });
  return redis.url;
}

/** The proxies with `processes` processes each, in front of the backend. */
async function startProxies(
  dir: string,
  processes: number,
  backendPort: number,
  redisUrl: string,
  stops: (() => Promise<void>)[],
): Promise<Target[]> {
  const backend = `127.0.0.1:${backendPort}`;
  const targets: Target[] = [];
  for (const variant of ['pipe', 'http-proxy-1.18', 'http-proxy-3', 'router-code']) {
    const port = await freePort();
    const child = fork(VARIANTS, [variant, String(port), backend, String(processes)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    stops.push(() => stopChild(child, 'SIGTERM'));
    await untilListening(port, child, () => `the ${variant} variant`);
    targets.push({ name: variant, port, pid: child.pid as number });
  }

  // Each router gets a prefix of its own: the app is created once per prefix.
  const prefix = `berth-bench-${processes}:`;
  const store = await openStore(loadConfig({ REDIS_URL: redisUrl, BERTH_REDIS_PREFIX: prefix }));
  try {
    await store.users.create('bench', 'admin');
    await store.apps.create({ name: APP, owner: 'bench' });
    await setRoutes(store.redis, prefix, APP, 1, [backend]);
  } finally {
    await store.close();
  }
  const router = await startRouter({
    redisUrl,
    prefix,
    domain: DOMAIN,
    env: { BERTH_ROUTER_PROCESSES: String(processes) },
  });
  stops.push(router.stop);
  // Another checkout's router beside this one, for a before/after in the same run.
  const other = process.env.BERTH_BENCH_ROUTER_B;
  const routerB = other
    ? await startRouter({
        redisUrl,
        prefix,
        domain: DOMAIN,
        env: { BERTH_ROUTER_PROCESSES: String(processes) },
        root: other,
      })
    : undefined;
  if (routerB) stops.push(routerB.stop);

  const nginxDir = path.join(dir, `nginx-${processes}`);
  const nginxPort = await freePort();
  const nginx = await startNginx(
    nginxDir,
    nginxPort,
    dokkuProxyConfig(nginxDir, {
      port: nginxPort,
      workers: processes,
      backend,
      keepalive: CONNECTIONS,
    }),
  );
  stops.push(nginx.stop);
  targets.push(
    { name: 'router', port: router.port, pid: router.child.pid as number },
    ...(routerB
      ? [{ name: 'router-b', port: routerB.port, pid: routerB.child.pid as number }]
      : []),
    { name: 'nginx', port: nginxPort, pid: nginx.pid },
  );
  return targets;
}

/** Throws when a target answered with errors: its req/s would not be a proxy's. */
function check(t: Target, r: WrkResult): WrkResult {
  if (r.badStatus > 0 || r.socketErrors > 0) {
    throw new Error(
      `${t.name} (port ${t.port}): ${r.badStatus} error statuses, ${r.socketErrors} socket errors`,
    );
  }
  return r;
}

function figuresFor(processes: number, results: Map<string, WrkResult[]>): Figure[] {
  const of = (name: string) => results.get(name) ?? [];
  const label = `${processes}p`;
  const figures: Figure[] = [];
  for (const [name, rs] of results) {
    const samples = (key: keyof WrkResult) => rs.map((r) => r[key]);
    figures.push(
      figure(`${label} ${name}: throughput`, 'req/s', samples('requestsPerSecond')),
      figure(`${label} ${name}: p50`, 'ms', samples('p50Ms')),
      figure(`${label} ${name}: p99`, 'ms', samples('p99Ms')),
    );
  }
  /** Per round: one target's figure over another's in the same round. */
  const ratio = (a: string, b: string, key: 'requestsPerSecond' | 'p99Ms') =>
    of(a).map((r, i) => r[key] / ((of(b)[i] as WrkResult)[key] as number));
  const rps = 'requestsPerSecond';
  figures.push(
    figure(`${label} router/pipe throughput (bar ≥ 0.8)`, 'ratio', ratio('router', 'pipe', rps)),
    figure(`${label} router/pipe p99 (bar ≤ 2)`, 'ratio', ratio('router', 'pipe', 'p99Ms')),
    figure(`${label} router/nginx throughput`, 'ratio', ratio('router', 'nginx', rps)),
    figure(`${label} router/nginx p99`, 'ratio', ratio('router', 'nginx', 'p99Ms')),
    // What limits the router: its library by itself, and the service around forward.ts.
    figure(
      `${label} http-proxy-1.18/pipe throughput`,
      'ratio',
      ratio('http-proxy-1.18', 'pipe', rps),
    ),
    figure(`${label} http-proxy-3/pipe throughput`, 'ratio', ratio('http-proxy-3', 'pipe', rps)),
    figure(`${label} router/router-code throughput`, 'ratio', ratio('router', 'router-code', rps)),
    figure(
      `${label} router/http-proxy-1.18 throughput`,
      'ratio',
      ratio('router', 'http-proxy-1.18', rps),
    ),
  );
  if (results.has('router-b')) {
    figures.push(
      figure(`${label} router/router-b throughput`, 'ratio', ratio('router', 'router-b', rps)),
      figure(`${label} router/router-b p99`, 'ratio', ratio('router', 'router-b', 'p99Ms')),
    );
  }
  return figures;
}
