// A linked MySQL (MariaDB) service keeps every write acknowledged to a
// client on a linked app's network through a kill -9 of the server's main
// process, with the real Engine, Redis and the MariaDB image: a writer (a
// one-off of the image on the app's network, through DATABASE_URL) commits
// one row per statement for 25 s and prints each number the server
// acknowledged; mariadbd is killed mid-way, Docker's restart policy brings
// it back, the writer carries on, and every acknowledged row must be there.
// Before that: 20 redeploys of the app and a restart of the service keep
// every row, reached through the same DATABASE_URL.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { imageRef } from '../../services/platform/datastores/image.ts';
import { kindVersion } from '../../services/platform/datastores/kinds.ts';
import { mysql } from '../../services/platform/datastores/mysql/kind.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { removeDatastoreFromEngine } from '../harness/datastores.ts';
import { deployText, engineApp, oneOffOn } from '../harness/deploy.ts';

const { store, app, docker, ada, run } = await engineApp('dsk', { BERTH_DRAIN_TIMEOUT: '1s' });
const db = `durm-${randomBytes(3).toString('hex')}`;
const scheduler = schedulerNamed('docker-local', { docker });
const figures: Record<string, string> = {};

after(async () => {
  await removeDatastoreFromEngine(docker, 'mysql', db);
  process.stderr.write(`# mysql durability figures: ${JSON.stringify(figures)}\n`);
});

// The mariadb client takes no URL: the writer takes DATABASE_URL apart, then
// inserts 1, 2, 3... one statement (one autocommit transaction) each, and
// prints "ack N" only when the client exited 0 (the COMMIT answered).
const WRITER =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: sh's parameter expansions, not a template
  'u=${DATABASE_URL#mysql://}; user=${u%%:*}; u=${u#*:}; pass=${u%%@*}; u=${u#*@}; host=${u%%:*}; u=${u#*:}; port=${u%%/*}; name=${u#*/}; ' +
  'end=$(( $(date +%s) + 25 )); i=0; while [ "$(date +%s)" -lt "$end" ]; do i=$((i + 1)); ' +
  'if timeout 5 mariadb --connect-timeout=2 -h "$host" -P "$port" -u "$user" -p"$pass" "$name" -e "INSERT INTO acks VALUES ($i)" 2>/dev/null; ' +
  'then echo "ack $i"; else echo "fail $i"; sleep 0.2; fi; done';

/** SQL through mysql:connect: its output. */
async function sqlVia(sql: string): Promise<string> {
  const r = await run(ada, ['mysql:connect', db], `${sql}\n`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

before(async () => {
  await deployText(store, scheduler, app, 'writing');
  assert.equal((await run(ada, ['mysql:create', db])).code, 0);
  assert.equal((await run(ada, ['mysql:link', db, app])).code, 0);
  await sqlVia('CREATE TABLE acks (n int PRIMARY KEY) ENGINE=InnoDB;');
});

describe('mysql durability', () => {
  test('20 redeploys of the app and a restart of the service: every row there, reached through the same DATABASE_URL', async () => {
    await sqlVia(
      'CREATE TABLE kept (n int PRIMARY KEY) ENGINE=InnoDB; INSERT INTO kept SELECT seq FROM seq_1_to_500;',
    );
    const sum = () => sqlVia('SELECT COUNT(*), SUM(n) FROM kept;');
    const before = await sum();
    assert.match(before, /500\s+125250/);
    const started = Date.now();
    for (let i = 1; i <= 20; i++) {
      const r = await run(ada, ['config:set', app, `ROUND=${i}`]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
    }
    figures.redeploys = `20 in ${((Date.now() - started) / 1000).toFixed(1)} s`;
    const restarted = await run(ada, ['mysql:restart', db]);
    assert.equal(restarted.code, 0, restarted.stderr);
    // Through the app's own DATABASE_URL, from its network, once the server answers again.
    const COUNT =
      // biome-ignore lint/suspicious/noTemplateCurlyInString: sh's parameter expansions, not a template
      'u=${DATABASE_URL#mysql://}; user=${u%%:*}; u=${u#*:}; pass=${u%%@*}; u=${u#*@}; host=${u%%:*}; u=${u#*:}; port=${u%%/*}; name=${u#*/}; ' +
      'for i in $(seq 1 60); do mariadb --connect-timeout=2 -N -h "$host" -P "$port" -u "$user" -p"$pass" "$name" -e "SELECT COUNT(*), SUM(n) FROM kept" 2>/dev/null && exit 0; sleep 1; done; exit 1';
    const q = await oneOffOn(
      scheduler,
      app,
      imageRef(mysql, kindVersion(mysql, undefined)),
      COUNT,
      {
        DATABASE_URL: (await store.config.get(app)).DATABASE_URL ?? '',
      },
    );
    assert.equal(q.code, 0, q.out.slice(-500));
    assert.match(q.out, /500\s+125250/);
    assert.equal(await sum(), before);
  });

  test('kill -9 of the server mid-write: it is back and every acknowledged row is there', async () => {
    const url = (await store.config.get(app)).DATABASE_URL ?? '';
    const container = docker.getContainer(`berth-mysql-${db}`);
    const before = await container.inspect();
    const writing = oneOffOn(
      scheduler,
      app,
      imageRef(mysql, kindVersion(mysql, undefined)),
      WRITER,
      {
        DATABASE_URL: url,
      },
    );
    // Mid-way through the writer's 25 s.
    await sleep(8000);
    process.kill(before.State.Pid, 'SIGKILL');
    const killed = Date.now();
    for (;;) {
      const now = await container.inspect();
      if (now.State.Running && now.State.Pid !== before.State.Pid) break;
      assert.ok(Date.now() - killed < 60_000, 'not restarted within 60 s');
      await sleep(250);
    }
    figures.runningAgainIn = `${((Date.now() - killed) / 1000).toFixed(1)} s`;
    const { code, out } = await writing;
    assert.equal(code, 0, out.slice(-500));
    const lines = out.split('\n');
    const acked = lines.filter((l) => l.startsWith('ack ')).map((l) => Number(l.slice(4)));
    const failed = lines.filter((l) => l.startsWith('fail ')).length;
    // It wrote before the kill, failed while the server was down, and wrote again after.
    const firstFail = lines.findIndex((l) => l.startsWith('fail '));
    assert.ok(firstFail > 0, 'no write failed: the kill came after the writer');
    assert.ok(
      lines.slice(firstFail).some((l) => l.startsWith('ack ')),
      'no write acknowledged after the kill',
    );
    assert.equal((await container.inspect()).RestartCount, before.RestartCount + 1);
    const rows = new Set(
      (await sqlVia('SELECT n FROM acks ORDER BY n;'))
        .split('\n')
        .slice(1)
        .map((l) => Number(l.trim())),
    );
    assert.deepEqual(
      acked.filter((n) => !rows.has(n)),
      [],
    );
    figures.rows = `${acked.length} acknowledged (${failed} failed while it was down), all there`;
  });
});
