// A Dockerfile app that EXPOSEs 8000, pushed as it is: the real builder
// (its Docker build, its reading of EXPOSE) and its deploy step, as the
// builder service wires them, with the real Engine and router. Before,
// the instance was checked on 5000 and the push failed after a 60 s wait.
// (The fixture's FROM is the test stack image, which has python3: the
// builder here runs offline.)
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Store } from '../../services/core/store/index.ts';
import { deployBuilds } from '../../services/platform/release/deploy.ts';
import { appSchedulers } from '../../services/platform/scheduler/schedulers.ts';
import { buildHarness } from '../harness/builds.ts';
import { removeAppFromEngine, testStackImage } from '../harness/docker.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { request, startRouter } from '../harness/router.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/apps/dockerfile-expose', import.meta.url));

const { docker, startBuilder, newApp, commit, build } = await buildHarness('berth-expose');
const prefix = testPrefix();
const store = new Store(await redisClient(prefix), prefix);
const builder = await startBuilder({
  prefix,
  deploy: deployBuilds(store, appSchedulers(store, { docker }), { drainMs: 0 }),
});
const router = await startRouter({ redisUrl: await sharedRedisUrl(), prefix });
after(() => router.stop());

describe('a Dockerfile app that EXPOSEs its port', () => {
  test('is built, checked and routed on the EXPOSEd port, unchanged', async () => {
    const app = await newApp(prefix);
    after(() => removeAppFromEngine(docker, app));
    const dockerfile = (await readFile(path.join(FIXTURE, 'Dockerfile'), 'utf8')).replace(
      /^ARG BASE=.*$/m,
      `ARG BASE=${testStackImage()}`,
    );
    const rev = await commit(app, {
      Dockerfile: dockerfile,
      'server.py': await readFile(path.join(FIXTURE, 'server.py'), 'utf8'),
    });
    const started = performance.now();
    const built = await build(builder, app, rev);
    const s = ((performance.now() - started) / 1000).toFixed(1);
    assert.equal(built.result.status, 'succeeded', built.lines.join('\n'));
    assert.ok(
      built.lines.includes('       EXPOSE 8000: web listens on 8000'),
      built.lines.join('\n'),
    );
    assert.ok(
      built.lines.includes("       PORT=8000, checked and routed to: the image's EXPOSE"),
      built.lines.join('\n'),
    );
    assert.deepEqual((await store.apps.deploySettings(app)).portsDetected, [8000]);
    const answer = await request(router.port, `${app}.berth.test`);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'port 8000\n');
    console.log(`EXPOSE 8000 app built and live in ${s} s`);
  });
});
