// `berth reload` (issue 17, item 4): a running Berth replaces every service
// with the code on disk while a keep-alive load goes through the router, and
// not one request fails. Berth runs from a copy of this repository (its
// sources copied, node_modules hard-linked), whose sources the test changes,
// as `git pull` would; the checkout itself is never touched.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { sourceHash } from '../../infra/build.mjs';
import { Store } from '../../services/core/store/index.ts';
import { setRoutes } from '../../services/platform/routes/routes.ts';
import { startLoad } from '../harness/load.ts';
import { berthCommand, platformEnv, servicesOf, startPlatform } from '../harness/platform.ts';
import { request, startBackend } from '../harness/router.ts';
import { tempDir } from '../harness/tmp.ts';
import { until } from '../harness/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const COPIED = [
  'services',
  'proxy',
  'cli',
  'infra',
  'buildpacks',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
];

/** The bundle hash each Berth process of `dataDir` runs, by pid. */
async function codeOf(dataDir: string, clone: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const pid of await servicesOf(dataDir)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    // Ended since it was listed (an old process that finished draining).
    if (cmdline === '') continue;
    const hash = new RegExp(`${clone}/\\.build/([^/]+)/`).exec(cmdline)?.[1];
    out.set(pid, hash ?? `not a bundle: ${cmdline}`);
  }
  return out;
}

test('berth reload: a compile error and a service that cannot start change nothing; new code replaces every service; 0 failed requests', async (t) => {
  const base = await tempDir('berth-reload');
  const clone = path.join(base, 'berth');
  const dataDir = path.join(base, 'data');
  assert.equal(spawnSync('mkdir', ['-p', clone]).status, 0);
  for (const entry of COPIED) {
    const r = spawnSync('cp', ['-a', path.join(ROOT, entry), clone]);
    assert.equal(r.status, 0, String(r.stderr));
  }
  // Hard links: a copy of the packages in a moment, on the same disk.
  const linked = spawnSync('cp', ['-al', path.join(ROOT, 'node_modules'), clone]);
  if (linked.status !== 0) {
    assert.equal(spawnSync('cp', ['-a', path.join(ROOT, 'node_modules'), clone]).status, 0);
  }

  const env = await platformEnv(dataDir);
  const p = await startPlatform({
    dataDir,
    env,
    exec: {
      file: process.execPath,
      args: [path.join(clone, 'infra/run.mjs'), 'start'],
      cwd: clone,
      env: { ...(process.env as Record<string, string>), ...env },
    },
  });
  t.after(() => p.stopAll());
  const prefix = env.BERTH_REDIS_PREFIX;
  const redis = new Redis(env.REDIS_URL);
  t.after(() => redis.disconnect());
  const store = new Store(redis, prefix);
  await store.users.create('alice', 'admin');
  await store.apps.create({ name: 'steady', owner: 'alice' });
  const backend = await startBackend('steady');
  t.after(() => backend.server.close());
  await setRoutes(redis, prefix, 'steady', 1, [backend.address]);
  const httpPort = Number(env.BERTH_HTTP_PORT);
  await until('the app is served', async () => {
    return (await request(httpPort, 'steady.localhost')).status === 200;
  });
  const oldHash = sourceHash(clone);
  const before = await codeOf(dataDir, clone);
  // control (web and the builder), ssh, the router's primary and its router process.
  assert.ok(before.size >= 4, JSON.stringify([...before]));
  assert.ok(
    [...before.values()].every((h) => h === oldHash),
    JSON.stringify([...before]),
  );

  const load = startLoad({
    port: httpPort,
    host: 'steady.localhost',
    connections: 8,
    maxMs: 240_000,
    timeoutMs: 10_000,
    phase: 'before',
  });
  t.after(() => load.stop());
  await sleep(500);
  const reload = () => berthCommand(['reload'], env);

  // 1. A syntax error: the compile fails, nothing is replaced, the line is named.
  load.phase('compile error');
  const server = path.join(clone, 'services/web/server.ts');
  const original = await readFile(server, 'utf8');
  await writeFile(server, `${original}\nexport const broken = ;\n`);
  const lineNo = `${original}\n`.split('\n').length;
  const broken = await reload();
  t.diagnostic(broken.stdout + broken.stderr);
  assert.equal(broken.code, 1, broken.stdout + broken.stderr);
  assert.match(broken.stderr, new RegExp(`services/web/server\\.ts:${lineNo}:\\d+: error: `));
  assert.match(broken.stderr, /BERTH_E_RELOAD_FAILED|reload failed: compiling the sources failed/);
  assert.deepEqual(await codeOf(dataDir, clone), before, 'nothing replaced');

  // 2. The web service of the new code fails at start: the old one serves on.
  load.phase('service fails to start');
  await writeFile(server, original);
  const webService = path.join(clone, 'services/web/service.ts');
  const webOriginal = await readFile(webService, 'utf8');
  await writeFile(
    webService,
    webOriginal.replace(
      'Promise<RunningService> {',
      "$& if (process.pid > 0) throw new Error('reload test: this web cannot start');",
    ),
  );
  const crashing = await reload();
  t.diagnostic(crashing.stdout + crashing.stderr);
  assert.equal(crashing.code, 1, crashing.stdout + crashing.stderr);
  assert.match(crashing.stdout, /control: the new one did not start/);
  assert.match(crashing.stdout, /reload test: this web cannot start/);
  assert.deepEqual(await codeOf(dataDir, clone), before, 'nothing replaced');
  const healthz = await fetch(`http://127.0.0.1:${env.BERTH_WEB_PORT}/healthz`);
  assert.equal(healthz.status, 200, 'the old web serves on');

  // 3. A change that works (a comment, as a version bump would be): every service is replaced.
  load.phase('reload');
  await writeFile(webService, webOriginal);
  await appendFile(
    path.join(clone, 'services/core/version.ts'),
    '// upgraded by the reload test\n',
  );
  const newHash = sourceHash(clone);
  assert.notEqual(newHash, oldHash);
  const t0 = performance.now();
  const done = await reload();
  const reloadMs = performance.now() - t0;
  t.diagnostic(done.stdout + done.stderr);
  assert.equal(done.code, 0, done.stdout + done.stderr);
  for (const service of ['control', 'ssh', 'router']) {
    assert.match(done.stdout, new RegExp(`${service}: replaced in`));
  }
  load.phase('after');
  // Enough requests in all, and a while after the reload.
  await sleep(1000);
  const after = await codeOf(dataDir, clone);
  assert.ok(after.size >= 4, JSON.stringify([...after]));
  assert.ok(
    [...after.values()].every((h) => h === newHash),
    `every service runs ${newHash}: ${JSON.stringify([...after])}`,
  );
  for (const pid of after.keys()) assert.ok(!before.has(pid), `pid ${pid} was replaced`);
  await until('10,000 requests in all', async () => load.requests() >= 10_000, 120_000);
  const phases = await load.stop();
  t.diagnostic(JSON.stringify(phases.map(({ examples, ...r }) => r)));
  t.diagnostic(`reload took ${Math.round(reloadMs)} ms`);
  const total = phases.reduce((n, r) => n + r.requests, 0);
  assert.ok(total >= 10_000, `${total} requests`);
  assert.equal(
    phases.reduce((n, r) => n + r.errors + r.non2xx, 0),
    0,
    JSON.stringify(phases),
  );
  assert.ok(
    (phases.find((r) => r.phase === 'reload')?.requests ?? 0) > 100,
    'load ran during the reload',
  );
  assert.equal((await fetch(`http://127.0.0.1:${env.BERTH_WEB_PORT}/healthz`)).status, 200);
});
