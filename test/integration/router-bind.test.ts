// BERTH_ROUTER_BIND: the router's HTTP and HTTPS ports listen on one address
// when it names one (every interface by default). A real router process
// bound to 127.0.0.2 answers there and refuses connections on 127.0.0.1
// (both loopback: Linux routes all of 127.0.0.0/8 to lo).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { httpRequest } from '../harness/http.ts';
import { sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { startRouter, type TestRouter } from '../harness/router.ts';

const prefix = testPrefix();
let router: TestRouter;

before(async () => {
  router = await startRouter({
    redisUrl: await sharedRedisUrl(),
    prefix,
    env: { BERTH_ROUTER_BIND: '127.0.0.2' },
  });
});
after(() => router?.stop());

/** Whether a TCP connection to host:port is accepted. */
const accepts = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

test('the router listens on the address BERTH_ROUTER_BIND names, and nowhere else', async () => {
  const r = await httpRequest({
    host: '127.0.0.2',
    port: router.port,
    path: '/',
    headers: { host: 'nothing.berth.test' },
    agent: false,
  });
  assert.equal(r.status, 404, 'the router answers on 127.0.0.2');
  assert.equal(await accepts('127.0.0.2', router.httpsPort), true, 'HTTPS too');
  assert.equal(await accepts('127.0.0.1', router.port), false, 'not on 127.0.0.1');
  assert.equal(await accepts('127.0.0.1', router.httpsPort), false);
});
