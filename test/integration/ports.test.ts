// Ports as Dokku does them, with the real Engine, store and router: a
// Dockerfile app that EXPOSEs 8000 deploys unchanged and serves through the
// router (it was checked on 5000 and the push failed after 60 s); ports:set
// to another port rolls the instances with no failed request; a bad mapping
// and an https one without a certificate are refused with nothing changed;
// a web process that listens on nothing (`web: sleep 1000`) and one that
// listens on the wrong port fail within seconds, saying which port and the fix.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { followStream } from '../../services/core/docker-images.ts';
import { errorLine } from '../../services/core/errors.ts';
import { exposedTcpPorts } from '../../services/platform/build/exposed-ports.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { engineApp, quietDeployDeps } from '../harness/deploy.ts';
import { removeAppFromEngine, testStackImage } from '../harness/docker.ts';
import { startLoad } from '../harness/load.ts';
import { sharedRedisUrl } from '../harness/redis.ts';
import { request, startRouter } from '../harness/router.ts';
import { until } from '../harness/wait.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/apps/dockerfile-expose', import.meta.url));

const { prefix, store, app, docker, ada, run } = await engineApp('pt', {
  // The old instances of a ports:set stop this long after the switch.
  BERTH_DRAIN_TIMEOUT: '1s',
});
const router = await startRouter({ redisUrl: await sharedRedisUrl(), prefix });
after(() => router.stop());
const host = `${app}.berth.test`;

// The fixture, built as it is (FROM the test stack image, which has python3).
const image = `berth-test-expose:${app}`;
const dockerfile = await readFile(path.join(FIXTURE, 'Dockerfile'), 'utf8');
await followStream(
  docker,
  await docker.buildImage(
    { context: FIXTURE, src: ['Dockerfile', 'server.py'] },
    { t: image, buildargs: { BASE: testStackImage() }, labels: { 'berth.test': 'ports' } },
  ),
  () => {},
);
after(() =>
  docker
    .getImage(image)
    .remove({ force: true })
    .catch(() => {}),
);
// What the builder hands the deploy for this image (run-build.ts).
const exposedPorts = exposedTcpPorts(
  (await docker.getImage(image).inspect()).Config.ExposedPorts,
  dockerfile,
);

const deploy = async (processes: Record<string, string | null>, lines: string[] = []) =>
  deployImage(
    {
      ...quietDeployDeps(store, schedulerNamed('docker-local', { docker }), {
        signal: AbortSignal.timeout(60_000),
      }),
      log: { heading: (l) => lines.push(l), detail: (l) => lines.push(l) },
    },
    { app, image, processes, by: 'ada', description: 'Deploy', exposedPorts },
  );

const state = async () => ({
  settings: await store.apps.deploySettings(app),
  routes: await getRoutes(store.redis, prefix, app),
});

describe('ports as Dokku does them', () => {
  test('a Dockerfile app that EXPOSEs 8000 deploys unchanged and serves through the router', async () => {
    assert.deepEqual(exposedPorts, [8000]);
    const lines: string[] = [];
    const release = await deploy({ web: null }, lines);
    assert.equal(release.status, 'succeeded', lines.join('\n'));
    assert.ok(lines.includes('EXPOSE 8000: web listens on 8000'), lines.join('\n'));
    assert.ok(
      lines.includes("PORT=8000, checked and routed to: the image's EXPOSE"),
      lines.join('\n'),
    );
    const answer = await request(router.port, host);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'port 8000\n');
    const detected = await run(ada, ['ports:report', app, '--ports-map-detected']);
    assert.equal(detected.stdout, 'http:80:8000\n', detected.stderr);
    assert.equal((await run(ada, ['ports:report', app, '--ports-map'])).stdout, '\n');
  });

  test('a bad mapping, and an https one without a certificate, are refused with nothing changed', async () => {
    const before = await state();
    for (const [args, code, message] of [
      [['ports:set', app, 'http:8000:8000'], 2, /takes http on port 80 only.*http:80:8000/],
      [['ports:add', app, 'udp:53:53'], 2, /http and https only \(no udp\)/],
      [['ports:set', app, 'http:80'], 2, /use scheme:host-port:container-port/],
      [['ports:set', app, 'http:80:8000', 'https:443:9000'], 2, /container ports 8000 and 9000/],
      [
        ['ports:add', app, 'https:443:8000'],
        1,
        /the https mapping https:443:8000 of app ".*" needs a certificate.*certs:add/,
      ],
    ] as const) {
      const r = await run(ada, [...args]);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.deepEqual(await state(), before);
  });

  test('ports:set to another port rolls the instances with no failed request', async () => {
    const load = startLoad({
      port: router.port,
      host,
      connections: 4,
      pauseMs: 5,
      maxMs: 60_000,
      timeoutMs: 5000,
      phase: 'ports:set',
    });
    const r = await run(ada, ['ports:set', app, 'http:80:9000']);
    const [phase] = await load.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /http:80:9000; web listens on 9000 \(the app's port mapping\)/);
    assert.ok(phase && phase.requests > 20, JSON.stringify(phase));
    console.log(
      `ports:set under load: ${phase.requests} requests, ${phase.errors + phase.non2xx} failed`,
    );
    assert.equal(phase.errors + phase.non2xx, 0, JSON.stringify(phase));
    assert.equal((await request(router.port, host)).body, 'port 9000\n');
    assert.match(JSON.stringify(await getRoutes(store.redis, prefix, app)), /:9000"/);
    const listed = await run(ada, ['ports:list', app]);
    assert.match(listed.stdout, /^http +80 +9000$/m);
  });

  test('web: sleep 1000 fails within seconds, naming checks:skip, ports:set and a worker type', async () => {
    const started = performance.now();
    await assert.rejects(deploy({ web: 'exec sleep 1000' }), (e: Error) => {
      const line = errorLine(e);
      assert.match(
        line,
        /web\.1 of app ".*" did not become ready: it has run 10 s, listens on no port and is idle/,
      );
      assert.match(line, /must listen on \$PORT \(9000\)/);
      assert.match(line, /worker: \.\.\., then ps:scale .* web=0 worker=1/);
      assert.match(line, new RegExp(`checks:skip ${app} web`));
      return true;
    });
    const s = (performance.now() - started) / 1000;
    // 10 s of default wait, then a look at its sockets and CPU.
    assert.ok(s < 20, `took ${s} s`);
    console.log(`web: sleep 1000 refused after ${s.toFixed(1)} s`);
    // The previous release serves on.
    assert.equal((await request(router.port, host)).body, 'port 9000\n');
  });

  test('an app listening on the wrong port is told which port, and the fix', async () => {
    await assert.rejects(deploy({ web: 'exec python3 -m http.server 8080' }), (e: Error) => {
      const line = errorLine(e);
      assert.match(line, /it listens on port 8080, not on 9000 \(its PORT\)/);
      assert.match(
        line,
        new RegExp(`ports:set ${app} http:80:8080 \\(or config:set ${app} PORT=8080\\)`),
      );
      return true;
    });
    assert.equal((await request(router.port, host)).body, 'port 9000\n');
  });

  test("checks:set wait-to-retire keeps the previous instances that long; ports:clear goes back to EXPOSE's port", async () => {
    assert.equal((await run(ada, ['checks:set', app, 'wait-to-retire', '30'])).code, 0);
    const r = await run(ada, ['ports:clear', app]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no port mappings .*; web listens on 8000 \(the image's EXPOSE\)/);
    assert.match(r.stdout, /instance stops in 30 s/);
    // The router takes the new route from its PUBLISH, a moment later.
    await until('the router serves port 8000', async () => {
      return (await request(router.port, host)).body === 'port 8000\n';
    });
    // BERTH_DRAIN_TIMEOUT is 1 s here: the app's 30 s keeps the old one running.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const webs = await docker.listContainers({
      filters: { label: [`berth.app=${app}`, 'berth.process=web'] },
    });
    assert.equal(webs.length, 2);
  });

  test('an app listening on 127.0.0.1 only is told to listen on all addresses', async () => {
    await assert.rejects(
      deploy({ web: 'exec python3 -m http.server --bind 127.0.0.1 "$PORT"' }),
      (e: Error) => {
        const line = errorLine(e);
        assert.match(line, /it listens on port 8000 of 127\.0\.0\.1 only/);
        assert.match(line, /make it listen on all addresses \(0\.0\.0\.0 or ::/);
        return true;
      },
    );
  });

  test('ports:add, remove and clear as Dokku spells them, on an app not deployed yet', async () => {
    const fresh = `${app}n`;
    await store.apps.create({ name: fresh, owner: 'ada' });
    const map = async () => (await run(ada, ['ports:report', fresh, '--ports-map'])).stdout.trim();
    assert.equal((await run(ada, ['ports:add', fresh, 'http:80:7000'])).code, 0);
    // The same listener again replaces it.
    assert.equal((await run(ada, ['ports:add', fresh, 'http:80:7001'])).code, 0);
    assert.equal(await map(), 'http:80:7001');
    assert.equal(
      (await run(ada, ['ports:report', fresh, '--ports-map-json'])).stdout,
      '[{"scheme":"http","host_port":80,"container_port":7001}]\n',
    );
    // A host port alone removes every mapping on it; a mapping that is not there, nothing.
    assert.equal((await run(ada, ['ports:remove', fresh, 'http:80:9999'])).code, 0);
    assert.equal(await map(), 'http:80:7001');
    assert.equal((await run(ada, ['ports:remove', fresh, '80'])).code, 0);
    assert.equal(await map(), '');
    const list = await run(ada, ['ports:list', fresh]);
    assert.match(list.stdout, /^http +80 +5000$/m);
    assert.match(list.stdout, /web listens on 5000 \(PORT\), from the default/);
    assert.equal((await run(ada, ['ports:set', fresh, 'http:80:7002'])).code, 0);
    assert.equal((await run(ada, ['ports:clear', fresh])).code, 0);
    assert.equal(await map(), '');
    const bad = await run(ada, ['ports:remove', fresh, 'nonsense']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid port mapping "nonsense"/);
  });

  test('a worker-only app: the push says what runs and how to scale; a worker runs the default wait', async () => {
    const workers = `${app}w`;
    await store.apps.create({ name: workers, owner: 'ada' });
    after(() => removeAppFromEngine(docker, workers));
    assert.equal((await run(ada, ['checks:set', workers, 'default-wait', '2'])).code, 0);
    const lines: string[] = [];
    const started = performance.now();
    const release = await deployImage(
      {
        ...quietDeployDeps(store, schedulerNamed('docker-local', { docker })),
        log: { heading: (l) => lines.push(l), detail: (l) => lines.push(l) },
      },
      {
        app: workers,
        image: testStackImage(),
        processes: { worker: 'exec sleep 1000' },
        formation: { worker: 1 },
        by: 'ada',
        description: 'Deploy',
      },
    );
    const ms = performance.now() - started;
    assert.equal(release.status, 'succeeded', lines.join('\n'));
    assert.ok(ms >= 2000, `the worker was taken as running after ${ms} ms`);
    assert.ok(
      lines.includes(
        `runs worker=1 and serves no HTTP (no web instance); ps:scale ${workers} worker=N scales it`,
      ),
      lines.join('\n'),
    );
    // A worker that exits within the default wait fails the push.
    await assert.rejects(
      deployImage(quietDeployDeps(store, schedulerNamed('docker-local', { docker })), {
        app: workers,
        image: testStackImage(),
        processes: { worker: 'sleep 1; exit 3' },
        formation: { worker: 1 },
        by: 'ada',
        description: 'Deploy',
      }),
      /worker\.1 of app .* did not become ready: the process exited/,
    );
  });
});
