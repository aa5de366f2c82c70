// The router's passive health and retry with backends as real processes on
// loopback, killed or frozen under keep-alive load (proxy/forward.ts,
// route-table.ts, health-probe.ts): a backend that dies or whose host stops
// answering costs no GET, one that comes back is given back by a probe, and
// no POST is ever sent twice.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { Store } from '../../services/core/store/index.ts';
import { setRoutes } from '../../services/platform/routes/routes.ts';
import { startLoad } from '../harness/load.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { request, startBackend, startRouter } from '../harness/router.ts';
import { until } from '../harness/wait.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
await store.users.create('alice', 'admin');
// An upstream timeout longer than the connect timeout (5 s): a request left
// waiting on a frozen backend would get its 504 after 8 s.
const router = await startRouter({
  redisUrl: await sharedRedisUrl(),
  prefix,
  env: { BERTH_ROUTER_PROCESSES: '1', BERTH_UPSTREAM_TIMEOUT: '8s' },
});
after(() => router.stop());

/**
 * An HTTP backend in its own process (so it can be killed or frozen for
 * real), answering its name. FROZEN_BACKLOG for one to freeze: connections
 * made to it once frozen then fill its accept queue and the kernel drops
 * further SYNs, as for an address whose host is gone. (Not 1: on a loaded
 * machine a live backend with so short a queue reset or stalled new
 * connections before the freeze.)
 */
const FROZEN_BACKLOG = 16;
async function backendProcess(
  name: string,
  port = 0,
  backlog = 511,
): Promise<{ child: ChildProcess; address: string; port: number }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('http').createServer((q, r) => { q.resume(); r.end(${JSON.stringify(name)}); });
       s.listen({ port: ${port}, host: '127.0.0.1', backlog: ${backlog} }, () => process.stdout.write(s.address().port + '\\n'));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  after(() => {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  });
  const got = Number(
    await new Promise<string>((r) => child.stdout?.once('data', (d) => r(String(d)))),
  );
  return { child, address: `127.0.0.1:${got}`, port: got };
}

let appSeq = 0;
async function app(backends: string[]): Promise<string> {
  const name = `health${++appSeq}`;
  await store.apps.create({ name, owner: 'alice' });
  await setRoutes(redis, prefix, name, 1, backends);
  await until('the route is in the router', async () => {
    return (await request(router.port, `${name}.berth.test`)).status === 200;
  });
  return name;
}

const failures = (r: { errors: number; non2xx: number }) => r.errors + r.non2xx;

describe('passive health and retry', () => {
  test('one backend of two killed under keep-alive load: no GET fails; restarted, a probe gives it back', async (t) => {
    const a = await backendProcess('a');
    const b = await backendProcess('b');
    const name = await app([a.address, b.address]);
    const load = startLoad({
      port: router.port,
      host: `${name}.berth.test`,
      connections: 8,
      maxMs: 20_000,
      timeoutMs: 15_000,
    });
    await new Promise((r) => setTimeout(r, 700));
    load.phase('killed');
    b.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    // The same address answers again, the route table unchanged: only a probe can tell.
    load.phase('back');
    const again = await backendProcess('b', b.port);
    const t0 = performance.now();
    await until(
      'b answers through the router again',
      async () => (await request(router.port, `${name}.berth.test`)).body === 'b',
      5000,
    );
    const backMs = performance.now() - t0;
    const phases = await load.stop();
    t.diagnostic(JSON.stringify(phases.map(({ examples, ...p }) => p)));
    t.diagnostic(`b back in the route ${Math.round(backMs)} ms after it listened again`);
    for (const p of phases) assert.equal(failures(p), 0, `${p.phase}: ${p.examples.join('; ')}`);
    assert.ok((phases.find((p) => p.phase === 'killed')?.requests ?? 0) > 20);
    // Probes every 0.25 s; a request alone would have tried it again only after 2 s (before probes).
    assert.ok(backMs < 1000, `${Math.round(backMs)} ms`);
    again.child.kill('SIGKILL');
  });

  test('a backend whose host stops answering: its waiting GETs go to the other instance, not to a 504', {
    timeout: 40_000,
  }, async (t) => {
    const a = await backendProcess('a');
    const b = await backendProcess('b', 0, FROZEN_BACKLOG);
    const name = await app([a.address, b.address]);
    const load = startLoad({
      port: router.port,
      host: `${name}.berth.test`,
      connections: 6,
      maxMs: 30_000,
      timeoutMs: 20_000,
    });
    await new Promise((r) => setTimeout(r, 700));
    load.phase('frozen');
    // What a host gone looks like from here: connections open to it get no
    // answer, and new ones no SYN-ACK (its accept queue full).
    b.child.kill('SIGSTOP');
    const fillers = Array.from({ length: FROZEN_BACKLOG + 4 }, () =>
      net.connect(b.port, '127.0.0.1').on('error', () => {}),
    );
    t.after(() => {
      for (const f of fillers) f.destroy();
    });
    // The connect timeout (5 s) tells the router, then the upstream timeout (8 s) would have.
    await new Promise((r) => setTimeout(r, 9000));
    load.phase('after');
    await new Promise((r) => setTimeout(r, 500));
    const phases = await load.stop();
    t.diagnostic(JSON.stringify(phases.map(({ examples, ...p }) => p)));
    for (const p of phases) assert.equal(failures(p), 0, `${p.phase}: ${p.examples.join('; ')}`);
    const frozen = phases.find((p) => p.phase === 'frozen');
    // Taken back at the connect timeout, not left for the upstream one.
    assert.ok((frozen?.maxMs ?? 0) < 7000, `slowest ${Math.round(frozen?.maxMs ?? 0)} ms`);
    // The other instance served on meanwhile.
    assert.ok((frozen?.requests ?? 0) > 50, `${frozen?.requests} requests`);
  });

  test('a POST without a body is not sent again after a reset: 502, sent once', async () => {
    // Both instances reset a POST once they have read it: whichever the
    // router picks, a retry would reach the other and count a second POST.
    let posts = 0;
    const resetting = () =>
      startBackend('reset', (req, res) => {
        if (req.method !== 'POST') return res.end('ok');
        posts++;
        req.resume();
        req.on('end', () => res.socket?.resetAndDestroy());
      });
    const a = await resetting();
    const b = await resetting();
    const name = await app([a.address, b.address]);
    // On a raw socket: Node.js' client would add Content-Length: 0, and a
    // request with that header is never resent at all.
    const answer = await new Promise<string>((resolve, reject) => {
      const s = net.connect(router.port, '127.0.0.1', () =>
        s.write(
          `POST /charge?amount=1 HTTP/1.1\r\nHost: ${name}.berth.test\r\nConnection: close\r\n\r\n`,
        ),
      );
      let got = '';
      s.on('data', (d) => {
        got += d;
      });
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 502 /);
    assert.equal(posts, 1);
  });

  test('a GET that found its backend reset is sent to another instance', async () => {
    let resets = 0;
    const a = await startBackend('a', (req, res) => {
      if (req.headers['x-act'] && resets++ === 0) return res.socket?.resetAndDestroy();
      res.end('a');
    });
    const b = await startBackend('b', (req, res) => {
      if (req.headers['x-act'] && resets++ === 0) return res.socket?.resetAndDestroy();
      res.end('b');
    });
    const name = await app([a.address, b.address]);
    const r = await request(router.port, `${name}.berth.test`, { headers: { 'x-act': '1' } });
    assert.equal(r.status, 200);
    assert.equal(resets, 2);
  });
});
