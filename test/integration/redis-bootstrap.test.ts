// npm start with a Redis an earlier Berth started, still running with
// "appendfsync always" (which exits when its disk fills) or "everysec" (which
// may hold acknowledged writes back): ensureRedis switches it to "no" in place
// (npm start fsyncs the file itself); a Redis that is not Berth's own (its
// files elsewhere) is left as its admin set it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createProgress } from '../../infra/bootstrap/progress.ts';
import { ensureRedis } from '../../infra/bootstrap/redis.ts';
import { pingRedis, redisArgs } from '../../infra/bootstrap/redis-server.ts';
import { freePort } from '../harness/ports.ts';
import { tempDir } from '../harness/tmp.ts';
import { until } from '../harness/wait.ts';

/** A redis-server as an earlier Berth started it: appendfsync always or everysec. */
async function oldRedis(dir: string, fsync = 'always') {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const args = redisArgs({ dir, port });
  args[args.indexOf('--appendfsync') + 1] = fsync;
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  after(() => child.kill('SIGKILL'));
  await until('redis answers', () => pingRedis('127.0.0.1', port), 10_000);
  return `redis://127.0.0.1:${port}`;
}

async function fsyncOf(url: string): Promise<string | undefined> {
  const redis = new Redis(url);
  try {
    return ((await redis.config('GET', 'appendfsync')) as string[])[1];
  } finally {
    redis.disconnect();
  }
}

describe('ensureRedis and a running Redis of an earlier Berth', () => {
  test('its own Redis goes from appendfsync always or everysec to no; another is left alone', async () => {
    const dir = await tempDir('berth-redis-bootstrap');
    const ours = path.join(dir, 'redis');
    const oursUrl = await oldRedis(ours);
    const out = new PassThrough();
    let said = '';
    out.on('data', (d) => {
      said += d;
    });
    const progress = createProgress(out);
    assert.deepEqual(await ensureRedis({ redisUrl: oursUrl, dir: ours, progress }), {
      startedByUs: false,
    });
    assert.equal(await fsyncOf(oursUrl), 'no');
    assert.match(said, /appendfsync always → no/);

    const everysec = path.join(dir, 'redis-everysec');
    const everysecUrl = await oldRedis(everysec, 'everysec');
    await ensureRedis({ redisUrl: everysecUrl, dir: everysec, progress });
    assert.equal(await fsyncOf(everysecUrl), 'no');
    assert.match(said, /appendfsync everysec → no/);

    const theirsUrl = await oldRedis(path.join(dir, 'elsewhere'));
    await ensureRedis({ redisUrl: theirsUrl, dir: ours, progress });
    assert.equal(await fsyncOf(theirsUrl), 'always');
  });
});
