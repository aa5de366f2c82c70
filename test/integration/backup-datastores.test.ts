// berth backup with a PostgreSQL service, then berth restore on a wiped
// machine (Berth stopped, its Redis and data directory gone, the service's
// container and volume removed from the Engine): the service is back, made
// again from its record, with the same rows (a table's checksum) and the
// same password.
import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { connectDocker } from '../../services/core/docker.ts';
import { berth } from '../harness/backup-round-trip.ts';
import { removeDatastoreFromEngine } from '../harness/datastores.ts';
import { testDockerTarget } from '../harness/docker.ts';
import { type Platform, startPlatform } from '../harness/platform.ts';

const CHECKSUM = "SELECT md5(string_agg(n::text || ':' || s, ',' ORDER BY n)) FROM t;";

test('a backup restored on a wiped Berth brings its PostgreSQL service back with its data', {
  timeout: 900_000,
}, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-backup-ds-'));
  const dataDir = path.join(dir, 'data');
  const db = `pb${Math.random().toString(36).slice(2, 8)}`;
  const { docker } = await connectDocker({ dockerHost: testDockerTarget().dockerHost });
  let platform: Platform | undefined;
  /** A berth command with `input` on stdin: its status, stdout and stderr. */
  const cli = async (env: Record<string, string>, args: string[], input = '') => {
    const inFile = path.join(dir, 'in.txt');
    const outFile = path.join(dir, 'out.txt');
    await writeFile(inFile, input);
    const i = await open(inFile, 'r');
    const o = await open(outFile, 'w');
    try {
      const r = await berth(env, args, { stdin: i.fd, stdout: o.fd });
      return { ...r, stdout: await readFile(outFile, 'utf8') };
    } finally {
      await i.close();
      await o.close();
    }
  };
  const sql = async (env: Record<string, string>, text: string) => {
    const r = await cli(env, ['postgres:connect', db], `\\pset tuples_only on\n${text}\n`);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  try {
    platform = await startPlatform({ dataDir });
    const env = platform.env;
    const created = await cli(env, ['postgres:create', db]);
    assert.equal(created.status, 0, created.stderr + created.stdout);
    await sql(
      env,
      'CREATE TABLE t AS SELECT n, md5(n::text) AS s FROM generate_series(1, 50000) n;',
    );
    const before = await sql(env, CHECKSUM);
    const dsn = (await cli(env, ['postgres:info', db, '--dsn'])).stdout;

    const archive = path.join(dir, 'berth.tar.gz');
    const out = await open(archive, 'w', 0o600);
    const backup = await berth(env, ['backup'], { stdout: out.fd });
    await out.close();
    assert.equal(backup.status, 0, backup.stderr);
    assert.match(backup.stderr, new RegExp(`PostgreSQL service ${db}: [0-9]+ bytes`));

    await platform.stop();
    await platform.stopRedis();
    await removeDatastoreFromEngine(docker, 'postgres', db);
    await rm(dataDir, { recursive: true, force: true });
    platform = await startPlatform({ dataDir, env });

    const input = await open(archive, 'r');
    const restore = await berth(env, ['restore'], { stdin: input.fd });
    await input.close();
    assert.equal(restore.status, 0, restore.stderr);
    assert.match(restore.stderr, /1 of 1 datastores/);
    assert.equal(await sql(env, CHECKSUM), before);
    assert.equal((await cli(env, ['postgres:info', db, '--dsn'])).stdout, dsn);
    assert.equal((await cli(env, ['postgres:info', db, '--status'])).stdout, 'running\n');
  } finally {
    await platform?.stop();
    await platform?.stopRedis();
    await removeDatastoreFromEngine(docker, 'postgres', db);
    await rm(dir, { recursive: true, force: true });
  }
});
