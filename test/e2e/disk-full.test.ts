// Berth on a full disk (issue 17, item 6): `npm start` with its data
// directory (git repositories, build logs, its own Redis and that Redis's
// append-only file, the router's log, run/) on a small file system of the
// test's own, a loop-mounted ext4 image (a tmpfs where loop devices are not
// available). The disk is filled with one file while Berth serves an app;
// then a push over the real OpenSSH client and a config:set must each fail
// with one line saying the disk is full, where, and what to do; nothing
// stored may be damaged (git fsck, the config, the AOF); no service may
// crash on the log lines it cannot write; and once the file is deleted the
// same push and config:set must succeed, with no restart of Berth or Redis.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../infra/bootstrap/redis-server.ts';
import { readStateFile } from '../../infra/supervisor.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { removeAppFromEngine, testDocker } from '../harness/docker.ts';
import {
  type Platform,
  platformKnownHosts,
  SERVE_ON_PORT,
  servicesOf,
  startPlatform,
} from '../harness/platform.ts';
import { freePort } from '../harness/ports.ts';
import { request } from '../harness/router.ts';
import { mountSmallDisk, type SmallDisk } from '../harness/small-disk.ts';
import { opensshArgs, opensshCommand } from '../harness/ssh.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { until } from '../harness/wait.ts';

const execFileP = promisify(execFile);

function run(file: string, args: string[], cwd: string) {
  return new Promise<{ code: number; out: string }>((resolve) => {
    const child = spawn(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

const scratch = await mkdtemp(path.join(os.tmpdir(), 'berth-disk-full-'));
let disk: SmallDisk | undefined;
let mountError: string | undefined;
try {
  disk = await mountSmallDisk(scratch, 128);
} catch (e) {
  mountError = (e as Error).message;
}
// The file's hooks run after its test's: the platform and Redis are stopped by then.
after(async () => {
  await disk?.remove();
  await rm(scratch, { recursive: true, force: true });
});

/** Lines of `out` that say the disk is full, as Berth says it. */
const diskFullLines = (out: string) =>
  out.split('\n').filter((l) => /no space left on the disk/i.test(l));

describe('Berth on a full disk', { skip: mountError }, () => {
  test('push, config:set and logs fail cleanly while full; all works again when space returns', async (t) => {
    assert.ok(disk);
    t.diagnostic(
      `file system: ${disk.kind}, ${Math.round((await disk.freeBytes()) / 2 ** 20)} MiB free`,
    );
    const dataDir = path.join(disk.dir, 'data');
    const paths = dataPaths(dataDir);
    const admin = await makeKeyPair(scratch, 'admin');
    let platform: Platform | undefined;
    t.after(async () => {
      await platform?.stop();
      await platform?.stopRedis();
    });
    platform = await startPlatform({ dataDir, env: { BERTH_ADMIN_PUBKEY: admin.publicPath } });
    const p = platform;
    const port = p.env.BERTH_SSH_PORT ?? '';
    const knownHosts = await platformKnownHosts(p, path.join(scratch, 'known_hosts'));
    const ssh = (...command: string[]) =>
      run(
        'ssh',
        [
          ...opensshArgs({ port, key: admin.privatePath, knownHosts }),
          'berth@127.0.0.1',
          ...command,
        ],
        scratch,
      );

    // An app with a release that serves.
    const app = `full${randomBytes(3).toString('hex')}`;
    t.after(async () => removeAppFromEngine((await testDocker()).docker, app));
    const work = path.join(scratch, app);
    const git = (...args: string[]) => execFileP('git', args, { cwd: work });
    await execFileP('git', ['init', '-q', '-b', 'main', work]);
    await git('config', 'user.email', 'dev@example.com');
    await git('config', 'user.name', 'Dev');
    await git('config', 'core.sshCommand', opensshCommand({ key: admin.privatePath, knownHosts }));
    await git('remote', 'add', 'deploy', `ssh://berth@127.0.0.1:${port}/${app}`);
    await writeFile(
      path.join(work, 'Dockerfile'),
      `FROM debian:bookworm-slim\nWORKDIR /srv\nCOPY index.html /srv/\n${SERVE_ON_PORT}\n`,
    );
    await writeFile(path.join(work, 'index.html'), 'release one\n');
    await git('add', '.');
    await git('commit', '-qm', 'one');
    const first = await run('git', ['push', 'deploy', 'main'], work);
    assert.equal(first.code, 0, first.out);
    const routerPort = Number(p.env.BERTH_HTTP_PORT);
    const served = async () =>
      (await request(routerPort, `${app}.localhost`).catch(() => undefined))?.body.trim();
    await until('release one is served', async () => (await served()) === 'release one', 30_000);
    const set1 = await ssh('config:set', app, 'GREETING=one');
    assert.equal(set1.code, 0, set1.out);

    const issued = await ssh('auth:token', '--name', 'disk-full', '--format', 'json');
    assert.equal(issued.code, 0, issued.out);
    const token = (JSON.parse(issued.out) as { token: string }).token;
    const api = (method: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${p.env.BERTH_WEB_PORT}/api/v1/apps/${app}/config`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    // Acknowledged writes straight to Berth's Redis, to find in its AOF at the end.
    const redis = new Redis(p.env.REDIS_URL ?? '', { maxRetriesPerRequest: 1 });
    t.after(() => redis.disconnect());
    const marker = `disk-full-test:${randomBytes(4).toString('hex')}:`;
    const acknowledged: string[] = [];
    for (let i = 0; i < 200; i++) {
      await redis.set(`${marker}${i}`, `value ${i}`);
      acknowledged.push(`${marker}${i}`);
    }
    const routerLog = path.join(paths.logs, 'router.log');
    const redisPid = Number((await readFile(path.join(paths.redis, 'redis.pid'), 'utf8')).trim());
    const pids = (await servicesOf(dataDir)).sort();
    const repo = path.join(paths.repos, `${app}.git`);
    const { stdout: deployedRev } = await execFileP('git', [
      `--git-dir=${repo}`,
      'rev-parse',
      'main',
    ]);

    // The disk fills up.
    const filled = await disk.fill();
    t.diagnostic(
      `filled with ${Math.round(filled / 2 ** 20)} MiB; ${await disk.freeBytes()} bytes free`,
    );

    // Writes straight to Redis while full: each either acknowledged (and then kept) or refused.
    let refusedWrites = 0;
    for (let i = 0; i < 20; i++) {
      const key = `${marker}full-${i}`;
      try {
        await redis.set(key, 'written while full');
        acknowledged.push(key);
      } catch (e) {
        refusedWrites++;
        if (refusedWrites === 1) t.diagnostic(`Redis refused a write: ${(e as Error).message}`);
      }
    }

    // config:set: one line, and the config stays as it was.
    const setFull = await ssh('config:set', app, 'GREETING=two');
    t.diagnostic(`config:set while full: ${setFull.code} ${setFull.out.trim()}`);
    assert.equal(setFull.code, 1, setFull.out);
    const setLines = setFull.out.split('\n').filter((l) => l.startsWith('berth:'));
    assert.equal(setLines.length, 1, setFull.out);
    assert.match(setLines[0] ?? '', /^berth: no space left on the disk of \/\S+/);
    assert.ok(setLines[0]?.includes(`df -h ${paths.redis} `), setLines[0]);
    const getFull = await ssh('config:get', app, 'GREETING');
    assert.equal(getFull.out.trim(), 'one', getFull.out);
    // The same change through the JSON API: 507 and the code.
    const patched = await api('PATCH', { GREETING: 'api' });
    const answer = (await patched.json()) as { error?: { code: string; message: string } };
    t.diagnostic(`PATCH config while full: ${patched.status} ${JSON.stringify(answer)}`);
    assert.equal(patched.status, 507);
    assert.equal(answer.error?.code, 'BERTH_E_DISK_FULL');
    const got = await api('GET');
    const gotBody = await got.text();
    assert.equal(got.status, 200, gotBody);
    assert.equal(
      (JSON.parse(gotBody) as { values: Record<string, string> }).values.GREETING,
      'one',
    );

    // The router serves on; the request counts it cannot publish (every 5 s)
    // make it log a warning it cannot write.
    for (let i = 0; i < 20; i++) assert.equal(await served(), 'release one');
    await sleep(6000);

    // A push: refused with one line; the repository is as it was.
    await writeFile(path.join(work, 'index.html'), 'release two\n');
    await writeFile(path.join(work, 'big.bin'), randomBytes(256 * 1024));
    await git('add', '.');
    await git('commit', '-qm', 'two');
    const pushFull = await run('git', ['push', 'deploy', 'main'], work);
    t.diagnostic(`push while full: ${pushFull.code}\n${pushFull.out.trim()}`);
    assert.notEqual(pushFull.code, 0, pushFull.out);
    assert.equal(diskFullLines(pushFull.out).length, 1, pushFull.out);
    assert.ok(diskFullLines(pushFull.out)[0]?.includes(`df -h ${paths.repos} `), pushFull.out);
    // Refused before git starts: nothing of git's own on the server side (the
    // client's "fatal: Could not read from remote repository" follows any refusal).
    assert.doesNotMatch(pushFull.out, /remote:|unpack failed|MISCONF|No space left/, pushFull.out);
    const fsck = await execFileP('git', [`--git-dir=${repo}`, 'fsck', '--full', '--strict']);
    t.diagnostic(`git fsck: ${`${fsck.stdout}${fsck.stderr}`.trim() || 'clean'}`);
    const { stdout: revFull } = await execFileP('git', [`--git-dir=${repo}`, 'rev-parse', 'main']);
    assert.equal(revFull, deployedRev, 'the branch did not move');
    assert.equal(await served(), 'release one', 'the previous release still serves');

    // Seconds full: every service still runs, none was restarted.
    assert.deepEqual((await servicesOf(dataDir)).sort(), pids, 'no service restarted');
    process.kill(redisPid, 0);

    // Space returns: the same commands succeed, without restarting anything.
    await disk.free();
    const setBack = await ssh('config:set', app, 'GREETING=two');
    if (setBack.code !== 0) {
      // Redis retries its AOF once a second: give it that second.
      await sleep(1500);
    }
    const setAgain = setBack.code === 0 ? setBack : await ssh('config:set', app, 'GREETING=two');
    assert.equal(setAgain.code, 0, setAgain.out);
    assert.equal((await ssh('config:get', app, 'GREETING')).out.trim(), 'two');
    const pushBack = await run('git', ['push', 'deploy', 'main'], work);
    assert.equal(pushBack.code, 0, pushBack.out);
    await until('release two is served', async () => (await served()) === 'release two', 30_000);
    await execFileP('git', [`--git-dir=${repo}`, 'fsck', '--full', '--strict']);
    assert.deepEqual((await servicesOf(dataDir)).sort(), pids, 'no service restarted');
    const redisPidAfter = Number(
      (await readFile(path.join(paths.redis, 'redis.pid'), 'utf8')).trim(),
    );
    assert.equal(redisPidAfter, redisPid, 'Redis was not restarted');
    const state = readStateFile(dataDir);
    assert.deepEqual(
      state?.services.map((s) => [s.name, s.restarts]),
      state?.services.map((s) => [s.name, 0]),
      'the supervisor restarted nothing',
    );

    // The router logs again, and says what it could not write while full.
    await until(
      'the router logs again',
      async () => (await readFile(routerLog, 'utf8')).includes('log lines could not be written'),
      15_000,
    );
    // Redis's AOF: valid, and a copy of it holds every acknowledged write.
    await redis.set(`${marker}last`, 'after');
    acknowledged.push(`${marker}last`);
    const aofDir = path.join(paths.redis, 'appendonlydir');
    const check = await run(
      'redis-check-aof',
      [path.join(aofDir, 'appendonly.aof.manifest')],
      scratch,
    );
    t.diagnostic(check.out.trim().split('\n').at(-1) ?? '');
    assert.equal(check.code, 0, check.out);
    const copy = path.join(scratch, 'aof-copy');
    await cp(aofDir, path.join(copy, 'appendonlydir'), { recursive: true });
    const replay = await startRedisServer({ dir: copy, port: await freePort() });
    t.after(() => process.kill(replay.pid, 'SIGKILL'));
    const replayed = new Redis(replay.url);
    t.after(() => replayed.disconnect());
    const values = await replayed.mget(...acknowledged);
    const missing = acknowledged.filter((_, i) => values[i] === null);
    assert.deepEqual(missing, [], 'every acknowledged write is in the AOF');
    t.diagnostic(
      `${acknowledged.length} acknowledged writes all in the AOF; ${refusedWrites} refused while full`,
    );
  });
});
