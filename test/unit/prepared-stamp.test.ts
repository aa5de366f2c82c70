// The warm-start check (infra/prepared-stamp.ts): services start beside the
// preparation only when the last one was for this configuration and code
// and Redis and the Engine accept connections; anything else is a cold start.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { looksPrepared, stampFile, writePreparedStamp } from '../../infra/prepared-stamp.ts';
import { loadConfig } from '../../services/core/config.ts';

async function listening(server: net.Server, to: number | string): Promise<void> {
  await new Promise<void>((resolve) => server.listen(to, () => resolve()));
}

test('a warm start needs the stamp of this configuration and both Redis and the Engine answering', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-stamp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const redis = net.createServer((s) => s.destroy());
  const engine = net.createServer((s) => s.destroy());
  t.after(() => {
    redis.close();
    engine.close();
  });
  await listening(redis, 0);
  const socket = path.join(dir, 'docker.sock');
  await listening(engine, socket);
  const port = (redis.address() as net.AddressInfo).port;
  const env = {
    BERTH_DATA_DIR: path.join(dir, 'data'),
    REDIS_URL: `redis://127.0.0.1:${port}`,
    DOCKER_HOST: `unix://${socket}`,
  };
  const config = loadConfig(env);
  await mkdir(path.join(dir, 'data', 'run'), { recursive: true });

  assert.equal(await looksPrepared(config), false, 'never prepared');
  await writePreparedStamp(config);
  assert.equal(await looksPrepared(config), true);
  // Another setting: prepared for something else.
  assert.equal(
    await looksPrepared(loadConfig({ ...env, BERTH_STACK_IMAGE: 'other/stack:1' })),
    false,
  );
  await writeFile(stampFile(config.dataDir), 'damaged\n');
  assert.equal(await looksPrepared(config), false, 'a stamp that does not match');
  await writePreparedStamp(config);
  engine.close();
  assert.equal(await looksPrepared(config), false, 'the Engine does not answer');
  await listening(engine, socket);
  redis.close();
  assert.equal(await looksPrepared(config), false, 'Redis does not answer');
});
