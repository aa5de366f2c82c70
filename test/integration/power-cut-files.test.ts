// Files Berth writes and then acknowledges must be on the disk, not only in
// the page cache, when it says OK: a power cut loses what was never
// fsync'ed, while Redis (its append-only file fsync'ed once a second by
// npm start: at most the last second or two of writes go with a cut) keeps
// the record that points at it. The cut is the kernel's own (test/harness/cuttable-disk.ts); kill -9
// of every process, as test/e2e/power-loss.test.ts does, cannot show this.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../infra/bootstrap/redis-server.ts';
import { startAofFlush } from '../../infra/redis-aof-flush.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { Store } from '../../services/core/store/index.ts';
import { certFile, installCert, removeCert } from '../../services/platform/certs/cert-files.ts';
import { ensureRepo, gitEnv } from '../../services/platform/git/repos.ts';
import { makeCert } from '../harness/certs.ts';
import { cuttableDisk } from '../harness/cuttable-disk.ts';
import { freePort } from '../harness/ports.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

const run = promisify(execFile);

const isRoot = process.getuid?.() === 0;

describe('a power cut after Berth acknowledged', { skip: !isRoot && 'needs root (mount)' }, () => {
  test('certs:add and certs:remove: the disk says what Redis says (a first certificate, a replacement, a removal)', async () => {
    const prefix = testPrefix();
    const store = new Store(await redisClient(prefix), prefix);
    const disk = await cuttableDisk();
    const paths = dataPaths(path.join(disk.dir, 'data'));
    await store.users.create('bob', 'user');
    await store.apps.create({ name: 'shop', owner: 'bob' });
    const domain = 'shop.example.test';
    await store.domains.add('shop', domain);
    const served = () => readFile(certFile(paths, domain), 'utf8').catch(() => '(no file)');

    const first = await makeCert([domain]);
    await installCert(store, paths, domain, { key: first.key, chain: first.cert }, 'manual');
    await disk.cut();
    assert.equal((await store.certs.get(domain))?.serial, first.serial);
    assert.ok((await served()).includes(first.cert), 'the first certificate is on the disk');

    const second = await makeCert([domain]);
    await installCert(store, paths, domain, { key: second.key, chain: second.cert }, 'manual');
    await disk.cut();
    assert.equal((await store.certs.get(domain))?.serial, second.serial);
    assert.ok((await served()).includes(second.cert), 'the replacement is on the disk');

    // certs:remove: gone from the disk as from Redis (a router would serve a file it finds).
    await removeCert(store, paths, domain);
    await disk.cut();
    assert.equal(await store.certs.get(domain), undefined);
    assert.equal(await served(), '(no file)');
  });

  test('git push: the branch and its objects are on the disk when git tells the pusher ok', async () => {
    const disk = await cuttableDisk(64);
    const paths = dataPaths(path.join(disk.dir, 'data'));
    const repo = await ensureRepo(paths, 'shop');
    // What git does once the pre-receive hook accepted the push (Berth's
    // hook asks the SSH service, which this test does not run).
    await rm(path.join(repo, 'hooks', 'pre-receive'));
    // git receive-pack in Berth's environment (a local push runs it with the pusher's).
    const env = gitEnv(systemSearchPath(undefined), paths.repos);
    const work = await tempDir();
    const git = (...args: string[]) => run('git', args, { cwd: work, env });
    await git('init', '-q', '-b', 'main');
    await rm(path.join(work, '.git', 'hooks'), { recursive: true, force: true });
    await run('sh', ['-c', 'echo "$RANDOM" > a && seq 1 5000 > b'], { cwd: work });
    await git('add', '-A');
    await git('-c', 'user.name=b', '-c', 'user.email=b@b', 'commit', '-qm', 'first');
    const { stdout: pushed } = await git('rev-parse', 'HEAD');
    await git('push', '-q', repo, 'main');
    await disk.cut();

    const inRepo = (...args: string[]) => run('git', args, { cwd: repo, env });
    const { stdout: branch } = await inRepo('rev-parse', '-q', '--verify', 'refs/heads/main').catch(
      async (e: Error) => ({
        stdout: `(no branch: ${e.message}; ${(await run('ls', ['-la', repo, path.join(repo, 'refs', 'heads')]).catch((x: Error) => ({ stdout: x.message }))).stdout})`,
      }),
    );
    assert.equal(branch.trim(), pushed.trim(), 'the pushed branch is there');
    await inRepo('fsck', '--full', '--no-dangling');
  });

  test('Redis as npm start runs it: a write answered OK over a second before the cut is on the disk', async () => {
    // appendfsync no, and npm start's flush of the append-only file once a
    // second (infra/bootstrap/redis-server.ts says why): a power cut may take
    // the writes of the last second or two, never older ones. Without the
    // flush, the kernel would write back when it likes (up to 30 s) and the
    // older writes go too.
    const disk = await cuttableDisk(64);
    const o = { dir: path.join(disk.dir, 'redis'), port: await freePort() };
    let server = await startRedisServer(o);
    const stopAofFlush = startAofFlush(o.dir);
    // A Redis that has been running a while: its files made at start are on the disk.
    await run('sync', ['-f', o.dir]);
    const client = () => {
      const c = new Redis(`redis://127.0.0.1:${o.port}`, { maxRetriesPerRequest: 1 });
      c.on('error', () => {});
      return c;
    };
    const before = client();
    await before.ping();
    for (let i = 0; i < 10; i++) assert.equal(await before.set(`old${i}`, `v${i}`), 'OK');
    await sleep(2500);
    for (let i = 0; i < 10; i++) assert.equal(await before.set(`new${i}`, `v${i}`), 'OK');
    await disk.cut(async () => {
      process.kill(server.pid, 'SIGKILL');
    });
    stopAofFlush();
    before.disconnect();
    server = await startRedisServer(o);
    const after = client();
    try {
      for (let i = 0; i < 10; i++) assert.equal(await after.get(`old${i}`), `v${i}`, `old${i}`);
      const recent = (await after.keys('new*')).length;
      process.stderr.write(
        `# of the 10 writes of the last moment before the cut, ${recent} were kept\n`,
      );
    } finally {
      after.disconnect();
      process.kill(server.pid, 'SIGKILL');
    }
  });
});
