// Issue 18, items 6: builds on a company's network. A registry the test
// serves over TLS with a certificate of its own CA stands for npm's registry
// seen through a TLS-intercepting proxy; an HTTP CONNECT proxy of the test's
// stands for the company's proxy. Both listen on the gateway of a build
// network made as the builder makes `berth-builds` (inter-container traffic
// off): that address is how a build reaches a service on the host. Real
// builder, real Engine, real npm in the stack image.
//
// - without BERTH_BUILD_CA_BUNDLE, npm fails on the certificate within
//   seconds, and the build's last line names the cause and the setting;
// - with it, the same app builds (the stack's public CAs still trusted);
// - with BERTH_BUILD_HTTPS_PROXY, npm's requests go through the proxy, and
//   with BERTH_APP_CA_BUNDLE the app trusts the bundle when it runs;
// - a registry whose name does not resolve fails fast with its own hint;
// - a Dockerfile build gets the proxies as build args, not in its image.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../services/core/config.ts';
import { Store } from '../../services/core/store/index.ts';
import { ensureBuildNetwork } from '../../services/platform/build/build-limits.ts';
import { APP_CA_FILE } from '../../services/platform/build/build-network.ts';
import { LAUNCHER } from '../../services/platform/build/buildpack-build.ts';
import { FIXTURE_APPS_DIR } from '../harness/buildpacks.ts';
import { type Builder, type Built, buildHarness } from '../harness/builds.ts';
import { startConnectProxy, type TestProxy } from '../harness/connect-proxy.ts';
import { ensureTestStackImage, testStackImage } from '../harness/docker.ts';
import { TEST_RUNTIMES } from '../harness/node-runtime.ts';
import {
  NODE_DEPS_PACKAGES,
  nodeDepsLockfile,
  startTestRegistry,
  type TestRegistry,
} from '../harness/npm-registry.ts';
import { redisClient } from '../harness/redis.ts';
import { makeTestCa, type TestCa } from '../harness/test-ca.ts';
import { tempDir } from '../harness/tmp.ts';

const h = await buildHarness('berth-build-network');
const { docker } = h;
/** The time a network failure may take to fail a build, from npm's start (issue 18: 73 s). */
const FAIL_FAST_MS = 10_000;

// At the top level, not in before(): node:test runs an `after` that a hook
// registers (as redisClient does) right after that hook.
await ensureTestStackImage(docker, await tempDir('berth-stack'));
const network = await ensureBuildNetwork(
  docker,
  h.dockerRun.labels,
  `berth-test-builds-${h.dockerRun.runId}`,
);
const gateway = await (async () => {
  const info = (await docker.getNetwork(network).inspect()) as {
    IPAM?: { Config?: { Gateway?: string }[] };
  };
  const address = info.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
  assert.ok(address, 'the build network has a gateway');
  return address;
})();
const ca: TestCa = await makeTestCa();
const registry: TestRegistry = await startTestRegistry(
  gateway,
  [...NODE_DEPS_PACKAGES],
  await ca.issue(gateway),
);
// Behind the proxy, by a name the build cannot resolve by itself: npm asks
// the proxy for it (npm's proxy agent also checks an IP address against
// "localhost", so a registry behind a proxy needs a name, as real ones have).
const REGISTRY_NAME = 'registry.berth-proxied.test';
const behindProxy: TestRegistry = await startTestRegistry(gateway, [...NODE_DEPS_PACKAGES], {
  ...(await ca.issue(REGISTRY_NAME)),
  name: REGISTRY_NAME,
});
const proxy: TestProxy = await startConnectProxy(gateway, { [REGISTRY_NAME]: gateway });
const common = {
  stackImage: testStackImage(),
  paths: { ...h.paths, runtimes: TEST_RUNTIMES },
  resources: { memory: 0, pids: 0, network },
};
// Through loadConfig, as the builder service gets them.
const withCa = loadConfig({ BERTH_BUILD_CA_BUNDLE: ca.certFile }).buildNetwork;
const withProxy = loadConfig({
  BERTH_BUILD_CA_BUNDLE: ca.certFile,
  BERTH_APP_CA_BUNDLE: 'on',
  BERTH_BUILD_HTTPS_PROXY: proxy.url,
  BERTH_BUILD_HTTP_PROXY: proxy.url,
}).buildNetwork;
const bare: Builder = await h.startBuilder(common);
const trusting: Builder = await h.startBuilder({ ...common, network: withCa });
const proxied: Builder = await h.startBuilder({ ...common, network: withProxy });
const stores = new Map<string, Store>();
for (const b of [bare, trusting, proxied]) {
  stores.set(b.prefix, new Store(await redisClient(b.prefix), b.prefix));
}

after(async () => {
  await proxy?.close();
  await behindProxy?.close();
  await registry?.close();
});

/** An app of `builder` with the node-deps fixture, its lock file and config; built. */
async function buildNodeDeps(
  builder: Builder,
  config: Record<string, string> = {},
  lock = true,
  from: TestRegistry = registry,
): Promise<Built & { app: string; npmStartedAt: number | undefined; endedAt: number }> {
  const app = await h.newApp(builder.prefix);
  const store = stores.get(builder.prefix) as Store;
  await store.config.set(app, { NPM_CONFIG_REGISTRY: from.url, ...config });
  const dir = path.join(FIXTURE_APPS_DIR, 'node-deps');
  const files: Record<string, string> = {};
  for (const name of await readdir(dir)) files[name] = await readFile(path.join(dir, name), 'utf8');
  if (lock) files['package-lock.json'] = nodeDepsLockfile('npm', from);
  const rev = await h.commit(app, files);
  let npmStartedAt: number | undefined;
  const built = await h.build(builder, app, rev, {
    onLine: (line) => {
      if (npmStartedAt === undefined && /^ {7}npm (ci|install) /.test(line))
        npmStartedAt = performance.now();
    },
  });
  return { ...built, app, npmStartedAt, endedAt: performance.now() };
}

const envOf = async (image: string) => (await docker.getImage(image).inspect()).Config.Env ?? [];

/** Runs `command` in the image as the app runs (profile.d, the app user) on the build network; its output. */
async function runInImage(image: string, command: string): Promise<string> {
  const container = await docker.createContainer({
    Image: image,
    Entrypoint: LAUNCHER,
    Cmd: [command],
    WorkingDir: '/app',
    Tty: true,
    Labels: h.dockerRun.labels,
    HostConfig: { NetworkMode: network },
  });
  try {
    await container.start();
    await container.wait();
    const out = (await container.logs({ stdout: true, stderr: true })) as Buffer;
    return out.toString('utf8').replace(/\r/g, '');
  } finally {
    await container.remove({ force: true });
  }
}

describe('builds behind a TLS-intercepting proxy', () => {
  test('without BERTH_BUILD_CA_BUNDLE npm fails on the certificate within 10 s, naming the cause and the fix', async (t) => {
    const b = await buildNodeDeps(bare);
    assert.equal(b.result.status, 'failed', b.lines.join('\n'));
    assert.ok(b.npmStartedAt !== undefined, b.lines.join('\n'));
    const npmMs = b.endedAt - b.npmStartedAt;
    t.diagnostic(`npm's failure took ${Math.round(npmMs)} ms (the build ${Math.round(b.ms)} ms)`);
    assert.ok(npmMs < FAIL_FAST_MS, `npm failed after ${Math.round(npmMs)} ms`);
    assert.match(
      b.result.error ?? '',
      /could not verify the registry's certificate \((UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\): a TLS-intercepting proxy\? set BERTH_BUILD_CA_BUNDLE to its CA/,
    );
    assert.ok(
      b.lines.some((l) => /set BERTH_BUILD_CA_BUNDLE to its CA \(see Berth's docs/.test(l)),
      b.lines.join('\n'),
    );
  });

  test('with BERTH_BUILD_CA_BUNDLE the same app builds; the image keeps neither the bundle nor its settings', async (t) => {
    const served = registry.tarballsServed();
    const b = await buildNodeDeps(trusting);
    assert.equal(b.result.status, 'succeeded', `${b.result.error}\n${b.lines.join('\n')}`);
    assert.ok(
      registry.tarballsServed() > served,
      `npm downloaded the dependencies over TLS (${served} before)\n${b.lines.join('\n')}`,
    );
    assert.ok(
      b.lines.some((l) => l.includes(`Trusting the CA certificates of ${ca.certFile}`)),
      b.lines.join('\n'),
    );
    const env = await envOf(b.result.image ?? '');
    assert.ok(!env.some((e) => /^(NODE_EXTRA_CA_CERTS|NPM_CONFIG_CAFILE|SSL_CERT_FILE)=/.test(e)));
    t.diagnostic(`built in ${Math.round(b.ms)} ms`);
  });

  test('a registry whose name does not resolve fails within 10 s with its own hint', async (t) => {
    // No lock file: npm asks the registry named in the config (a lock file's URLs name their host).
    const b = await buildNodeDeps(
      bare,
      { NPM_CONFIG_REGISTRY: 'https://registry.berth-nowhere.invalid/' },
      false,
    );
    assert.equal(b.result.status, 'failed', b.lines.join('\n'));
    assert.ok(b.npmStartedAt !== undefined, b.lines.join('\n'));
    const npmMs = b.endedAt - b.npmStartedAt;
    t.diagnostic(`npm's failure took ${Math.round(npmMs)} ms: ${b.result.error}`);
    assert.ok(npmMs < FAIL_FAST_MS, `npm failed after ${Math.round(npmMs)} ms`);
    assert.match(
      b.result.error ?? '',
      /could not resolve the registry's host \((ENOTFOUND|EAI_AGAIN) registry\.berth-nowhere\.invalid\): builds have no DNS for it; set NPM_CONFIG_REGISTRY to a registry mirror they reach, or BERTH_BUILD_HTTPS_PROXY/,
    );
  });
});

describe('builds through an HTTP(S) proxy', () => {
  test('npm goes through BERTH_BUILD_HTTPS_PROXY; with BERTH_APP_CA_BUNDLE the app trusts the bundle too', async (t) => {
    const before = proxy.tunnels.length;
    const b = await buildNodeDeps(proxied, {}, true, behindProxy);
    assert.equal(b.result.status, 'succeeded', `${b.result.error}\n${b.lines.join('\n')}`);
    const registryHost = new URL(behindProxy.url).host;
    const tunnels = proxy.tunnels.slice(before);
    assert.ok(
      tunnels.includes(registryHost),
      `npm's CONNECTs went to ${registryHost}: ${tunnels.join(', ')}`,
    );
    assert.ok(
      b.lines.some((l) =>
        l.includes('Through the proxy of BERTH_BUILD_HTTP_PROXY and BERTH_BUILD_HTTPS_PROXY'),
      ),
    );
    assert.ok(
      !b.lines.some((l) => l.includes(proxy.url)),
      'the proxy URL (credentials) is not logged',
    );
    const image = b.result.image ?? '';
    const env = await envOf(image);
    assert.ok(env.includes(`NODE_EXTRA_CA_CERTS=${APP_CA_FILE}`), env.join(' '));
    assert.ok(!env.some((e) => /PROXY=/i.test(e)), 'the proxy stays in the build');
    // The app, as its user, reaches the TLS registry; and the stack's public CAs are there too.
    const out = await runInImage(
      image,
      `node -e "require('https').get('${registry.url}berth-fixture-greeting', (r) => { console.log('status ' + r.statusCode); process.exit(0); }).on('error', (e) => console.log('error ' + e.code))"; grep -c 'BEGIN CERTIFICATE' ${APP_CA_FILE}`,
    );
    assert.match(out, /^status 200$/m, out);
    const certs = Number(/^(\d+)\s*$/m.exec(out)?.[1]);
    assert.ok(certs > 100, `the stack's CAs and the operator's: ${certs}`);
    t.diagnostic(`tunnels: ${tunnels.length}; the app's bundle holds ${certs} certificates`);
  });

  test('a Dockerfile build gets the proxies as build args, and its image does not keep them', async () => {
    const app = await h.newApp(proxied.prefix);
    const rev = await h.commit(app, {
      Dockerfile: [
        'FROM debian:bookworm-slim',
        `LABEL berth.test-run=${h.dockerRun.runId}`,
        'RUN echo "https proxy: $HTTPS_PROXY"',
        'CMD ["true"]',
        '',
      ].join('\n'),
    });
    const b = await h.build(proxied, app, rev);
    assert.equal(b.result.status, 'succeeded', `${b.result.error}\n${b.lines.join('\n')}`);
    assert.ok(
      b.lines.some((l) => l.includes(`https proxy: ${proxy.url}`)),
      b.lines.join('\n'),
    );
    const history = await docker.getImage(b.result.image ?? '').history();
    assert.ok(
      !history.some((layer: { CreatedBy?: string }) => layer.CreatedBy?.includes(proxy.url)),
      'the history does not keep the proxy',
    );
    assert.ok(!(await envOf(b.result.image ?? '')).some((e) => /PROXY=/i.test(e)));
  });
});
