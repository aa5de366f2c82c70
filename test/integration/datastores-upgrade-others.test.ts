// upgrade of Redis (7 → 8) and MySQL as MariaDB (10.11 → 11.8) services,
// with the real Engine, Redis and the images built from Debian's packages
// (kept between runs): every key and row kept. PostgreSQL, the failure
// paths and clone: datastores-upgrade.test.ts, which upgrade.ts's steps
// are the same for, whatever the kind.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { removeDatastoreFromEngine } from '../harness/datastores.ts';
import { engineApp } from '../harness/deploy.ts';

const { ada, docker, run } = await engineApp('dsv');
const tag = randomBytes(3).toString('hex');
const kv = `upkv-${tag}`;
const my = `upmy-${tag}`;
const figures: Record<string, string> = {};
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

after(async () => {
  await removeDatastoreFromEngine(docker, 'redis', kv);
  await removeDatastoreFromEngine(docker, 'mysql', my);
  process.stderr.write(`# upgrade figures: ${JSON.stringify(figures)}\n`);
});

describe('redis and mysql upgrades', { concurrency: false }, () => {
  test('redis 7 → 8: every key kept', async () => {
    assert.equal((await run(ada, ['redis:create', kv, '--image-version', '7'])).code, 0);
    const cli = async (...args: string[]) => {
      const r = await run(ada, [
        'redis:enter',
        kv,
        '/usr/local/bin/berth-datastore',
        'client',
        ...args,
      ]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    const fill =
      "for i = 1, 2000 do redis.call('SET', 'k' .. i, 'v' .. i) end redis.call('RPUSH', 'list', 'a', 'b', 'c') redis.call('HSET', 'h', 'f', 'x') return 1";
    await cli('EVAL', fill, '0');
    const sum =
      "local ks = redis.call('KEYS', '*') table.sort(ks) local out = {} for _, k in ipairs(ks) do local t = redis.call('TYPE', k).ok local v = t if t == 'string' then v = redis.call('GET', k) elseif t == 'list' then v = table.concat(redis.call('LRANGE', k, 0, -1), '|') elseif t == 'hash' then v = table.concat(redis.call('HGETALL', k), '|') end out[#out + 1] = k .. '=' .. v end return #ks .. ' ' .. redis.sha1hex(table.concat(out, ','))";
    const before = await cli('EVAL', sum, '0');
    assert.match(before, /^2002 /);
    const started = Date.now();
    const r = await run(ada, ['redis:upgrade', kv, '--image-version', '8']);
    figures.redis = seconds(started);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(await cli('EVAL', sum, '0'), before);
    figures.redisKeys = `${before.split(' ')[0]} before, ${(await cli('EVAL', sum, '0')).split(' ')[0]} after`;
    assert.match(await cli('INFO', 'server'), /redis_version:8\./);
  });

  test('mysql 10.11 → 11.8: every row kept', async () => {
    assert.equal((await run(ada, ['mysql:create', my, '--image-version', '10.11'])).code, 0);
    const sql = async (text: string) => {
      const r = await run(ada, ['mysql:connect', my], `${text}\n`);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    await sql(
      "CREATE TABLE t (n int PRIMARY KEY, s varchar(40)); INSERT INTO t SELECT seq, CONCAT('row ', seq) FROM seq_1_to_3000;",
    );
    const sum =
      "SET SESSION group_concat_max_len = 1000000; SELECT CONCAT(COUNT(*), ' ', MD5(GROUP_CONCAT(n, ':', s ORDER BY n))) AS sum FROM t;";
    const before = await sql(sum);
    assert.match(before, /3000 [0-9a-f]{32}/);
    const started = Date.now();
    const r = await run(ada, ['mysql:upgrade', my, '--image-version', '11.8']);
    figures.mysql = seconds(started);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(await sql(sum), before);
    figures.mysqlRows = `3000 before, ${(await sql('SELECT COUNT(*) AS c FROM t;')).split('\n')[1]} after`;
    assert.match(await sql('SELECT VERSION() AS v;'), /11\.8\./);
  });
});
