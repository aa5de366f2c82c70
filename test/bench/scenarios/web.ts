// The status page as its users get it, beside a baseline: the apps page with
// 200 apps and an app page with its charts (three hours of the routers'
// per-minute counts), each measured
//   - in server time: fastify's own clock from the request's arrival to the
//     reply sent (reply.elapsedTime), over HTTP on loopback;
//   - in bytes transferred: what the browser receives for the page, headers
//     and body as sent (with `Accept-Encoding: gzip, deflate, br`, as a
//     browser asks), from Chromium's Resource Timing (transferSize), the
//     page alone and with its stylesheet and script on a cold cache;
//   - in first paint: `first-contentful-paint` of the Paint Timing API in
//     Debian's Chromium (headless, a fresh context each load), on loopback
//     and over a link throttled as a user's (DevTools' network emulation).
// "now" is the web service of this checkout; "base" the same files of a
// baseline commit (BERTH_BENCH_BASE, a git ref; default: where HEAD left
// main), extracted under .bench/ so that it resolves this checkout's
// node_modules. Both serve the same Redis data, side by side in this
// process, and are measured pair by pair, alternating which goes first,
// since these machines are shared and noisy.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import { startRedisServer } from '../../../infra/bootstrap/redis-server.ts';
import { Store } from '../../../services/core/store/index.ts';
import { launchChromium } from '../../harness/browser.ts';
import { seedApps, seedTraffic } from '../../harness/many-apps.ts';
import { freePort } from '../../harness/ports.ts';
import { type Figure, figure, median, type Scenario } from '../scenario.ts';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const APPS = 200;
const OWNER = 'busy';
const CHART_APP = 'app-000';
const CHART_MINUTES = 180;
const PREFIX = 'berth-bench-web:';
const WARMUP = 5;
const RUNS = 30;
const LOADS = 9;

const PAGES = [
  { name: `apps page (${APPS} apps)`, path: '/', shows: `${APPS} apps` },
  {
    name: `app page with charts (${CHART_MINUTES} min of metrics)`,
    path: `/apps/${CHART_APP}`,
    shows: 'Traffic',
  },
] as const;

interface Side {
  label: 'now' | 'base';
  origin: string;
  cookie: { name: string; value: string };
  /** Server times by URL path. */
  times: Map<string, number[]>;
  close(): Promise<void>;
}

/** The web service of the checkout at `root`, on a free loopback port, signed in as OWNER. */
async function startSide(label: Side['label'], root: string, redisUrl: string): Promise<Side> {
  const load = (file: string) => import(pathToFileURL(path.join(root, file)).href);
  const [{ Store: SideStore }, { build }, { createLogger }, { createLoginLink }, { ROOT: root_ }] =
    await Promise.all([
      load('services/core/store/index.ts'),
      load('services/web/server.ts'),
      load('services/core/log.ts'),
      load('services/platform/accounts/sign-in.ts'),
      load('services/core/actor.ts'),
    ]);
  const redis = new Redis(redisUrl);
  const store = new SideStore(redis, PREFIX);
  const app = build({ store, log: createLogger('web', { level: 'silent' }), domain: 'berth.test' });
  const times = new Map<string, number[]>();
  app.addHook(
    'onResponse',
    async (req: { url: string }, reply: { elapsedTime: number; statusCode: number }) => {
      if (reply.statusCode !== 200) return;
      times.set(req.url, [...(times.get(req.url) ?? []), reply.elapsedTime]);
    },
  );
  const port = await freePort();
  await app.listen({ host: '127.0.0.1', port });
  const origin = `http://127.0.0.1:${port}`;
  const link = await createLoginLink(store, { webPort: port, domain: 'berth.test' }, root_, {
    user: OWNER,
  });
  // The sign-in page's button posts to the link (its GET only shows the page).
  const signIn = await fetch(`${origin}${new URL(link.url).pathname}`, {
    method: 'POST',
    redirect: 'manual',
  });
  const [pair = ''] = (signIn.headers.get('set-cookie') ?? '').split(';');
  const [name = '', ...value] = pair.split('=');
  if (name === '') throw new Error(`${label}: signing in answered ${signIn.status}, no cookie`);
  return {
    label,
    origin,
    cookie: { name, value: value.join('=') },
    times,
    async close() {
      await app.close();
      redis.disconnect();
    },
  };
}

/** GET over HTTP as a browser asks (compression welcome); the bytes as sent, headers included. */
function get(
  side: Side,
  urlPath: string,
): Promise<{ status: number; bytes: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${side.origin}${urlPath}`,
      {
        headers: {
          cookie: `${side.cookie.name}=${side.cookie.value}`,
          'accept-encoding': 'gzip, deflate, br',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          let head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`;
          for (let i = 0; i < res.rawHeaders.length; i += 2)
            head += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            bytes: Buffer.byteLength(`${head}\r\n`) + body.length,
            body: res.headers['content-encoding'] ? '' : body.toString(),
          });
        });
      },
    );
    req.on('error', reject);
  });
}

/** The link the browser loads over: loopback as it is, or throttled as a user's connection. */
interface Link {
  name: string;
  mbit?: number;
  latencyMs?: number;
}
const LINKS: readonly Link[] = [
  { name: 'loopback' },
  { name: '10 Mbit/s, 40 ms', mbit: 10, latencyMs: 40 },
];

interface Load {
  fcp: number;
  /** When the page's last byte arrived (Navigation Timing's responseEnd), from the navigation's start. */
  received: number;
  /** The page's own response, headers and body, as Chromium counts it. */
  pageBytes: number;
  /** The page and every resource it loaded (stylesheet, script), cold cache. */
  allBytes: number;
}

/** One cold load of the page in a fresh browser context. */
async function loadInChromium(
  browser: Browser,
  side: Side,
  urlPath: string,
  link: Link,
): Promise<Load> {
  const context = await browser.newContext();
  try {
    await context.addCookies([{ ...side.cookie, url: side.origin }]);
    const page = await context.newPage();
    if (link.mbit !== undefined) {
      // DevTools' network throttling, as its "Fast 4G"-like presets do it.
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: link.latencyMs ?? 0,
        downloadThroughput: (link.mbit * 1e6) / 8,
        uploadThroughput: (link.mbit * 1e6) / 8,
      });
    }
    const res = await page.goto(`${side.origin}${urlPath}`, { waitUntil: 'load' });
    if (res?.status() !== 200) throw new Error(`${side.label} ${urlPath}: ${res?.status()}`);
    return await page.evaluate(async () => {
      // The browser's Performance API (this project's types are Node.js's).
      const perf = performance as unknown as {
        now(): number;
        getEntriesByName(name: string): { startTime: number }[];
        getEntriesByType(type: string): { transferSize: number; responseEnd: number }[];
      };
      const deadline = perf.now() + 10_000;
      let fcp = perf.getEntriesByName('first-contentful-paint')[0];
      while (fcp === undefined && perf.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        fcp = perf.getEntriesByName('first-contentful-paint')[0];
      }
      const nav = perf.getEntriesByType('navigation')[0] ?? {
        transferSize: Number.NaN,
        responseEnd: Number.NaN,
      };
      const resources = perf.getEntriesByType('resource');
      return {
        fcp: fcp?.startTime ?? Number.NaN,
        received: nav.responseEnd,
        pageBytes: nav.transferSize,
        allBytes: nav.transferSize + resources.reduce((n, r) => n + r.transferSize, 0),
      };
    });
  } finally {
    await context.close();
  }
}

/** The ref's services/ (and package.json, for the version) extracted under .bench/ (once per commit), where this checkout's node_modules resolve. */
async function baselineRoot(log: (line: string) => void): Promise<string> {
  const ref =
    process.env.BERTH_BENCH_BASE ||
    (await execFileP('git', ['merge-base', 'HEAD', 'main'], { cwd: ROOT })).stdout.trim();
  const sha = (
    await execFileP('git', ['rev-parse', '--verify', `${ref}^{commit}`], { cwd: ROOT })
  ).stdout.trim();
  const dir = path.join(ROOT, '.bench', `base-${sha.slice(0, 12)}`);
  log(`baseline: ${ref} (${sha.slice(0, 12)}), in ${path.relative(ROOT, dir)}`);
  const done = path.join(dir, '.extracted');
  if (await stat(done).catch(() => undefined)) return dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const git = spawn('git', ['archive', '--format=tar', sha, 'services', 'package.json'], {
      cwd: ROOT,
    });
    const tar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'inherit', 'inherit'] });
    git.stdout.pipe(tar.stdin);
    tar.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}`))));
    git.on('error', reject);
  });
  await writeFile(done, `${sha}\n`);
  return dir;
}

const kb = (bytes: number) => Math.round((bytes / 1024) * 10) / 10;

export const webScenario: Scenario = {
  name: 'web',
  description: `the apps page (${APPS} apps) and an app page with charts: server time (${RUNS} pairs after ${WARMUP}), bytes transferred, first contentful paint in Chromium (${LOADS} pairs); this checkout beside a baseline commit`,
  async run(log) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-web-'));
    let redisPid = 0;
    const sides: Side[] = [];
    let browser: Browser | undefined;
    try {
      const base = await baselineRoot(log);
      const server = await startRedisServer({ dir, port: await freePort() });
      redisPid = server.pid;
      const redis = new Redis(server.url);
      try {
        const store = new Store(redis, PREFIX);
        await store.checkSchema();
        await seedApps(store, OWNER, APPS);
        await seedTraffic(store, CHART_APP, CHART_MINUTES);
      } finally {
        redis.disconnect();
      }
      sides.push(await startSide('now', ROOT, server.url));
      sides.push(await startSide('base', base, server.url));
      const figures: Figure[] = [];

      // Server time, and the bytes a browser's request gets, pair by pair.
      for (const p of PAGES) {
        const bytes = new Map<Side, number>();
        for (let i = 0; i < WARMUP + RUNS; i++) {
          for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
            const r = await get(side, p.path);
            if (r.status !== 200 || (r.body !== '' && !r.body.includes(p.shows))) {
              throw new Error(`${side.label} ${p.path}: ${r.status} ${r.body.slice(0, 200)}`);
            }
            bytes.set(side, r.bytes);
          }
        }
        const [now, old] = sides.map((s) => (s.times.get(p.path) ?? []).slice(-RUNS));
        figures.push(
          figure(`${p.name}, server time, now`, 'ms', now ?? []),
          figure(`${p.name}, server time, base`, 'ms', old ?? []),
          figure(
            `${p.name}, server time, now/base per pair`,
            'ratio',
            (now ?? []).map((t, i) => t / (old?.[i] ?? Number.NaN)),
          ),
        );
        log(
          `${p.name}: ${sides.map((s) => `${s.label} ${kb(bytes.get(s) ?? 0)} KB over HTTP`).join(', ')}`,
        );
      }

      // In Chromium: first contentful paint and what it transferred.
      browser = await launchChromium();
      for (const p of PAGES) {
        for (const link of LINKS) {
          const loads = new Map<Side, Load[]>(sides.map((s) => [s, []]));
          // One unmeasured load each: the first launches the renderer's caches.
          for (const side of sides) await loadInChromium(browser, side, p.path, link);
          for (let i = 0; i < LOADS; i++) {
            for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
              loads.get(side)?.push(await loadInChromium(browser, side, p.path, link));
            }
          }
          for (const side of sides) {
            const l = loads.get(side) ?? [];
            figures.push(
              figure(
                `${p.name}, first contentful paint (${link.name}), ${side.label}`,
                'ms',
                l.map((x) => x.fcp),
              ),
              figure(
                `${p.name}, page received (${link.name}), ${side.label}`,
                'ms',
                l.map((x) => x.received),
              ),
            );
            if (link.mbit === undefined) {
              figures.push(
                figure(
                  `${p.name}, transferred (page), ${side.label}`,
                  'KB',
                  l.map((x) => kb(x.pageBytes)),
                ),
                figure(
                  `${p.name}, transferred (with assets, cold), ${side.label}`,
                  'KB',
                  l.map((x) => kb(x.allBytes)),
                ),
              );
            }
            log(
              `${p.name} in Chromium over ${link.name}, ${side.label}: page received at ${median(l.map((x) => x.received)).toFixed(0)} ms, first paint ${median(l.map((x) => x.fcp)).toFixed(0)} ms, ${kb(median(l.map((x) => x.pageBytes)))} KB page, ${kb(median(l.map((x) => x.allBytes)))} KB with assets`,
            );
          }
        }
      }
      return figures;
    } finally {
      await browser?.close();
      for (const s of sides) await s.close();
      if (redisPid > 0) {
        try {
          process.kill(redisPid, 'SIGKILL');
        } catch {}
      }
      await rm(dir, { recursive: true, force: true });
    }
  },
};
