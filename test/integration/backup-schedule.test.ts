// Scheduled backups and the Redis snapshot against a real Redis: only
// Berth's own kinds of keys are taken (not the build queue, locks or routes),
// with their expiry; archives appear whole (mode 0600, no temporary file
// left) and the oldest beyond BERTH_BACKUP_KEEP go; a restore refuses a
// Berth that has apps unless forced.
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../services/core/config.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { Store } from '../../services/core/store/index.ts';
import { readArchive } from '../../services/platform/backup/archive-reader.ts';
import {
  parseSnapshotLine,
  restoreSnapshot,
} from '../../services/platform/backup/redis-snapshot.ts';
import { checkTarget } from '../../services/platform/backup/restore.ts';
import { BACKUP_FILE, runScheduledBackup } from '../../services/platform/backup/schedule.ts';
import { testDocker } from '../harness/docker.ts';
import { redisClient, sharedRedisUrl, testPrefix } from '../harness/redis.ts';
import { tempDir } from '../harness/tmp.ts';

test('scheduled backups: Berth keys only, whole files at 0600, the oldest pruned', async () => {
  const prefix = testPrefix();
  const redis = await redisClient(prefix);
  const dir = await tempDir('berth-backup-sched');
  const dataDir = path.join(dir, 'data');
  const paths = dataPaths(dataDir);
  await mkdir(paths.certs, { recursive: true });
  await mkdir(paths.ssh, { recursive: true });
  await writeFile(path.join(paths.certs, 'shop.example.com.pem'), 'PEM');
  await writeFile(path.join(paths.ssh, 'ssh_host_ed25519_key'), 'KEY', { mode: 0o600 });
  await symlink('/etc/passwd', path.join(paths.certs, 'evil.pem'));
  await redis.set(`${prefix}schema`, '1');
  await redis.hset(`${prefix}app:shop`, 'name', 'shop');
  await redis.hset(`${prefix}session:abc`, 'user', 'admin');
  await redis.pexpire(`${prefix}session:abc`, 3_600_000);
  await redis.set(`${prefix}bull:builds:1`, 'job');
  await redis.set(`${prefix}build-lock:shop`, 'token');
  await redis.set(`${prefix}app:shop:routes`, '{}');
  await redis.set(`${prefix}other:thing`, 'not Berth');
  const config = loadConfig({
    BERTH_DATA_DIR: dataDir,
    REDIS_URL: await sharedRedisUrl(),
    BERTH_REDIS_PREFIX: prefix,
  });
  const backups = path.join(dir, 'backups');
  const deps = {
    redis,
    config,
    paths,
    searchPath: systemSearchPath(undefined),
    log: { debug() {}, info() {}, error() {} } as never,
    docker: (await testDocker()).docker,
    dir: backups,
    intervalMs: 3_600_000,
    keep: 2,
  };
  for (let i = 0; i < 3; i++) {
    await runScheduledBackup(deps);
    await new Promise((r) => setTimeout(r, 1100)); // names are by the second
  }
  const names = await readdir(backups);
  assert.equal(names.length, 2, names.join(' '));
  assert.ok(
    names.every((n) => BACKUP_FILE.test(n)),
    names.join(' '),
  );
  for (const n of names) assert.equal((await stat(path.join(backups, n))).mode & 0o777, 0o600);
  assert.equal((await stat(backups)).mode & 0o777, 0o700);

  const stage = await tempDir('berth-backup-stage');
  const { manifest, files } = await readArchive(
    createReadStream(path.join(backups, names[1] as string)),
    stage,
  );
  assert.deepEqual(manifest.apps, []);
  assert.deepEqual(
    manifest.sections.files.files.map((f) => `${f.dir}/${f.path}`),
    ['certs/shop.example.com.pem', 'ssh/ssh_host_ed25519_key'],
  );
  const keys = (await readFile(files.get('redis.jsonl') as string, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l, i) => parseSnapshotLine(l, i + 1));
  assert.deepEqual(keys.map((k) => k.key).sort(), ['app:shop', 'schema', 'session:abc']);
  assert.ok((keys.find((k) => k.key === 'session:abc')?.expireAt ?? 0) > Date.now());

  // Restored under another prefix: the same values, the session with its expiry.
  const other = testPrefix();
  const target = await redisClient(other);
  await target.set(`${other}app:stale`, 'replaced');
  assert.equal(await restoreSnapshot(target, other, keys), 3);
  assert.equal(await target.hget(`${other}app:shop`, 'name'), 'shop');
  assert.equal(await target.exists(`${other}app:stale`), 0);
  assert.ok((await target.pttl(`${other}session:abc`)) > 3_000_000);

  // A Berth with apps is refused unless forced.
  await target.sadd(`${other}apps`, 'shop');
  const store = new Store(target, other);
  await assert.rejects(
    checkTarget(store, false),
    /BERTH_E_RESTORE_NOT_EMPTY|already has 1 apps \(shop\)/,
  );
  await checkTarget(store, true);
});
