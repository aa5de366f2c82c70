// Wildcard domains end to end: domains:add APP *.example.test through the
// real dispatcher and Redis, served by the real router (two router
// processes) for any single-label subdomain, an exact domain winning; a
// certificate added with certs:add for the wildcard served to those hosts
// by SNI; and the hostile cases, each refused in one
// line with nothing changed: malformed wildcards, a wildcard over the
// platform's hosts, over another tenant's domain, a domain under another
// tenant's wildcard.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../services/core/config.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import { FALLBACK_NAME } from '../../services/platform/certs/fallback-cert.ts';
import { setRoutes } from '../../services/platform/routes/routes.ts';
import { makeCert } from '../harness/certs.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import {
  handshake,
  request,
  startBackend,
  startRouter,
  type TestRouter,
} from '../harness/router.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const paths = dataPaths(await tempDir('berth-wildcard'));
await mkdir(paths.certs, { recursive: true });
const config = loadConfig({ BERTH_DOMAIN: 'berth.test', BERTH_DATA_DIR: paths.root });
const run = commandRunner(store, config);
let router: TestRouter;

const bob = userActor('bob');
const carol = userActor('carol');
for (const u of [bob, carol]) if (u.kind === 'user') await store.users.create(u.user, u.role);

before(async () => {
  router = await startRouter({
    redisUrl: await sharedRedisUrl(),
    prefix,
    env: { BERTH_ROUTER_PROCESSES: '2', BERTH_DATA_DIR: paths.root },
  });
});
after(() => router.stop());

async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > ms) throw new Error(`not so after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `check` holds on `n` fresh connections in a row (they land on either router process). */
const everyProcess =
  (check: () => Promise<boolean>, n = 8) =>
  async () => {
    for (let i = 0; i < n; i++) if (!(await check())) return false;
    return true;
  };

/** Which app answered a host (its backend echoes its name), or the status. */
async function who(host: string): Promise<string> {
  const r = await request(router.port, host);
  return r.status === 200 ? (JSON.parse(r.body) as { name: string }).name : String(r.status);
}

let seq = 0;
async function app(owner: string): Promise<string> {
  const name = `wc${++seq}`;
  await store.apps.create({ name, owner });
  const backend = await startBackend(name);
  await setRoutes(redis, prefix, name, 1, [backend.address]);
  return name;
}

const oneLine = (s: string) => s.trim().split('\n').length === 1;

/**
 * Every domain's holder, the global domains and the certificates' records:
 * what a refused change must leave as it was. (Not the whole prefix: the
 * router counts the test's requests into it as they come.)
 */
const domainState = async () =>
  JSON.stringify([
    [...(await store.domains.all())],
    await store.domains.globals(),
    await store.certs.list(),
  ]);

describe('a wildcard domain through the router', () => {
  test('serves any single-label subdomain from the app; an exact domain of the same owner wins; not deeper, not the apex', async () => {
    const catchAll = await app('bob');
    const api = await app('bob');
    const add = await run(bob, ['domains:add', catchAll, '*.Shop.Test']);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /Added \*\.shop\.test to/);
    assert.equal((await run(bob, ['domains:add', api, 'api.shop.test'])).code, 0);

    await until(everyProcess(async () => (await who('anything.shop.test')) === catchAll));
    await until(everyProcess(async () => (await who('api.shop.test')) === api));
    assert.equal(await who('x-2.shop.test'), catchAll);
    assert.equal(await who('a.b.shop.test'), '404');
    assert.equal(await who('shop.test'), '404');

    const report = await run(bob, ['domains:report', catchAll]);
    assert.match(report.stdout, /\*\.shop\.test/);
    const json = JSON.parse(
      (await run(bob, ['domains:report', catchAll, '--format', 'json'])).stdout,
    );
    assert.ok(JSON.stringify(json).includes('*.shop.test'));

    // Removed: its hosts are no longer served.
    assert.equal((await run(bob, ['domains:remove', catchAll, '*.shop.test'])).code, 0);
    await until(everyProcess(async () => (await who('anything.shop.test')) === '404'));
    assert.equal(await who('api.shop.test'), api);
  });

  test('a certificate added with certs:add for the wildcard is served to its hosts by SNI', async () => {
    const name = await app('bob');
    assert.equal((await run(bob, ['domains:add', name, '*.tls.test'])).code, 0);
    const cert = await makeCert(['*.tls.test']);
    const add = await run(bob, ['certs:add', name], `${cert.cert}${cert.key}`);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /\*\.tls\.test/);
    await until(
      everyProcess(
        async () => (await handshake(router.httpsPort, 'one.tls.test')).serial === cert.serial,
      ),
    );
    assert.equal((await handshake(router.httpsPort, 'two.tls.test')).serial, cert.serial);
    // Not a host the wildcard serves: the fallback.
    assert.equal((await handshake(router.httpsPort, 'a.b.tls.test')).cn, FALLBACK_NAME);
    // HTTP is redirected to HTTPS for its hosts, as for an exact domain with a certificate.
    const plain = await request(router.port, 'one.tls.test');
    assert.equal(plain.status, 308);
    const report = await run(bob, ['certs:report', name]);
    assert.match(report.stdout, /\*\.tls\.test/);
    // Removed with its domain.
    assert.equal((await run(bob, ['domains:remove', name, '*.tls.test'])).code, 0);
    await until(
      everyProcess(
        async () => (await handshake(router.httpsPort, 'one.tls.test')).cn === FALLBACK_NAME,
      ),
    );
  });

  test('a certificate that names only exact hosts does not cover the wildcard', async () => {
    const name = await app('bob');
    assert.equal((await run(bob, ['domains:add', name, '*.exact.test'])).code, 0);
    const cert = await makeCert(['one.exact.test']);
    const add = await run(bob, ['certs:add', name], `${cert.cert}${cert.key}`);
    assert.notEqual(add.code, 0);
    assert.ok(oneLine(add.stderr), add.stderr);
  });
});

// letsencrypt:enable with a wildcard: test/integration/acme.test.ts (against Pebble).

describe('hostile wildcards: one line, nothing changed', () => {
  test("malformed ones, and ones over the platform's hosts", async () => {
    const name = await app('bob');
    const before = await domainState();
    for (const bad of [
      '*',
      '*.*.x.test',
      '*.com',
      'a*.x.test',
      '*.',
      '*.berth.test',
      '*.x.test\n*.y.test',
    ]) {
      const r = await run(bob, ['domains:add', name, bad]);
      assert.notEqual(r.code, 0, bad);
      assert.ok(oneLine(r.stderr), `${bad}: ${r.stderr}`);
    }
    assert.equal(await domainState(), before);
  });

  test("a wildcard over another tenant's domain, and a domain under another tenant's wildcard", async () => {
    const bobs = await app('bob');
    const carols = await app('carol');
    assert.equal((await run(carol, ['domains:add', carols, 'pay.victim.test'])).code, 0);
    assert.equal((await run(carol, ['domains:add', carols, '*.carol.test'])).code, 0);
    await until(async () => (await who('pay.victim.test')) === carols);
    const before = await domainState();

    const over = await run(bob, ['domains:add', bobs, '*.victim.test']);
    assert.equal(over.code, 1);
    assert.ok(oneLine(over.stderr));
    assert.match(
      over.stderr,
      /\*\.victim\.test overlaps pay\.victim\.test, which belongs to another app/,
    );
    assert.doesNotMatch(over.stderr, new RegExp(carols));

    const under = await run(bob, ['domains:add', bobs, 'shop.carol.test']);
    assert.equal(under.code, 1);
    assert.match(
      under.stderr,
      /shop\.carol\.test overlaps \*\.carol\.test, which belongs to another app/,
    );

    const same = await run(bob, ['domains:add', bobs, '*.carol.test']);
    assert.equal(same.code, 1);
    assert.match(same.stderr, /already belongs to another app/);

    // set is checked the same way, all or none.
    const set = await run(bob, ['domains:set', bobs, 'fine.bob.test', '*.victim.test']);
    assert.equal(set.code, 1);
    assert.equal(await domainState(), before);
    assert.equal(await who('anything.carol.test'), carols);
    assert.equal(await who('pay.victim.test'), carols);
  });

  test('a global domain over a wildcard is refused, and a wildcard over a global domain', async () => {
    const name = await app('bob');
    assert.equal((await run(bob, ['domains:add', name, '*.apps.test'])).code, 0);
    const admin = userActor('root-admin', 'admin');
    if (admin.kind === 'user') await store.users.create(admin.user, admin.role);
    const g = await run(admin, ['domains:add-global', 'apps.test']);
    assert.equal(g.code, 1);
    assert.ok(oneLine(g.stderr));
    assert.equal((await run(admin, ['domains:add-global', 'global.test'])).code, 0);
    const w = await run(bob, ['domains:add', name, '*.global.test']);
    assert.equal(w.code, 1);
    assert.match(w.stderr, /default host of the app named APP/);
    assert.equal((await run(admin, ['domains:remove-global', 'global.test'])).code, 0);
  });
});
