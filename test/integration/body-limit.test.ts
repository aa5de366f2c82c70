// The request body limit: proxy:set|report through the real dispatcher, and
// the real router refusing bodies over it (413) by Content-Length, while a
// chunked body streams, and before "100 Continue".
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Store } from '../../services/core/store/index.ts';
import { setRoutes } from '../../services/platform/routes/routes.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { request, startBackend, startRouter, type TestRouter } from '../harness/router.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const run = commandRunner(store);
const bob = userActor('bob');
const carol = userActor('carol');
await store.users.create('bob');
await store.users.create('carol');

/** Berth's fields of the report (Dokku's keys are beside them: dokku-grammar.test.ts). */
const report = async (app: string) => {
  const r = JSON.parse((await run(bob, ['proxy:report', app, '--format', 'json'])).stdout);
  return { maxBodySize: r.maxBodySize, maxBodySizeSource: r.maxBodySizeSource };
};

describe('proxy:set and proxy:report', () => {
  test('max-body-size: set, shown, back to the default; 0 is no limit', async () => {
    assert.equal((await run(bob, ['apps:create', 'uploads'])).code, 0);
    assert.deepEqual(await report('uploads'), {
      maxBodySize: 100 * 1024 ** 2,
      maxBodySizeSource: 'default',
    });
    const set = await run(bob, ['proxy:set', 'uploads', 'max-body-size', '10M']);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, '-----> uploads: request bodies up to 10m (larger: 413)\n');
    assert.deepEqual(await report('uploads'), {
      maxBodySize: 10 * 1024 ** 2,
      maxBodySizeSource: 'app',
    });
    assert.equal(await redis.hget(`${prefix}app:uploads`, 'maxBodySize'), String(10 * 1024 ** 2));
    assert.match(
      (await run(bob, ['proxy:report', 'uploads'])).stdout,
      /^ +Max body size: +10m \(set for the app\)$/m,
    );
    assert.equal(
      (await run(bob, ['proxy:set', 'uploads', 'max-body-size', '0'])).stdout,
      '-----> uploads: no limit on request bodies\n',
    );
    const reset = await run(bob, ['proxy:set', 'uploads', 'max-body-size']);
    assert.equal(
      reset.stdout,
      '-----> uploads: request bodies up to 100m (larger: 413), the default\n',
    );
    assert.equal(await redis.hexists(`${prefix}app:uploads`, 'maxBodySize'), 0);
  });

  test('bad sizes and unknown settings are usage errors in one line; others may not set it', async () => {
    assert.equal((await run(bob, ['apps:create', 'strict'])).code, 0);
    for (const bad of ['10mb', '1k5', '1.5m', '2t', '$(id)']) {
      const r = await run(bob, ['proxy:set', 'strict', 'max-body-size', bad]);
      assert.equal(r.code, 2, bad);
      assert.match(
        r.stderr,
        /^berth: invalid body size ".*": use bytes or a number with k, m or g/,
      );
      assert.equal(r.stderr.split('\n').length, 2);
    }
    assert.equal((await run(bob, ['proxy:set', 'strict', 'max-body-size', '-1'])).code, 2);
    const unknown = await run(bob, ['proxy:set', 'strict', 'client-max-body-size', '1m']);
    assert.equal(unknown.code, 2);
    assert.equal(
      unknown.stderr,
      'berth: proxy:set has no setting "client-max-body-size" — use one of: max-body-size\n',
    );
    const other = await run(carol, ['proxy:set', 'strict', 'max-body-size', '1m']);
    assert.equal(other.code, 1);
    assert.equal(await redis.hexists(`${prefix}app:strict`, 'maxBodySize'), 0);
    assert.match(
      (await run(bob, ['help', 'proxy'])).stdout,
      /proxy:set APP\|--global max-body-size \[SIZE\]/,
    );
  });

  test('the setting goes with the app: renamed, it stays; a change is published to the routers', async () => {
    assert.equal((await run(bob, ['apps:create', 'moving'])).code, 0);
    const subscriber = redis.duplicate();
    after(() => subscriber.disconnect());
    const published: string[] = [];
    subscriber.on('message', (_channel, app: string) => published.push(app));
    await subscriber.subscribe(`${prefix}routes`);
    assert.equal((await run(bob, ['proxy:set', 'moving', 'max-body-size', '2m'])).code, 0);
    const t0 = performance.now();
    while (!published.includes('moving') && performance.now() - t0 < 2000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(published, ['moving']);
    await store.apps.rename('moving', 'moved');
    assert.equal((await report('moved')).maxBodySize, 2 * 1024 ** 2);
    await store.apps.destroy('moved');
    assert.equal(await redis.exists(`${prefix}app:moved`), 0);
  });
});

/** Bodies the sink backend received whole, and requests it saw cut off. */
const received: number[] = [];
let cutOff = 0;
// Started at the file's top level: startBackend's after() registered inside a
// before() hook can run as soon as that hook ends, closing the backend early.
const backend = await startBackend('sink', (req, res) => {
  let bytes = 0;
  req.on('data', (d: Buffer) => {
    bytes += d.length;
  });
  req.on('end', () => {
    received.push(bytes);
    res.end(`got ${bytes}`);
  });
  req.on('aborted', () => cutOff++);
});

describe('the router enforces it', () => {
  const LIMIT = 64 * 1024;
  let router: TestRouter;
  let app: string;
  let host: string;

  before(async () => {
    router = await startRouter({
      redisUrl: await sharedRedisUrl(),
      prefix,
      env: { BERTH_ROUTER_PROCESSES: '1', BERTH_MAX_BODY_SIZE: '64k' },
    });
    app = 'sink';
    host = `${app}.berth.test`;
    await store.apps.create({ name: app, owner: 'bob' });
    await setRoutes(redis, prefix, app, 1, [backend.address]);
    while ((await request(router.port, host)).status === 503) {
      await new Promise((r) => setTimeout(r, 10));
    }
  });
  after(() => router?.stop());

  const post = (body: string, headers: http.OutgoingHttpHeaders = {}) =>
    request(router.port, host, { method: 'POST', body, headers });

  /** Until the router's copy of the app's limit is `bytes` (a change arrives by pub/sub). */
  async function limitIs(bytes: number) {
    const t0 = performance.now();
    for (;;) {
      const over = await post('x'.repeat(bytes + 1));
      const at = await post('x'.repeat(bytes));
      if (over.status === 413 && at.status === 200) return;
      if (performance.now() - t0 > 2000) throw new Error(`limit not ${bytes} after 2 s`);
    }
  }

  test('BERTH_MAX_BODY_SIZE by default: a Content-Length over it is a 413 at once, the backend never asked', async () => {
    const n = received.length;
    const at = await post('x'.repeat(LIMIT));
    assert.equal(at.status, 200);
    assert.equal(at.body, `got ${LIMIT}`);
    const over = await post('x'.repeat(LIMIT + 1), { accept: 'text/html' });
    assert.equal(over.status, 413);
    assert.match(over.body, /<h1>413 Content Too Large<\/h1>/);
    assert.match(over.body, /the request body is larger than 64k, the limit for sink/);
    assert.equal(received.length, n + 1, 'only the request within the limit reached the backend');
  });

  test('a client still sending reads the 413 (the rest of its body is read and dropped), and its connection is reused', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    after(() => agent.destroy());
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: router.port,
        method: 'POST',
        agent,
        headers: { host, 'content-length': String(1024 * 1024) },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      // The whole megabyte, in chunks, as an upload would.
      for (let i = 0; i < 16; i++) req.write(Buffer.alloc(64 * 1024, 'x'));
      req.end();
    });
    assert.equal(status, 413);
    const next = await request(router.port, host, { agent });
    assert.equal(next.status, 200);
  });

  test('a chunked body is counted as it streams: past the limit, 413 and the backend request aborted', async () => {
    const n = received.length;
    const cut = cutOff;
    const answer = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: router.port,
        method: 'POST',
        agent: false,
        headers: { host, 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      let sent = 0;
      const more = () => {
        if (sent > 4 * LIMIT || req.destroyed) return req.end();
        req.write(Buffer.alloc(8 * 1024, 'x'));
        sent += 8 * 1024;
        setTimeout(more, 2);
      };
      more();
    });
    assert.equal(answer, 413);
    const t0 = performance.now();
    while (cutOff === cut && performance.now() - t0 < 2000)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(cutOff, cut + 1, 'the backend saw its request aborted');
    assert.equal(received.length, n, 'and never a whole body');
  });

  test('Expect: 100-continue over the limit: a 413 instead of "100 Continue", then the connection closes', async () => {
    const s = net.connect(router.port, '127.0.0.1');
    let text = '';
    s.on('data', (d) => {
      text += d;
    });
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.write(
      `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${LIMIT + 1}\r\nExpect: 100-continue\r\n\r\n`,
    );
    await closed;
    assert.match(text, /^HTTP\/1\.1 413 /);
    assert.doesNotMatch(text, /100 Continue/);
    // Within the limit, the router says continue and the body goes through.
    const within = await new Promise<string>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: router.port,
        method: 'POST',
        agent: false,
        headers: { host, 'content-length': '5', expect: '100-continue' },
      });
      req.on('continue', () => req.end('hello'));
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
    });
    assert.equal(within, 'got 5');
  });

  test("an app's own limit (proxy:set) applies at once, 0 lifts it; back to the default after", async () => {
    await store.apps.setMaxBodySize(app, 1024);
    await limitIs(1024);
    await store.apps.setMaxBodySize(app, 0);
    const t0 = performance.now();
    let r = await post('x'.repeat(4 * LIMIT));
    while (r.status === 413 && performance.now() - t0 < 2000) r = await post('x'.repeat(4 * LIMIT));
    assert.equal(r.status, 200);
    assert.equal(r.body, `got ${4 * LIMIT}`);
    await store.apps.setMaxBodySize(app, null);
    await limitIs(LIMIT);
  });
});

describe('the body deadline (BERTH_ROUTER_BODY_TIMEOUT)', () => {
  // Short here; 5 minutes by default.
  const DEADLINE_MS = 2000;

  /**
   * A POST of `size` bytes on a raw socket, its headers at once and then its
   * body one byte every `everyMs`: what came back, and when the router closed.
   */
  function drip(port: number, host: string, size: number, everyMs: number) {
    return new Promise<{ text: string; ms: number }>((resolve, reject) => {
      const t0 = performance.now();
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(`POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${size}\r\n\r\n`);
        let sent = 0;
        const timer = setInterval(() => {
          if (sent === size || s.destroyed) return clearInterval(timer);
          s.write('x');
          sent++;
        }, everyMs);
        s.on('close', () => clearInterval(timer));
      });
      let text = '';
      s.on('data', (d) => {
        text += d;
        // A whole answer to a whole body: done (the connection stays open).
        if (/^HTTP\/1\.1 200 [\s\S]*got \d+$/.test(text)) s.destroy();
      });
      s.on('close', () => resolve({ text, ms: performance.now() - t0 }));
      s.on('error', reject);
      setTimeout(() => s.destroy(), 15_000).unref();
    });
  }

  test('a body dripped a byte at a time gets 408 and the connection closed at the deadline; its backend request ends; a body in time goes through', async () => {
    const router = await startRouter({
      redisUrl: await sharedRedisUrl(),
      prefix,
      env: {
        BERTH_ROUTER_PROCESSES: '1',
        BERTH_ROUTER_HEADERS_TIMEOUT: '1s',
        BERTH_ROUTER_BODY_TIMEOUT: `${DEADLINE_MS / 1000}s`,
      },
    });
    after(() => router.stop());
    await store.apps.create({ name: 'dripped', owner: 'bob' });
    await setRoutes(redis, prefix, 'dripped', 1, [backend.address]);
    const host = 'dripped.berth.test';
    while ((await request(router.port, host)).status !== 200) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const n = received.length;
    const cut = cutOff;
    // Never idle for more than 300 ms, and never done: before the fix it held
    // the connection and the backend's request for as long as it dripped.
    const slow = await drip(router.port, host, 1000, 300);
    assert.match(slow.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.ok(
      slow.ms >= DEADLINE_MS * 0.9 && slow.ms < DEADLINE_MS + 2500,
      `closed after ${Math.round(slow.ms)} ms`,
    );
    const t0 = performance.now();
    while (cutOff === cut && performance.now() - t0 < 2000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(cutOff, cut + 1, 'the backend saw its request aborted');
    assert.equal(received.length, n, 'and never a whole body');
    // A body that is slow but whole within the deadline is served.
    const inTime = await drip(router.port, host, 4, 200);
    assert.match(inTime.text, /^HTTP\/1\.1 200 [\s\S]*got 4$/);
    // Counted as the 408 it was (a 4xx), not as a client that left.
    const counts = async () => (await store.metrics.totals()).get('dripped')?.byClass ?? [];
    const t1 = performance.now();
    const ended = async () => ((await counts())[3] ?? 0) + ((await counts())[5] ?? 0) > 0;
    while (!(await ended()) && performance.now() - t1 < 12_000) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const [, , , clientErrors, , aborted] = await counts();
    assert.deepEqual([clientErrors, aborted], [1, 0], '4xx, aborted');
  });
});
