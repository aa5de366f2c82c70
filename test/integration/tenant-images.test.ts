// Images belong to apps: what an app's build may start FROM, COPY --from and
// ADD, and what git:from-image may deploy, with the real builder, Engine and
// git. Another app's image holds a secret; without the image policy
// (services/platform/build/image-policy.ts) each attack below prints it in
// the build log, and each fetch from a loopback address reaches the
// listener this file opens.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Store } from '../../services/core/store/index.ts';
import { type Builder, buildHarness } from '../harness/builds.ts';

const { docker, dockerRun, main, startBuilder, stopBuilder, newApp, commit, build, deployImage } =
  await buildHarness('berth-tenant-images');
const store = new Store(main.redis, main.prefix);
const secret = `victim-secret-${randomBytes(6).toString('hex')}`;
let victim: string;
let victimId: string;

// A loopback service of this machine's, as the metrics port is: any
// connection to it is a fetch the Engine was made to do.
const reached: string[] = [];
const sockets = new Set<Socket>();
const listener = createServer((socket) => {
  sockets.add(socket);
  socket.once('data', (d) => reached.push(d.toString('latin1').split('\r\n')[0] ?? ''));
  socket.on('close', () => sockets.delete(socket));
  socket.end('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nloopback!');
});
await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
const port = (listener.address() as { port: number }).port;
after(() => {
  for (const s of sockets) s.destroy();
  listener.close();
});

before(async () => {
  victim = await newApp();
  const rev = await commit(victim, {
    Dockerfile: `FROM debian:bookworm-slim\nENV BERTH_TEST_RUN=${dockerRun.runId}\nRUN echo ${secret} > /secret\n`,
  });
  const built = await build(main, victim, rev);
  assert.equal(built.result.status, 'succeeded', built.result.error);
  victimId = (await docker.getImage(`berth/${victim}:latest`).inspect()).Id;
});

/** Builds `dockerfile` as a new app; the build's end and everything it printed. */
async function attempt(
  dockerfile: string,
  o: { setup?: (app: string) => Promise<void>; builder?: Builder } = {},
) {
  const builder = o.builder ?? main;
  const app = await newApp(builder.prefix);
  await o.setup?.(app);
  const built = await build(builder, app, await commit(app, { Dockerfile: dockerfile }));
  const printed = built.lines.join('\n');
  assert.doesNotMatch(printed, new RegExp(secret), 'the secret never reaches the log');
  return { app, ...built, printed };
}

describe('images belong to apps', () => {
  test("FROM another app's image is refused before the Engine builds", async () => {
    const r = await attempt(`FROM berth/${victim}:latest\nRUN cat /secret\n`);
    assert.equal(r.result.status, 'failed');
    assert.match(
      r.result.error ?? '',
      new RegExp(
        `^Dockerfile:1 FROM berth/${victim}:latest is not allowed: Berth's images are its own and its apps'`,
      ),
    );
    assert.doesNotMatch(r.printed, /Step 1\//, 'nothing was sent to the Engine');
  });

  test("a build arg that names another app's image in FROM is checked with its value", async () => {
    const r = await attempt(`ARG BASE=debian:bookworm-slim\nFROM $\{BASE}\nRUN cat /secret\n`, {
      async setup(app) {
        await store.config.set(app, { BASE: `berth/${victim}:latest` });
        await store.apps.setBuildSetting(app, 'buildArgs', ['BASE']);
      },
    });
    assert.match(r.result.error ?? '', new RegExp(`FROM berth/${victim}:latest is not allowed`));
  });

  test('FROM a variable with no value before the build is refused, not guessed', async () => {
    const r = await attempt(`FROM $\{NOWHERE:-debian:bookworm-slim}\nRUN true\n`);
    assert.match(r.result.error ?? '', /a variable in it has no value before the build/);
  });

  test("COPY --from another app's image, and FROM an image id, are refused", async () => {
    const copy = await attempt(
      `FROM debian:bookworm-slim\nCOPY --from=berth/${victim}:latest /secret /s\nRUN cat /s\n`,
    );
    assert.match(copy.result.error ?? '', /^Dockerfile:2 COPY --from .* is not allowed/);
    // The Engine looks an untagged hex name up as an image id, or a prefix of one.
    const byId = await attempt(`FROM ${victimId.slice(7, 19)}\nRUN cat /secret\n`);
    assert.match(byId.result.error ?? '', /names an image by id/);
  });

  test("a base image's ONBUILD that copies from another app's image is refused", async () => {
    const app = await newApp();
    const own = await build(
      main,
      app,
      await commit(app, {
        Dockerfile: `FROM debian:bookworm-slim\nENV BERTH_TEST_RUN=${dockerRun.runId}\nONBUILD COPY --from=berth/${victim}:latest /secret /s\n`,
      }),
    );
    assert.equal(own.result.status, 'succeeded', own.result.error);
    const r = await build(
      main,
      app,
      await commit(app, { Dockerfile: `FROM berth/${app}:latest\nRUN cat /s\n` }),
    );
    assert.match(r.result.error ?? '', new RegExp(`^ONBUILD of berth/${app}:latest:2 COPY --from`));
    assert.doesNotMatch(r.lines.join('\n'), new RegExp(secret));
  });

  test('an app builds on its own images', async () => {
    const app = await newApp();
    const first = await build(
      main,
      app,
      await commit(app, {
        Dockerfile: `FROM debian:bookworm-slim\nENV BERTH_TEST_RUN=${dockerRun.runId}\nRUN echo mine > /mine\n`,
      }),
    );
    assert.equal(first.result.status, 'succeeded', first.result.error);
    const second = await build(
      main,
      app,
      await commit(app, { Dockerfile: `FROM berth/${app}:latest\nRUN cat /mine\n` }),
    );
    assert.equal(second.result.status, 'succeeded', second.result.error);
  });

  test('registries and ADD URLs at loopback addresses are never fetched, whatever the admin allows', async () => {
    reached.length = 0;
    const builder = await startBuilder({ allowedBaseImages: ['*'] });
    const from = await attempt(`FROM 127.0.0.1:${port}/metrics:1\nRUN true\n`, { builder });
    assert.match(from.result.error ?? '', /127\.0\.0\.1 is an address of this machine/);
    const add = await attempt(
      `FROM debian:bookworm-slim\nADD http://127.0.0.1:${port}/metrics /m\n`,
    );
    assert.match(
      add.result.error ?? '',
      /^Dockerfile:2 ADD http:\/\/127\.0\.0\.1:\d+\/metrics .*is not allowed/,
    );
    const named = await attempt(`FROM debian:bookworm-slim\nADD http://localhost:${port}/ /m\n`, {
      builder,
    });
    assert.match(named.result.error ?? '', /localhost is this machine/);
    assert.deepEqual(reached, [], 'the Engine made no request to the loopback service');
    await stopBuilder(builder);
  });

  test("git:from-image deploys neither another app's image nor one from a loopback registry", async () => {
    reached.length = 0;
    const app = await newApp();
    const other = await deployImage(main, app, `berth/${victim}:latest`);
    assert.equal(other.result.status, 'failed');
    assert.match(other.result.error ?? '', /^git:from-image berth\/.* is not allowed/);
    const loopback = await deployImage(main, app, `127.0.0.1:${port}/x:1`);
    assert.match(loopback.result.error ?? '', /an address of this machine/);
    assert.deepEqual(reached, []);
    // An allowed image deploys as before.
    const allowed = await deployImage(main, app, 'debian:bookworm-slim');
    assert.equal(allowed.result.status, 'succeeded', allowed.result.error);
  });
});
