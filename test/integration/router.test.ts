// The router (proxy/) as its own service process with two router processes,
// real Redis, real HTTP backends on loopback: routing by Host, route changes
// by pub/sub, passive health, timeouts, error pages, headers, websockets.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Store } from '../../services/core/store/index.ts';
import { setRoutes } from '../../services/platform/routes/routes.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { request, startBackend, startRouter, type TestRouter } from '../harness/router.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
let router: TestRouter;

before(async () => {
  await store.users.create('alice', 'admin');
  router = await startRouter({
    redisUrl: await sharedRedisUrl(),
    prefix,
    env: { BERTH_ROUTER_PROCESSES: '2', BERTH_UPSTREAM_TIMEOUT: '1s' },
  });
});
after(() => router.stop());

let appSeq = 0;
async function app(backends: string[] = []): Promise<string> {
  const name = `app${++appSeq}`;
  await store.apps.create({ name, owner: 'alice' });
  if (backends.length > 0) await setRoutes(redis, prefix, name, 1, backends);
  // Each router process reloads the app once per message; wait until every
  // process has both (fresh connections land on either of the two).
  const expected = (status: number) => (backends.length > 0 ? status !== 503 : status === 503);
  await until(async () => {
    for (let i = 0; i < 10; i++) {
      if (!expected((await request(router.port, `${name}.berth.test`)).status)) return false;
    }
    return true;
  });
  return name;
}

/** Polls until the router answers as expected (a route change is asynchronous by nature). */
async function until(check: () => Promise<boolean>, ms = 2000): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > ms) throw new Error(`not so after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
}

/** One request on a raw socket (an HTTP client would not send these); all the router sent until it closed (or 3 s). */
function rawExchange(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(router.port, '127.0.0.1', () => s.write(text));
    let got = '';
    s.on('data', (d) => {
      got += d;
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
    setTimeout(() => s.destroy(), 3000).unref();
  });
}

const nameOf = (body: string) => (JSON.parse(body) as { name: string }).name;

/**
 * A backend that misbehaves only when asked (header x-act), so that app()'s
 * wait for the route to arrive sees an ordinary answer.
 */
async function hostile(name: string, act: http.RequestListener) {
  return startBackend(name, (req, res) => {
    if (req.headers['x-act']) return act(req, res);
    req.resume();
    res.end(JSON.stringify({ name }));
  });
}
const ACT = { 'x-act': '1' };

describe('routing by Host', () => {
  test('an app answers at <app>.<domain>, any case, with a port or a trailing dot', async () => {
    const a = await startBackend('a');
    const name = await app([a.address]);
    for (const host of [
      `${name}.berth.test`,
      `${name.toUpperCase()}.Berth.Test:80`,
      `${name}.berth.test.`,
    ]) {
      const r = await request(router.port, host);
      assert.equal(r.status, 200, host);
      assert.equal(nameOf(r.body), 'a');
    }
  });

  test('no app: 404; an app with no instance: 503; each page says which, with the request id', async () => {
    const r404 = await request(router.port, 'nothing.berth.test');
    assert.equal(r404.status, 404);
    assert.match(r404.body, /no app is served at nothing\.berth\.test \(request [0-9a-f-]{36}\)/);
    assert.equal(r404.headers['x-request-id'], /request ([0-9a-f-]{36})/.exec(r404.body)?.[1]);

    // The bare domain is the web app's (test/integration/router-status-page.test.ts);
    // with nothing on BERTH_WEB_PORT here, the router says so.
    const bare = await request(router.port, 'berth.test');
    assert.equal(bare.status, 502);
    assert.match(bare.body, /the status page is not running/);

    const idle = await app();
    const r503 = await request(router.port, `${idle}.berth.test`, {
      headers: { accept: 'text/html' },
    });
    assert.equal(r503.status, 503);
    assert.match(r503.headers['content-type'] as string, /text\/html/);
    assert.match(r503.body, new RegExp(`${idle} has no running web instance`));
  });

  test('a domain added to an app routes at once; removed, it is 404 again', async () => {
    const a = await startBackend('a');
    const name = await app([a.address]);
    await store.domains.add(name, 'www.example.test');
    await until(async () => (await request(router.port, 'www.example.test')).status === 200);
    await store.domains.remove(name, 'www.example.test');
    await until(async () => (await request(router.port, 'www.example.test')).status === 404);
  });

  test('a destroyed app is 404 at once', async () => {
    const a = await startBackend('a');
    const name = await app([a.address]);
    assert.equal((await request(router.port, `${name}.berth.test`)).status, 200);
    await store.apps.destroy(name);
    await until(async () => (await request(router.port, `${name}.berth.test`)).status === 404);
  });
});

describe('route changes', () => {
  test('a switch is in effect on every router process, with no request failing', async (t) => {
    const a = await startBackend('a');
    const b = await startBackend('b');
    const name = await app([a.address]);
    const host = `${name}.berth.test`;
    // Fresh connections land on either router process.
    await until(async () => nameOf((await request(router.port, host)).body) === 'a');
    const t0 = performance.now();
    await setRoutes(redis, prefix, name, 2, [b.address]);
    let lastA = 0;
    let failed = 0;
    let sent = 0;
    while (performance.now() - t0 < 600) {
      const r = await request(router.port, host);
      sent++;
      if (r.status !== 200) failed++;
      else if (nameOf(r.body) === 'a') lastA = performance.now() - t0;
    }
    assert.equal(failed, 0);
    assert.ok(
      lastA < 300,
      `the old backend still answered ${Math.round(lastA)} ms after the switch`,
    );
    t.diagnostic(
      `last answer from the old backend ${lastA.toFixed(1)} ms after SET; ${sent} requests`,
    );
  });

  test('round-robin across instances; a dead one is skipped without an error reaching clients', async () => {
    const a = await startBackend('a');
    const b = await startBackend('b');
    const dead = await startBackend('dead');
    dead.server.close();
    const name = await app([a.address, b.address, dead.address]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    after(() => agent.destroy());
    const seen: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const r = await request(router.port, `${name}.berth.test`, { agent });
      assert.equal(r.status, 200);
      const n = nameOf(r.body);
      seen[n] = (seen[n] ?? 0) + 1;
    }
    assert.ok((seen.a ?? 0) >= 10 && (seen.b ?? 0) >= 10, JSON.stringify(seen));
  });
});

test('pooled backend connections: kept while in use, closed by the router after 1–2 s idle, before the backend would', async () => {
  const a = await startBackend('a');
  // Far longer than the router's idle time: only the router closes these.
  a.server.keepAliveTimeout = 30_000;
  const open = new Set<net.Socket>();
  let lastClose = 0;
  a.server.on('connection', (socket: net.Socket) => {
    open.add(socket);
    socket.on('close', () => {
      open.delete(socket);
      lastClose = performance.now();
    });
  });
  const name = await app([a.address]);
  for (let i = 0; i < 5; i++) {
    assert.equal((await request(router.port, `${name}.berth.test`)).status, 200);
  }
  const idleFrom = performance.now();
  assert.ok(open.size > 0, 'the router keeps its backend connections open');
  await until(async () => open.size === 0, 4000);
  const idle = lastClose - idleFrom;
  // socket-sweeps.ts: after half of UPSTREAM_IDLE_MS (1.9 s) to all of it.
  assert.ok(idle >= 900 && idle <= 2400, `closed after ${Math.round(idle)} ms idle`);
});

describe('failures of backends', () => {
  test('no instance accepts: 502 that names the app', async () => {
    const dead = await startBackend('dead');
    dead.server.close();
    const name = await app([dead.address]);
    const r = await request(router.port, `${name}.berth.test`);
    assert.equal(r.status, 502);
    assert.match(r.body, new RegExp(`${name} did not accept the connection \\(ECONNREFUSED\\)`));
  });

  test('an address that never accepts (SYNs dropped): 502 after the connect timeout (5 s, or a shorter upstream one)', async (t) => {
    // A real full accept queue: a listener with a backlog of 1, frozen by
    // SIGSTOP, its queue filled; the kernel then drops further SYNs.
    const listener = spawn(
      process.execPath,
      [
        '-e',
        "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { process.stdout.write(String(this.address().port) + '\\n'); })",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    t.after(() => listener.kill('SIGKILL'));
    const port = Number(
      await new Promise<string>((r) => listener.stdout.once('data', (d) => r(String(d)))),
    );
    listener.kill('SIGSTOP');
    const fillers = Array.from({ length: 4 }, () =>
      net.connect(port, '127.0.0.1').on('error', () => {}),
    );
    t.after(() => {
      for (const f of fillers) f.destroy();
    });
    await new Promise((r) => setTimeout(r, 200));
    const name = await app();
    await setRoutes(redis, prefix, name, 1, [`127.0.0.1:${port}`]);
    const t0 = performance.now();
    let r = await request(router.port, `${name}.berth.test`);
    while (r.status === 503) r = await request(router.port, `${name}.berth.test`);
    const ms = performance.now() - t0;
    assert.equal(r.status, 502);
    // This router's BERTH_UPSTREAM_TIMEOUT is 1 s.
    assert.match(r.body, /did not accept the connection \(no answer within 1 s\)/);
    assert.ok(ms > 900 && ms < 4000, `${Math.round(ms)} ms`);
  });

  test('a backend that does not answer in BERTH_UPSTREAM_TIMEOUT: 504', async () => {
    const slow = await hostile('slow', () => {});
    const name = await app([slow.address]);
    const t0 = performance.now();
    const r = await request(router.port, `${name}.berth.test`, { headers: ACT });
    assert.equal(r.status, 504);
    assert.match(r.body, /did not answer within 1 s/);
    assert.ok(performance.now() - t0 < 3000);
  });

  // Before the cut was made, the client waited for the rest forever: the time limit makes that a failure.
  test('a backend that stops mid-response for BERTH_UPSTREAM_TIMEOUT: the client sees the cut', {
    timeout: 10_000,
  }, async () => {
    const stalled = await hostile('stalled', (_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
    });
    const name = await app([stalled.address]);
    const t0 = performance.now();
    await assert.rejects(
      request(router.port, `${name}.berth.test`, { headers: ACT }),
      /aborted|ECONNRESET|socket hang up/,
    );
    const ms = performance.now() - t0;
    // 1 s with no byte, found by a sweep every 0.25 s.
    assert.ok(ms > 900 && ms < 3000, `${Math.round(ms)} ms`);
  });

  test('a backend that resets mid-response: the client sees the cut, the router goes on', async () => {
    const reset = await hostile('reset', (_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => res.socket?.resetAndDestroy(), 20);
    });
    const name = await app([reset.address]);
    await assert.rejects(
      request(router.port, `${name}.berth.test`, { headers: ACT }),
      /aborted|ECONNRESET|socket hang up/,
    );
    const a = await startBackend('a');
    const other = await app([a.address]);
    assert.equal((await request(router.port, `${other}.berth.test`)).status, 200);
  });

  test('a POST is never sent twice: a reset before the answer is a 502', async () => {
    // Both instances reset a POST once they have read it: whichever the
    // router picks, a retry would reach the other and count a second POST.
    let posts = 0;
    const resetting = () =>
      hostile('reset', (req, res) => {
        posts++;
        req.resume();
        req.on('end', () => res.socket?.resetAndDestroy());
      });
    const a = await resetting();
    const b = await resetting();
    const name = await app([a.address, b.address]);
    const r = await request(router.port, `${name}.berth.test`, {
      method: 'POST',
      body: 'charge=1',
      headers: { 'content-type': 'text/plain', ...ACT },
    });
    assert.equal(r.status, 502);
    assert.equal(posts, 1);
  });
});

describe('headers', () => {
  test('X-Forwarded-*, X-Request-Id kept when valid, hop-by-hop headers stripped both ways', async () => {
    const a = await startBackend('a', (req, res) => {
      res.setHeader('connection', 'x-backend-hop');
      res.setHeader('x-backend-hop', 'secret');
      res.end(JSON.stringify({ name: 'a', headers: req.headers }));
    });
    const name = await app([a.address]);
    const id = 'abcdefghij0123456789-client';
    const r = await request(router.port, `${name}.berth.test`, {
      headers: {
        'x-request-id': id,
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-proto': 'https',
        connection: 'x-client-hop',
        'x-client-hop': 'secret',
        'proxy-authorization': 'Basic eA==',
      },
    });
    const seen = (JSON.parse(r.body) as { headers: http.IncomingHttpHeaders }).headers;
    assert.equal(seen['x-request-id'], id);
    assert.equal(r.headers['x-request-id'], id);
    assert.equal(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http', 'the client cannot claim https');
    assert.equal(seen['x-forwarded-host'], `${name}.berth.test`);
    assert.equal(seen['x-forwarded-port'], String(router.port));
    assert.equal(seen['x-client-hop'], undefined);
    assert.equal(seen['proxy-authorization'], undefined);
    assert.equal(r.headers['x-backend-hop'], undefined);

    const bad = await request(router.port, `${name}.berth.test`, {
      headers: { 'x-request-id': 'short<script>' },
    });
    const sent = (JSON.parse(bad.body) as { headers: http.IncomingHttpHeaders }).headers;
    assert.match(sent['x-request-id'] as string, /^[0-9a-f-]{36}$/);
  });

  test("the client's Connection decides the client side: close is answered and done, keep-alive kept", async () => {
    // The backend keeps its connection to the router open either way.
    const a = await startBackend('a', (req, res) => {
      req.resume();
      res.setHeader('connection', 'keep-alive');
      res.end('{"name":"a"}');
    });
    const name = await app([a.address]);
    /** One raw request; what came back before the router closed, or 300 ms passed. */
    const raw = (head: string) =>
      new Promise<{ text: string; closed: boolean }>((resolve, reject) => {
        const s = net.connect(router.port, '127.0.0.1', () =>
          s.write(`${head}\r\nHost: ${name}.berth.test\r\n\r\n`),
        );
        let text = '';
        s.on('data', (d) => {
          text += d;
        });
        s.on('end', () => resolve({ text, closed: true }));
        s.on('error', reject);
        setTimeout(() => {
          s.destroy();
          resolve({ text, closed: false });
        }, 300);
      });
    const close = await raw('GET / HTTP/1.1\r\nConnection: close');
    assert.match(close.text, /^HTTP\/1\.1 200 /);
    assert.match(close.text, /\r\nconnection: close\r\n/i);
    assert.ok(close.closed, 'the router closes the connection the client asked to close');
    const http10 = await raw('GET / HTTP/1.0');
    assert.match(http10.text, /\r\nconnection: close\r\n/i);
    assert.ok(http10.closed);
    const keep = await raw('GET / HTTP/1.1');
    assert.match(keep.text, /\r\nconnection: keep-alive\r\n/i);
    assert.ok(!keep.closed);
  });

  test('the request-target reaches the backend as the client sent it (repeated slashes, dot segments); absolute-form as its path', async () => {
    const seen: string[] = [];
    const a = await startBackend('a', (req, res) => {
      seen.push(req.url ?? '');
      res.end(JSON.stringify({ name: 'a' }));
    });
    const name = await app([a.address]);
    seen.length = 0;
    // Written on a raw socket: an HTTP client would normalize some of these.
    const targets: [string, string][] = [
      ['/a//b///c?x=//y', '/a//b///c?x=//y'],
      ['//other.example/x', '//other.example/x'],
      ['/a/../b/./c', '/a/../b/./c'],
      ['/%41%2e%2E/?q=%20', '/%41%2e%2E/?q=%20'],
      ['http://other.example//p?q=1', '//p?q=1'],
    ];
    for (const [target] of targets) {
      const head = await new Promise<string>((resolve, reject) => {
        const s = net.connect(router.port, '127.0.0.1', () =>
          s.write(
            `GET ${target} HTTP/1.1\r\nHost: ${name}.berth.test\r\nConnection: close\r\n\r\n`,
          ),
        );
        let text = '';
        s.on('data', (d) => {
          text += d;
        });
        s.on('end', () => resolve(text));
        s.on('error', reject);
      });
      assert.match(head, /^HTTP\/1\.1 200 /, target);
    }
    assert.deepEqual(
      seen,
      targets.map(([, sent]) => sent),
    );
  });
  test('a repeated Host is refused (400) before any backend sees it: requests, Expect and websockets (RFC 9112 3.2)', async () => {
    const a = await startBackend('a');
    const name = await app([a.address]);
    const seen = a.requests.length;
    const heads = [
      `GET / HTTP/1.1\r\nHost: ${name}.berth.test\r\nHost: other.berth.test\r\nConnection: close`,
      // Same value twice, other spellings of the name.
      `GET / HTTP/1.1\r\nhost: ${name}.berth.test\r\nHOST: ${name}.berth.test\r\nConnection: close`,
      `POST / HTTP/1.1\r\nHost: ${name}.berth.test\r\nContent-Length: 2\r\nExpect: 100-continue\r\nhost: x.berth.test`,
      `GET / HTTP/1.1\r\nHost: ${name}.berth.test\r\nHost: x.berth.test\r\nConnection: Upgrade\r\nUpgrade: websocket`,
    ];
    for (const head of heads) {
      const text = await rawExchange(`${head}\r\n\r\n`);
      assert.match(text, /^HTTP\/1\.1 400 /, head);
      assert.doesNotMatch(text, /100 Continue/, head);
    }
    assert.equal(a.requests.length, seen, 'no backend request');
    assert.equal((await request(router.port, `${name}.berth.test`)).status, 200);
  });

  test('"Connection: host" does not strip Host: the backend gets the host the router routed by', async () => {
    const a = await startBackend('a');
    const name = await app([a.address]);
    const text = await rawExchange(
      `GET / HTTP/1.1\r\nHost: ${name}.berth.test\r\nConnection: close, Host, x-gone\r\nX-Gone: 1\r\n\r\n`,
    );
    assert.match(text, /^HTTP\/1\.1 200 /);
    const sent = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as {
      headers: http.IncomingHttpHeaders;
    };
    assert.equal(sent.headers.host, `${name}.berth.test`);
    assert.equal(sent.headers['x-forwarded-host'], `${name}.berth.test`);
    assert.equal(sent.headers['x-gone'], undefined, 'other listed headers are still stripped');
  });

  test('oversized headers: 431; a malformed request line: 400; the router goes on', async () => {
    const a = await startBackend('a');
    const name = await app([a.address]);
    const big = await request(router.port, `${name}.berth.test`, {
      headers: { 'x-big': 'x'.repeat(20_000) },
    });
    assert.equal(big.status, 431);
    const raw = await new Promise<string>((resolve, reject) => {
      const s = net.connect(router.port, '127.0.0.1', () => s.write('GARBAGE / HTTP/9\r\n\r\n'));
      let text = '';
      s.on('data', (d) => {
        text += d;
      });
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.equal((await request(router.port, `${name}.berth.test`)).status, 200);
  });
});

test('websockets: the upgrade goes through and data flows both ways', async () => {
  const echo = await startBackend('echo');
  echo.server.on('upgrade', (req, socket) => {
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `X-Seen-Forwarded-For: ${req.headers['x-forwarded-for']}\r\nX-Seen-Path: ${req.url}\r\n\r\n`,
    );
    socket.pipe(socket);
  });
  const name = await app([echo.address]);
  const reply = await new Promise<string>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: router.port,
      path: '/socket//x?y=1',
      headers: { host: `${name}.berth.test`, connection: 'Upgrade', upgrade: 'websocket' },
    });
    req.on('upgrade', (res, socket) => {
      assert.equal(res.headers['x-seen-forwarded-for'], '127.0.0.1');
      assert.equal(res.headers['x-seen-path'], '/socket//x?y=1');
      socket.write('ping');
      socket.once('data', (d) => {
        socket.destroy();
        resolve(String(d));
      });
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(reply, 'ping');
});

test('an upgrade other than websocket (curl --http2 asks for h2c) is answered as the plain request it also is', async () => {
  const a = await startBackend('a');
  const name = await app([a.address]);
  const curl = (...args: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn('curl', ['-sS', '-i', '-H', `Host: ${name}.berth.test`, ...args]);
      let out = '';
      c.stdout.on('data', (d) => {
        out += d;
      });
      c.stderr.on('data', (d) => {
        out += d;
      });
      c.on('close', (code) => resolve({ code, out }));
    });
  const got = await curl('--http2', `http://127.0.0.1:${router.port}/h2c?x=1`);
  assert.equal(got.code, 0, got.out);
  assert.match(got.out, /^HTTP\/1\.1 200 /);
  assert.match(got.out, /"url":"\/h2c\?x=1"/);
  // The upgrade, and the headers it named, are not passed on.
  const seen = a.requests.at(-1) ?? {};
  assert.equal(seen.upgrade, undefined);
  assert.equal(seen['http2-settings'], undefined);
  // A body can no longer be read once Node.js hands the connection over: refused, clearly.
  const post = await curl(
    '-H',
    'Connection: Upgrade',
    '-H',
    'Upgrade: h2c',
    '-d',
    'x=1',
    `http://127.0.0.1:${router.port}/`,
  );
  assert.match(post.out, /^HTTP\/1\.1 501 /);
  // The router goes on.
  assert.equal((await request(router.port, `${name}.berth.test`)).status, 200);
});

// A lost byte leaves the client waiting: the time limit makes that a failure.
test('websockets: bytes a client sends before the 101 reach the backend after it, in order', {
  timeout: 5000,
}, async () => {
  const late = await startBackend('late');
  late.server.on('upgrade', (_req, socket, head) => {
    // Answers after the client's early bytes are at the router.
    setTimeout(() => {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      );
      if (head.length > 0) socket.unshift(head);
      socket.pipe(socket);
    }, 150);
  });
  const name = await app([late.address]);
  const echoed = await new Promise<string>((resolve, reject) => {
    const s = net.connect(router.port, '127.0.0.1', () => {
      s.write(
        `GET / HTTP/1.1\r\nHost: ${name}.berth.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\none,`,
      );
      setTimeout(() => s.write('two,'), 50);
      setTimeout(() => s.write('three'), 300);
    });
    let got = '';
    s.on('data', (d) => {
      got += d;
      const body = got.split('\r\n\r\n')[1] ?? '';
      if (body.length >= 'one,two,three'.length) {
        s.destroy();
        resolve(body);
      }
    });
    s.on('close', () => reject(new Error(`closed after ${JSON.stringify(got)}`)));
    s.on('error', reject);
  });
  assert.equal(echoed, 'one,two,three');
});

test('websockets: an upgrade the backend never answers is a 502 after the upstream timeout; a client gone before the 101 closes the backend request', async () => {
  let closedUnder = 0;
  const silent = await startBackend('silent');
  silent.server.on('upgrade', (_req, socket) => {
    socket.on('error', () => {});
    // The router's FIN (the backend keeps its own side half open).
    socket.on('end', () => closedUnder++);
  });
  const name = await app([silent.address]);
  const head =
    `GET / HTTP/1.1\r\nHost: ${name}.berth.test\r\nConnection: Upgrade\r\n` +
    'Upgrade: websocket\r\n\r\n';
  const t0 = performance.now();
  const text = await new Promise<string>((resolve, reject) => {
    const s = net.connect(router.port, '127.0.0.1', () => s.write(head));
    let got = '';
    s.on('data', (d) => {
      got += d;
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
  assert.match(text, /^HTTP\/1\.1 502 /);
  const ms = performance.now() - t0;
  assert.ok(ms > 900 && ms < 3000, `${Math.round(ms)} ms`);
  // This one leaves before any answer: the router drops its backend request.
  const before = closedUnder;
  const s = net.connect(router.port, '127.0.0.1', () => s.write(head));
  s.on('error', () => {});
  await new Promise((r) => setTimeout(r, 200));
  s.destroy();
  // Well before the upstream timeout (1 s from the request at the soonest),
  // so this is the router noticing the client left.
  await until(async () => closedUnder > before, 500);
});

test('Expect: 100-continue: "100 Continue" from the router, and the upstream timeout still applies (504)', async () => {
  const silent = await hostile('silent', () => {});
  const name = await app([silent.address]);
  const t0 = performance.now();
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: router.port,
      method: 'POST',
      agent: false,
      headers: {
        host: `${name}.berth.test`,
        'content-length': '2',
        expect: '100-continue',
        ...ACT,
      },
    });
    req.on('continue', () => req.end('hi'));
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
  assert.equal(status, 504);
  assert.ok(performance.now() - t0 < 3000);
});
