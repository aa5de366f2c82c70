// domains:* as users meet them, through the real dispatcher against a real
// Redis: normalization, refusals that change nothing, who may see which app,
// certificates going with their domain, and a real router serving the change.
import assert from 'node:assert/strict';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { domainToASCII } from 'node:url';
import { loadConfig } from '../../services/core/config.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import { certFile } from '../../services/platform/certs/cert-files.ts';
import { setRoutes } from '../../services/platform/routes/routes.ts';
import { commandRunner, userActor } from '../harness/commands.ts';
import { prefixSnapshot, redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { request, startBackend, startRouter, type TestRouter } from '../harness/router.ts';
import { tempDir } from '../harness/tmp.ts';

const prefix = testPrefix();
const redis = await redisClient(prefix);
const store = new Store(redis, prefix);
const config = loadConfig({ BERTH_DOMAIN: 'berth.test', BERTH_DATA_DIR: await tempDir() });
const paths = dataPaths(config.dataDir);
await mkdir(paths.certs, { recursive: true });
const run = commandRunner(store, config);

const alice = userActor('alice', 'admin');
const bob = userActor('bob'); // owns shop
const carol = userActor('carol'); // owns blog, collaborates on shop
const dave = userActor('dave'); // nothing
for (const u of [alice, bob, carol, dave]) {
  if (u.kind === 'user') await store.users.create(u.user, u.role);
}

let seq = 0;
/** A fresh app of bob's with carol as collaborator, and one of carol's alone. */
async function apps(): Promise<{ shop: string; blog: string }> {
  const n = ++seq;
  const shop = `shop${n}`;
  const blog = `blog${n}`;
  await store.apps.create({ name: shop, owner: 'bob' });
  await store.apps.addCollaborator(shop, 'carol');
  await store.apps.create({ name: blog, owner: 'carol' });
  return { shop, blog };
}

const domainsOf = (app: string) => store.domains.list(app);
const snapshot = () => prefixSnapshot(redis, prefix);
const oneLine = (s: string) => s.trim().split('\n').length === 1;
const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

/** A certificate as the renewer leaves it: metadata in Redis, a PEM file on disk. */
async function fakeCert(domain: string, notAfter = '2099-01-01T00:00:00.000Z') {
  await store.certs.set(domain, { source: 'manual', issuer: 'Test CA', notAfter });
  await writeFile(certFile(paths, domain), 'PEM\n', { mode: 0o600 });
}

describe('help', () => {
  test('help lists the domains namespace and its commands', async () => {
    assert.match((await run(dave, ['help'])).stdout, /^ {4}domains +the names an app is served/m);
    const help = (await run(dave, ['help', 'domains'])).stdout;
    for (const c of [
      'add APP DOMAIN...',
      'remove APP DOMAIN...',
      'set APP DOMAIN...',
      'clear APP',
    ]) {
      assert.match(help, new RegExp(`domains:${c.replace(/\./g, '\\.')}`));
    }
    assert.match(help, /domains:report \[APP\|--global\] \[--format json\]/);
  });
});

describe('domains:add', () => {
  test('names are normalized (case, trailing dot, IDNA) and adding again changes nothing', async () => {
    const { shop } = await apps();
    const r = await run(bob, [
      'domains:add',
      shop,
      'Shop.Example.COM',
      'bücher.example',
      'www.example.com.',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const idn = domainToASCII('bücher.example');
    assert.equal(idn, 'xn--bcher-kva.example');
    const added = ['shop.example.com', 'www.example.com', idn].sort();
    assert.equal(r.stdout, `-----> Added ${added.join(', ')} to ${shop}\n`);
    assert.deepEqual(await domainsOf(shop), added);
    assert.equal(await store.domains.owner('shop.example.com'), shop);

    const before = await snapshot();
    const again = await run(bob, ['domains:add', shop, 'SHOP.example.com']);
    assert.equal(again.code, 0);
    assert.equal(again.stdout, `       ${shop} already had these domains; nothing changed\n`);
    assert.equal(await snapshot(), before);
  });

  test('one bad name among good ones: a one-line usage error, nothing changed', async () => {
    const { shop } = await apps();
    await run(bob, ['domains:add', shop, `kept-${shop}.example.com`]);
    const before = await snapshot();
    for (const bad of [
      'under_score.com',
      'a..b.com',
      'x-.com',
      '10.0.0.1',
      'x y.com',
      'a\nb.com',
      '*.com',
      '*.*.x.com',
      'a.*.x.com',
      `${'x'.repeat(64)}.com`,
    ]) {
      const r = await run(bob, ['domains:add', shop, `good-${shop}.example.com`, bad]);
      assert.equal(r.code, 2, bad);
      assert.ok(oneLine(r.stderr), r.stderr);
      assert.match(r.stderr, /^berth: invalid domain "/);
    }
    assert.equal(await snapshot(), before);
    assert.deepEqual(await domainsOf(shop), [`kept-${shop}.example.com`]);
  });

  test("another app's domain is refused, naming it only to those who may see it; all or nothing", async () => {
    const { shop, blog } = await apps();
    const taken = `taken-${shop}.example.org`;
    assert.equal((await run(carol, ['domains:add', blog, taken])).code, 0);
    const before = await snapshot();

    // bob cannot see blog: told it is taken, not by whom.
    const hidden = await run(bob, ['domains:add', shop, `new-${shop}.example.org`, taken]);
    assert.equal(hidden.code, 1);
    assert.equal(
      hidden.stderr,
      `berth: domain ${taken} already belongs to another app — it must be removed from that app first; or pick another domain\n`,
    );
    assert.doesNotMatch(hidden.stderr, new RegExp(blog));
    // carol (collaborator on shop, owner of blog) and alice (admin) see blog.
    for (const actor of [carol, alice]) {
      const shown = await run(actor, ['domains:add', shop, taken.toUpperCase()]);
      assert.equal(shown.code, 1);
      assert.match(
        shown.stderr,
        new RegExp(`^berth: domain ${taken} already belongs to app "${blog}" — `),
      );
      assert.ok(oneLine(shown.stderr));
    }
    assert.equal(await snapshot(), before, 'nothing changed, not even the free name');
    assert.equal(await store.domains.owner(`new-${shop}.example.org`), undefined);
  });

  test("Berth's own domain and apps' default hosts are refused, the same whether that app exists", async () => {
    const { shop, blog } = await apps();
    const before = await snapshot();
    const refusals: [string, RegExp][] = [
      [
        'Berth.Test',
        /^berth: berth\.test cannot be a custom domain: it is Berth's own domain \(the status page\) — /,
      ],
      [
        `${shop}.berth.test`,
        new RegExp(
          `^berth: ${shop}\\.berth\\.test cannot be a custom domain: it is the default host of ${shop}, served already — `,
        ),
      ],
    ];
    for (const host of [`${blog}.berth.test`, 'no-such-app.berth.test']) {
      refusals.push([
        host,
        new RegExp(
          `^berth: ${host.replace(/\./g, '\\.')} cannot be a custom domain: every APP\\.berth\\.test is the default host of the app named APP — use a domain of your own; every app is served at APP\\.berth\\.test already\\n$`,
        ),
      ]);
    }
    for (const [host, expected] of refusals) {
      const r = await run(bob, ['domains:add', shop, `ok-${shop}.example.com`, host]);
      assert.equal(r.code, 1, host);
      assert.match(r.stderr, expected);
    }
    assert.equal(await snapshot(), before);
    // Deeper names under the base shadow no app's default host.
    const deeper = await run(bob, ['domains:add', shop, `www.${shop}.berth.test`]);
    assert.equal(deeper.code, 0, deeper.stderr);
  });

  test('with BERTH_STATUS_HOST, no app may take that host or a name under it (issue 16)', async () => {
    const { shop } = await apps();
    const own = commandRunner(
      store,
      loadConfig({
        BERTH_DOMAIN: 'berth.test',
        BERTH_STATUS_HOST: 'status.example.net',
        BERTH_DATA_DIR: config.dataDir,
      }),
    );
    const before = await snapshot();
    for (const host of ['status.example.net', 'Www.Status.Example.Net']) {
      const r = await own(bob, ['domains:add', shop, host]);
      assert.equal(r.code, 1, host);
      assert.match(
        r.stderr,
        /cannot be a custom domain: it is the status page's host \(BERTH_STATUS_HOST\) or a name under it/,
      );
    }
    assert.equal(await snapshot(), before);
    // A sibling on that registered domain is the operator's to keep apart (docs/configuration.md).
    assert.equal((await own(bob, ['domains:add', shop, `${shop}.example.net`])).code, 0);
  });
});

describe('domains:set, domains:remove, domains:clear', () => {
  test('set makes exactly these the domains; a dropped one loses its certificate metadata and file', async () => {
    const { shop } = await apps();
    const [a, b, c] = ['a', 'b', 'c'].map((x) => `${x}-${shop}.example.com`) as [
      string,
      string,
      string,
    ];
    await run(bob, ['domains:add', shop, a, b]);
    await fakeCert(a);
    const r = await run(bob, ['domains:set', shop, b, c.toUpperCase()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `-----> ${shop}'s custom domains: ${b}, ${c}\n       added ${c}; removed ${a}\n`,
    );
    assert.deepEqual(await domainsOf(shop), [b, c]);
    assert.equal(await store.certs.get(a), undefined);
    assert.equal(await exists(certFile(paths, a)), false);
    assert.equal(await store.domains.owner(a), undefined);

    const same = await run(bob, ['domains:set', shop, c, b]);
    assert.equal(same.stdout, `-----> ${shop}'s custom domains: ${b}, ${c}\n       (unchanged)\n`);
    const none = await run(bob, ['domains:set', shop]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /missing argument; usage: berth domains:set APP DOMAIN\.\.\./);
  });

  test('set is all or nothing: a taken or invalid name keeps the old domains and certificates', async () => {
    const { shop, blog } = await apps();
    const mine = `mine-${shop}.example.com`;
    const theirs = `theirs-${blog}.example.com`;
    await run(bob, ['domains:add', shop, mine]);
    await fakeCert(mine);
    await run(carol, ['domains:add', blog, theirs]);
    const before = await snapshot();
    const taken = await run(bob, ['domains:set', shop, `x-${shop}.example.com`, theirs]);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /already belongs to another app/);
    const invalid = await run(bob, ['domains:set', shop, `x-${shop}.example.com`, 'bad..name']);
    assert.equal(invalid.code, 2);
    assert.equal(await snapshot(), before);
    assert.equal(await exists(certFile(paths, mine)), true);
  });

  test('remove takes several names, all or none; its certificate goes with each', async () => {
    const { shop, blog } = await apps();
    const [a, b, c] = ['a', 'b', 'c'].map((x) => `${x}-${shop}.example.net`) as [
      string,
      string,
      string,
    ];
    const theirs = `${blog}.example.net`;
    await run(bob, ['domains:add', shop, a, b, c]);
    await run(carol, ['domains:add', blog, theirs]);
    await fakeCert(a);
    await fakeCert(theirs);
    const before = await snapshot();
    for (const missing of [`nope-${shop}.example.net`, theirs]) {
      const r = await run(bob, ['domains:remove', shop, a, missing]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `berth: domain ${missing} is not a domain of app "${shop}" — run "berth domains:report ${shop}" to see its domains\n`,
      );
    }
    assert.equal(await snapshot(), before);

    const r = await run(bob, ['domains:remove', shop, a.toUpperCase(), b]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `-----> Removed ${a}, ${b} from ${shop}\n`);
    assert.deepEqual(await domainsOf(shop), [c]);
    assert.equal(await store.certs.get(a), undefined);
    assert.equal(await exists(certFile(paths, a)), false);
    // The other app's certificate is untouched.
    assert.ok(await store.certs.get(theirs));
    assert.equal(await exists(certFile(paths, theirs)), true);
  });

  test('clear removes every custom domain; the default host stays', async () => {
    const { shop } = await apps();
    const [a, b] = [`a-${shop}.example.io`, `b-${shop}.example.io`];
    await run(bob, ['domains:add', shop, a, b]);
    await fakeCert(b);
    const r = await run(bob, ['domains:clear', shop]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `-----> Removed every custom domain of ${shop}: ${a}, ${b}\n`);
    assert.deepEqual(await domainsOf(shop), []);
    assert.equal(await exists(certFile(paths, b)), false);
    assert.equal(
      (await run(bob, ['domains:clear', shop])).stdout,
      `       ${shop} had no custom domains\n`,
    );
    assert.equal((await run(bob, ['domains:clear', shop, 'extra'])).code, 2);
    const report = JSON.parse(
      (await run(bob, ['domains:report', shop, '--format', 'json'])).stdout,
    );
    assert.deepEqual(
      report.domains.map((d: { domain: string }) => d.domain),
      [`${shop}.berth.test`],
    );
  });
});

describe('domains:report', () => {
  test('the default host first, then custom domains, each with its certificate; text and JSON', async () => {
    const { shop } = await apps();
    const [a, b, c] = [`a-${shop}.example.com`, `b-${shop}.example.com`, `c-${shop}.example.com`];
    await run(bob, ['domains:add', shop, c, a, b]);
    await fakeCert(a);
    await fakeCert(b, '2001-01-01T00:00:00.000Z');
    await store.certs.set(c, { source: 'acme', lastError: 'DNS problem:\nNXDOMAIN' });

    const text = await run(carol, ['domains:report', shop]);
    assert.equal(text.code, 0, text.stderr);
    const host = `${shop}.berth.test`;
    const w = a.length;
    assert.equal(
      text.stdout,
      `=====> ${shop} domains\n` +
        `       ${host.padEnd(w)}  default  no certificate\n` +
        `       ${a}  custom   certificate (manual) valid until 2099-01-01\n` +
        `       ${b}  custom   certificate (manual) expired 2001-01-01\n` +
        `       ${c}  custom   certificate pending (acme); last attempt failed: DNS problem: NXDOMAIN\n`,
    );

    const data = JSON.parse((await run(bob, ['domains:report', shop, '--format', 'json'])).stdout);
    assert.equal(data.app, shop);
    assert.deepEqual(
      data.domains.map((d: { domain: string; kind: string }) => [d.domain, d.kind]),
      [
        [host, 'default'],
        [a, 'custom'],
        [b, 'custom'],
        [c, 'custom'],
      ],
    );
    assert.equal(data.domains[0].certificate, null);
    assert.deepEqual(
      {
        source: data.domains[1].certificate.source,
        issuer: data.domains[1].certificate.issuer,
        notAfter: data.domains[1].certificate.notAfter,
      },
      { source: 'manual', issuer: 'Test CA', notAfter: '2099-01-01T00:00:00.000Z' },
    );
    assert.equal(data.domains[1].certificate.domain, undefined);
  });
});

describe('who may change domains', () => {
  test('owner, collaborator and admin may; anyone else is told the app does not exist', async () => {
    const { shop } = await apps();
    for (const [actor, name] of [
      [bob, 'owner'],
      [carol, 'collab'],
      [alice, 'admin'],
    ] as const) {
      const r = await run(actor, ['domains:add', shop, `${name}-${shop}.example.com`]);
      assert.equal(r.code, 0, r.stderr);
    }
    const before = await snapshot();
    for (const argv of [
      ['domains:add', shop, `dave-${shop}.example.com`],
      ['domains:remove', shop, `owner-${shop}.example.com`],
      ['domains:set', shop, `dave-${shop}.example.com`],
      ['domains:clear', shop],
      ['domains:report', shop],
      ['domains:report', shop, '--format', 'json'],
    ]) {
      const hidden = await run(dave, argv);
      const missing = await run(bob, [argv[0] as string, 'no-such-app', ...argv.slice(2)]);
      assert.equal(hidden.code, 1, argv.join(' '));
      assert.equal(
        hidden.stderr,
        `berth: app "${shop}" does not exist — run "berth apps:list" to see the apps\n`,
      );
      assert.equal(missing.stderr, hidden.stderr.replace(shop, 'no-such-app'));
    }
    assert.equal(await snapshot(), before);
  });
});

describe('global domains', () => {
  test('admins add and remove them; every app is reported at APP.GLOBAL; --global lists them', async () => {
    const { shop } = await apps();
    const forbidden = await run(bob, ['domains:add-global', 'apps.example']);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /^berth: domains:add-global is for admins — /);
    const own = await run(alice, ['domains:add-global', 'Berth.Test']);
    assert.equal(own.code, 1);
    assert.match(own.stderr, /^berth: berth\.test cannot be a custom domain: it is BERTH_DOMAIN/);

    const r = await run(alice, ['domains:add-global', 'Apps.Example', 'apps.example']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      '-----> Added global apps.example: every app is also served at APP.apps.example\n',
    );
    try {
      assert.equal(
        (await run(dave, ['domains:report', '--global'])).stdout,
        '=====> global domains (every app at APP.DOMAIN)\n' +
          '       berth.test    BERTH_DOMAIN\n' +
          '       apps.example  global\n',
      );
      const data = JSON.parse(
        (await run(dave, ['domains:report', '--global', '--format', 'json'])).stdout,
      );
      assert.deepEqual(data, { base: 'berth.test', globals: ['apps.example'] });
      const report = JSON.parse(
        (await run(bob, ['domains:report', shop, '--format', 'json'])).stdout,
      );
      assert.deepEqual(
        report.domains.map((d: { domain: string; kind: string }) => [d.domain, d.kind]),
        [
          [`${shop}.berth.test`, 'default'],
          [`${shop}.apps.example`, 'global'],
        ],
      );

      // Under a global domain, the same names are reserved as under BERTH_DOMAIN.
      const before = await snapshot();
      for (const [host, reason] of [
        ['apps.example', 'it is a global domain'],
        ['other.apps.example', 'every APP.apps.example is the default host of the app named APP'],
      ]) {
        const refused = await run(bob, [
          'domains:add',
          shop,
          `fine-${shop}.example.com`,
          host as string,
        ]);
        assert.equal(refused.code, 1, host);
        assert.equal(
          refused.stderr,
          `berth: ${host} cannot be a custom domain: ${reason} — use a domain of your own; every app is served at APP.apps.example already\n`,
        );
      }
      assert.equal(await snapshot(), before);
      assert.equal((await run(bob, ['domains:add', shop, `www.${shop}.apps.example`])).code, 0);
    } finally {
      assert.equal(
        (await run(alice, ['domains:remove-global', 'apps.example'])).stdout,
        '-----> Removed global apps.example\n',
      );
    }
    assert.equal(
      (await run(alice, ['domains:remove-global', 'apps.example'])).stdout,
      '       none of these was a global domain; nothing changed\n',
    );
    assert.equal((await run(bob, ['domains:remove-global', 'apps.example'])).code, 1);
  });

  test("a global domain is refused, all of them, while an app's custom domain is in the way", async () => {
    const { shop, blog } = await apps();
    await run(carol, ['domains:add', blog, `${shop}.in-the-way.example`]);
    const before = await snapshot();
    const r = await run(alice, ['domains:add-global', 'free.example', 'in-the-way.example']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `^berth: domain ${shop}\\.in-the-way\\.example already belongs to app "${blog}" — `,
      ),
    );
    assert.equal(await snapshot(), before);
    assert.deepEqual(await store.domains.globals(), []);
  });

  test('domains:report with no app: each app the user can see, in turn', async () => {
    const { shop, blog } = await apps();
    const r = await run(bob, ['domains:report']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^=====> ${shop} domains$`, 'm'));
    // Carol's own app is not bob's to see.
    assert.doesNotMatch(r.stdout, new RegExp(`=====> ${blog} `));
  });
});

let router: TestRouter;
/** Polls the router until `host` answers `status`; how long it took. */
async function until(host: string, status: number) {
  const t0 = performance.now();
  for (;;) {
    const r = await request(router.port, host);
    if (r.status === status) return { r, ms: performance.now() - t0 };
    if (performance.now() - t0 > 2000) assert.fail(`${host}: ${r.status}, not ${status}`);
    await new Promise((res) => setTimeout(res, 5));
  }
}

describe('through a real router', () => {
  before(async () => {
    router = await startRouter({ redisUrl: await sharedRedisUrl(), prefix });
  });
  after(() => router.stop());

  test('an added domain is served at once; a removed one is a 404', async () => {
    const { shop } = await apps();
    const backend = await startBackend('shop-backend');
    await setRoutes(redis, prefix, shop, 1, [backend.address]);
    await until(`${shop}.berth.test`, 200);
    const custom = `www.${shop}.example.com`;
    assert.equal((await request(router.port, custom)).status, 404);

    assert.equal((await run(bob, ['domains:add', shop, custom.toUpperCase()])).code, 0);
    const served = await until(custom, 200);
    assert.equal(JSON.parse(served.r.body).name, 'shop-backend');
    assert.ok(served.ms < 1000, `served after ${served.ms} ms`);

    assert.equal((await run(bob, ['domains:remove', shop, custom])).code, 0);
    const gone = await until(custom, 404);
    assert.ok(gone.ms < 1000, `404 after ${gone.ms} ms`);
    assert.equal((await request(router.port, `${shop}.berth.test`)).status, 200);
  });

  test('a global domain serves every app under it at once; removed, a 404', async () => {
    const { shop } = await apps();
    const backend = await startBackend('global-backend');
    await setRoutes(redis, prefix, shop, 1, [backend.address]);
    const host = `${shop}.routed.example`;
    assert.equal((await request(router.port, host)).status, 404);
    assert.equal((await run(alice, ['domains:add-global', 'routed.example'])).code, 0);
    const served = await until(host, 200);
    assert.equal(JSON.parse(served.r.body).name, 'global-backend');
    assert.equal((await run(alice, ['domains:remove-global', 'routed.example'])).code, 0);
    await until(host, 404);
    assert.equal((await request(router.port, `${shop}.berth.test`)).status, 200);
  });
});
