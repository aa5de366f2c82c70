// The status page's answers compressed for the clients that ask, as the
// browser gets them (issue 22: each page under 100 KB transferred): the apps
// page with 200 apps and an app page with three hours of charts, against a
// real Redis and the real fastify app over HTTP on loopback.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { type Actor, ROOT } from '../../services/core/actor.ts';
import { createLogger } from '../../services/core/log.ts';
import { Store } from '../../services/core/store/index.ts';
import { createLoginLink } from '../../services/platform/accounts/sign-in.ts';
import { build } from '../../services/web/server.ts';
import { seedApps, seedTraffic } from '../harness/many-apps.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
await store.checkSchema();
const web = build({ store, log: createLogger('web', { level: 'silent' }), domain: 'berth.test' });
after(() => web.close());
await seedApps(store, 'busy', 200);
await seedTraffic(store, 'app-000', 180);
const origin = await web.listen({ host: '127.0.0.1', port: 0 });
const link = await createLoginLink(store, { webPort: 8080, domain: 'berth.test' }, ROOT as Actor, {
  user: 'busy',
});
const signIn = await fetch(`${origin}${new URL(link.url).pathname}`, {
  method: 'POST',
  redirect: 'manual',
});
const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';

/** A GET as sent on the wire: node's http leaves the body as the server encoded it. */
async function raw(path: string, acceptEncoding?: string) {
  const { request } = await import('node:http');
  return new Promise<{ headers: Record<string, string | string[] | undefined>; body: Buffer }>(
    (resolve, reject) => {
      const headers: Record<string, string> = { cookie };
      if (acceptEncoding !== undefined) headers['accept-encoding'] = acceptEncoding;
      const req = request(`${origin}${path}`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    },
  );
}

describe('compressed answers', () => {
  for (const [page, path, shows] of [
    ['the apps page with 200 apps', '/', '200 apps'],
    ['an app page with three hours of charts', '/apps/app-000', 'Traffic'],
  ] as const) {
    test(`${page}: under 100 KB as a browser gets it, the same page unpacked`, async (t) => {
      const plain = await raw(path);
      assert.equal(plain.headers['content-encoding'], undefined, 'no Accept-Encoding: as it is');
      assert.match(String(plain.headers.vary), /accept-encoding/);
      const html = plain.body.toString();
      assert.ok(html.includes(shows));

      // Chromium's header; brotli is chosen.
      const br = await raw(path, 'gzip, deflate, br, zstd');
      assert.equal(br.headers['content-encoding'], 'br');
      assert.match(String(br.headers.vary), /accept-encoding/);
      assert.ok(br.body.length < 100 * 1024, `${br.body.length} bytes`);
      // The same page but for what changes per request (the CSRF token, times).
      const unpacked = brotliDecompressSync(br.body).toString();
      assert.ok(unpacked.includes(shows));
      assert.ok(
        Math.abs(unpacked.length - html.length) < 200,
        `${unpacked.length} vs ${html.length}`,
      );

      // A client that takes gzip only, or refuses brotli with q=0.
      for (const header of ['gzip', 'br;q=0, gzip;q=0.5']) {
        const gz = await raw(path, header);
        assert.equal(gz.headers['content-encoding'], 'gzip', header);
        assert.ok(gunzipSync(gz.body).toString().includes(shows));
      }
      t.diagnostic(`${page}: ${html.length} bytes, ${br.body.length} with brotli`);
    });
  }

  test('small answers go as they are', async () => {
    const health = await raw('/healthz', 'br');
    assert.equal(health.headers['content-encoding'], undefined);
    assert.equal(JSON.parse(health.body.toString()).status, 'ok');
  });
});
