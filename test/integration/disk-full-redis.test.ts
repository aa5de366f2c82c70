// Berth's own Redis (infra/bootstrap/redis-server.ts, the persistence
// `npm start` uses) on a disk that fills up: it must keep running and refuse
// writes while full, take them again by itself when space returns, and its
// append-only file must stay valid and hold every write it acknowledged.
// With "appendfsync always" it exited on the first AOF write that failed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../infra/bootstrap/redis-server.ts';
import { isRedisDiskFull } from '../../services/core/disk-full.ts';
import { freePort } from '../harness/ports.ts';
import { mountSmallDisk, type SmallDisk } from '../harness/small-disk.ts';
import { until } from '../harness/wait.ts';

const execFileP = promisify(execFile);
const scratch = await mkdtemp(path.join(os.tmpdir(), 'berth-disk-full-redis-'));
let disk: SmallDisk | undefined;
let mountError: string | undefined;
try {
  disk = await mountSmallDisk(scratch, 32);
} catch (e) {
  mountError = (e as Error).message;
}
after(async () => {
  await disk?.remove();
  await rm(scratch, { recursive: true, force: true });
});

describe("Berth's Redis on a full disk", { skip: mountError }, () => {
  test('refuses writes while full, takes them again when space returns, and its AOF keeps every acknowledged one', async (t) => {
    assert.ok(disk);
    const dir = path.join(disk.dir, 'redis');
    const port = await freePort();
    let server = await startRedisServer({ dir, port });
    const kill = () => {
      try {
        process.kill(server.pid, 'SIGKILL');
      } catch {}
    };
    t.after(kill);
    const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    t.after(() => redis.disconnect());

    const acknowledged: string[] = [];
    for (let i = 0; i < 100; i++) {
      await redis.set(`before:${i}`, `value ${i}`.repeat(10));
      acknowledged.push(`before:${i}`);
    }
    await disk.fill();

    let refused = 0;
    let firstRefusal = '';
    for (let i = 0; i < 200; i++) {
      try {
        await redis.set(`full:${i}`, 'x'.repeat(200));
        acknowledged.push(`full:${i}`);
      } catch (e) {
        refused++;
        firstRefusal ||= (e as Error).message;
        assert.ok(isRedisDiskFull(e), (e as Error).message);
      }
    }
    t.diagnostic(
      `while full: ${acknowledged.length - 100} writes acknowledged, ${refused} refused: ${firstRefusal}`,
    );
    assert.ok(refused > 0, 'Redis refused writes while the disk was full');
    process.kill(server.pid, 0); // still running
    assert.equal(await redis.get('before:1'), 'value 1'.repeat(10), 'reads go on');

    await disk.free();
    const t0 = performance.now();
    await until(
      'Redis takes writes again',
      () =>
        redis.set('after', 'yes').then(
          () => true,
          () => false,
        ),
      5000,
    );
    t.diagnostic(`writes again ${Math.round(performance.now() - t0)} ms after the space returned`);
    acknowledged.push('after');

    const check = await execFileP('redis-check-aof', [
      path.join(dir, 'appendonlydir', 'appendonly.aof.manifest'),
    ]);
    assert.match(check.stdout, /All AOF files and manifest are valid/);

    // kill -9 and a start from the AOF alone: everything acknowledged is there.
    kill();
    await until('Redis is gone', () => {
      try {
        process.kill(server.pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    server = await startRedisServer({ dir, port });
    const values = await redis.mget(...acknowledged);
    const missing = acknowledged.filter((_, i) => values[i] === null);
    assert.deepEqual(missing, [], 'every acknowledged write survived');
  });
});
