// `berth start` (what `npm start` runs) as a person meets it: real Docker
// Engine, a Redis that Berth starts itself, real ssh-keygen keys, Ctrl-C.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Store } from '../../services/core/store/index.ts';
import { setRoutes } from '../../services/platform/routes/routes.ts';
import { startLoad } from '../harness/load.ts';
import {
  berthCommand,
  type Platform,
  platformEnv,
  servicesOf,
  startPlatform,
} from '../harness/platform.ts';
import { request, startBackend } from '../harness/router.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';
import { until } from '../harness/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const berth = berthCommand;

const get = (url: string) =>
  fetch(url).then(async (r) => ({ status: r.status, body: await r.text() }));

describe('berth start', () => {
  test('comes up with its own Redis, serves, takes the first admin key, and stops on Ctrl-C', async (t) => {
    const dataDir = path.join(await tempDir(), 'data');
    const keys = await makeKeyPair(await tempDir(), 'admin');
    let p: Platform | undefined = await startPlatform({ dataDir });
    t.after(async () => {
      await p?.stop();
      await p?.stopRedis();
    });
    const web = `http://127.0.0.1:${p.env.BERTH_WEB_PORT}`;
    assert.ok(
      p.stderr.some((l) => l.includes(`status page (loopback; auth:login)`) && l.includes(web)),
    );
    assert.ok(p.stderr.some((l) => l.includes('npx berth ssh-keys:add admin')));
    assert.deepEqual((await get(`${web}/healthz`)).status, 200);

    const added = await berth(['ssh-keys:add', 'admin'], p.env, keys.publicPath);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(
      added.stdout.trim(),
      `added key ${keys.fingerprint} (ssh-ed25519) for new user admin (admin)`,
    );

    // Acknowledged; now kill -9 Redis at once, then start Berth again: it
    // restarts Redis from its append-only file and the key is there.
    await p.stopRedis();
    assert.equal((await get(`${web}/healthz`)).status, 503);
    assert.ok((await p.stop()).clean);
    p = await startPlatform({ dataDir, env: p.env });
    const listed = await berth(['ssh-keys:list', '--format', 'json'], p.env);
    assert.equal(listed.code, 0, listed.stderr);
    const [key] = JSON.parse(listed.stdout) as { user: string; fingerprint: string }[];
    assert.deepEqual([key?.user, key?.fingerprint], ['admin', keys.fingerprint]);

    const { clean, ms } = await p.stop();
    assert.ok(clean, p.stderr.join('\n'));
    await assert.rejects(fetch(`${web}/healthz`), 'the web service is gone after Ctrl-C');
    t.diagnostic(
      `start after the Redis crash: ${Math.round(p.readyMs)} ms to ready; Ctrl-C to stopped ${Math.round(ms)} ms`,
    );
  });

  test('kill -9 of the start process under load: the router serves on, the rest stops, the next start adopts the router', async (t) => {
    const dataDir = path.join(await tempDir(), 'data');
    let p = await startPlatform({ dataDir, via: 'node' });
    // Whatever the test left too (the router outlives its supervisor by design).
    t.after(() => p.stopAll());
    const prefix = p.env.BERTH_REDIS_PREFIX ?? '';
    const redis = new Redis(p.env.REDIS_URL ?? '');
    t.after(() => redis.disconnect());
    const store = new Store(redis, prefix);
    await store.users.create('alice', 'admin');
    await store.apps.create({ name: 'steady', owner: 'alice' });
    const backend = await startBackend('steady');
    await setRoutes(redis, prefix, 'steady', 1, [backend.address]);
    const httpPort = Number(p.env.BERTH_HTTP_PORT);
    await until('the app is served', async () => {
      return (await request(httpPort, 'steady.localhost')).status === 200;
    });
    const router = await servicesOf(dataDir, 'router');
    const others = (await servicesOf(dataDir)).filter((pid) => !router.includes(pid));
    // Two processes beside the router: control (web, which renews the
    // certificates too, and the builder) and ssh; each Node.js process costs
    // 20 MB and more (issue 17).
    assert.ok(router.length >= 2 && others.length === 2, `router ${router}, others ${others}`);
    // Every process runs the compiled bundle with plain node: no TypeScript
    // compiler (tsx's loader, its esbuild service) in any of them (issue 17),
    // and with the small young generation, the router processes too.
    for (const pid of [p.child.pid as number, ...router, ...others]) {
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      assert.ok(!argv.some((a) => /tsx|--import/.test(a)), argv.join(' '));
      if (pid !== p.child.pid)
        assert.ok(
          argv.some((a) => /^--max-semi-space-size=[14]$/.test(a)),
          argv.join(' '),
        );
      assert.ok(
        argv.some((a) => a.includes(`${ROOT}.build/`) || a.endsWith('infra/run.mjs')),
        argv.join(' '),
      );
    }
    const compilers = (await readdir('/proc')).filter((e) => /^\d+$/.test(e));
    for (const pid of compilers) {
      const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
      if (comm.trim() !== 'esbuild') continue;
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
      assert.ok(!environ.includes(`BERTH_DATA_DIR=${dataDir}\0`), `esbuild ${pid} runs for Berth`);
    }

    // Bounded: loopback, 8 keep-alive connections, at most 90 s.
    const load = startLoad({
      port: httpPort,
      host: 'steady.localhost',
      connections: 8,
      maxMs: 90_000,
      timeoutMs: 5000,
      phase: 'before',
    });
    await sleep(1000);
    load.phase('supervisor dead');
    p.child.kill('SIGKILL');
    // The other services notice their supervisor is gone and stop (bounded at 30 s).
    await until(
      'the other services stopped',
      async () => (await servicesOf(dataDir)).every((pid) => router.includes(pid)),
      40_000,
    );
    assert.deepEqual(await servicesOf(dataDir, 'router'), router, 'the router serves on');
    // The router alone, for a while: the services may stop within a second of
    // the kill, too soon for the phase to say much on a busy machine.
    await sleep(3000);

    load.phase('next start');
    const t0 = performance.now();
    p = await startPlatform({ dataDir, env: p.env, via: 'node' });
    const backMs = performance.now() - t0;
    await sleep(1000);
    const phases = await load.stop();
    t.diagnostic(JSON.stringify(phases.map(({ examples, ...r }) => r)));
    t.diagnostic(`services back ${Math.round(backMs)} ms after the next start began`);
    assert.equal(
      phases.reduce((n, r) => n + r.errors + r.non2xx, 0),
      0,
      JSON.stringify(phases),
    );
    assert.ok(
      phases.every((r) => r.requests > 50),
      'load ran in every phase',
    );
    assert.deepEqual(await servicesOf(dataDir, 'router'), router, 'adopted, not restarted');
    assert.ok(
      p.stderr.some((l) => l.includes('status page (router)')),
      p.stderr.join('\n'),
    );
    assert.equal((await get(`http://127.0.0.1:${p.env.BERTH_WEB_PORT}/healthz`)).status, 200);

    // Ctrl-C is a deliberate stop: everything goes, the router too.
    const { clean } = await p.stop();
    assert.ok(clean, p.stderr.join('\n'));
    await until(
      'every service stopped',
      async () => (await servicesOf(dataDir)).length === 0,
      30_000,
    );
  });

  test('BERTH_HTTP_PORT=abc stops start-up with one line, exit 2, nothing created', async () => {
    const dataDir = path.join(await tempDir(), 'data');
    const env = await platformEnv(dataDir, { BERTH_HTTP_PORT: 'abc' });
    const r = await berth(['start'], env);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'berth: BERTH_HTTP_PORT="abc": not a port number (1-65535) — fix the environment variable and start again\n',
    );
    await assert.rejects(stat(dataDir), { code: 'ENOENT' });
  });

  test('an unwritable data directory stops start-up with one line, nothing created', {
    skip: process.getuid?.() !== 0 && 'needs root to mount',
  }, async () => {
    const mnt = path.join(await tempDir(), 'ro');
    await mkdir(mnt);
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mnt]).status, 0);
    try {
      const env = await platformEnv(path.join(mnt, 'berth'));
      const r = await berth(['start'], env);
      assert.equal(r.code, 1);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0] ?? '',
        /^berth: data directory .*\/ro\/berth is not usable: .* not writable: the file system is read-only — set BERTH_DATA_DIR/,
      );
      assert.deepEqual(await readdir(mnt), []);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});
