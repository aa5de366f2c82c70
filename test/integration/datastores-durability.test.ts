// A linked PostgreSQL service keeps every write its app saw acknowledged,
// with the real Engine, Redis and the PostgreSQL image: a fixture web app
// (a small perl HTTP server in the PostgreSQL image, which has perl and psql)
// inserts a row per request and answers 200 only once the INSERT committed;
// a writer keeps calling it through 20 redeploys (config:set rollouts of the
// same image, no build) and a restart of the service, then through a kill -9
// of the server's main process (Docker's restart policy brings it back), and
// every row the app acknowledged must be in the table; then through an
// upgrade from 15 to 17, after which every acknowledged row is in 17.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { imageRef } from '../../services/platform/datastores/image.ts';
import { kindVersion } from '../../services/platform/datastores/kinds.ts';
import { postgres } from '../../services/platform/datastores/postgres/kind.ts';
import { deployImage } from '../../services/platform/release/deploy.ts';
import { getRoutes } from '../../services/platform/routes/routes.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { removeDatastoreFromEngine } from '../harness/datastores.ts';
import { engineApp, quietDeployDeps } from '../harness/deploy.ts';

const { store, prefix, app, docker, ada, run } = await engineApp('dsd', {
  BERTH_DRAIN_TIMEOUT: '1s',
});
const db = `dur-${randomBytes(3).toString('hex')}`;
const image = imageRef(postgres, kindVersion(postgres, undefined));
const scheduler = schedulerNamed('docker-local', { docker });
const figures: Record<string, string> = {};
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

after(async () => {
  await removeDatastoreFromEngine(docker, 'postgres', db);
  process.stderr.write(`# durability figures: ${JSON.stringify(figures)}\n`);
});

// GET /write?n=N inserts the rows N*10 to N*10+9 in one transaction and
// answers "ok N" only when psql saw them committed (the count of what the
// INSERT returned); anything else answers 500. One request at a time.
const SERVER = String.raw`
use strict; use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalPort => $ENV{PORT}, Listen => 64, ReuseAddr => 1) or die "listen: $!";
while (my $c = $s->accept) {
  my $req = <$c> // ''; while (my $l = <$c>) { last if $l =~ /^\r?\n$/ }
  my ($code, $body) = (200, "up");
  if ($req =~ m{^GET /write\?n=(\d+) }) {
    my $n = $1;
    my $out = qx(psql "\$DATABASE_URL" -qtAX -v ON_ERROR_STOP=1 -c "WITH i AS (INSERT INTO acks (n) SELECT g FROM generate_series($n * 10, $n * 10 + 9) g RETURNING 1) SELECT 'inserted ' || count(*) FROM i" 2>&1);
    ($code, $body) = ($? == 0 && $out =~ /^inserted 10$/m) ? (200, "ok $n") : (500, "failed: $out");
  }
  print $c "HTTP/1.1 $code X\r\nContent-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
  close $c;
}
`;
const WEB = `echo ${Buffer.from(SERVER).toString('base64')} | base64 -d > /tmp/writer.pl && PGCONNECT_TIMEOUT=2 exec perl /tmp/writer.pl`;

/**
 * A writer calling the app's routed backend, one request after another:
 * the rows of each request it got "ok" for (acknowledged) and how many failed.
 */
function writer() {
  const acked: number[] = [];
  let failed = 0;
  let next = 1;
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const backends = (await getRoutes(store.redis, prefix, app))?.backends ?? [];
      const backend = backends[next % Math.max(1, backends.length)];
      const n = next++;
      try {
        if (!backend) throw new Error('no backend');
        const res = await fetch(`http://${backend}/write?n=${n}`, {
          signal: AbortSignal.timeout(5000),
        });
        const text = await res.text();
        if (res.status === 200 && text === `ok ${n}`) {
          for (let row = n * 10; row < n * 10 + 10; row++) acked.push(row);
        } else failed++;
      } catch {
        failed++;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  })();
  return {
    acked,
    failed: () => failed,
    async stop() {
      stop = true;
      await done;
    },
  };
}

/** SQL through postgres:connect: its output. */
async function sqlVia(sql: string): Promise<string> {
  const r = await run(ada, ['postgres:connect', db], `\\pset tuples_only on\n${sql}\n`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** Every acknowledged number missing from the table. */
async function missing(acked: number[]): Promise<number[]> {
  const rows = new Set(
    (await sqlVia('SELECT n FROM acks ORDER BY n;'))
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0),
  );
  return acked.filter((n) => !rows.has(n));
}

/** Waits until `check` holds (every 250 ms, at most `ms`). */
async function until(what: string, check: () => Promise<boolean>, ms = 60_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`not within ${ms / 1000} s: ${what}`);
}

before(async () => {
  // 15: the last test upgrades it to 17 under the writes.
  assert.equal((await run(ada, ['postgres:create', db, '--image-version', '15'])).code, 0);
  await sqlVia('CREATE TABLE acks (n int PRIMARY KEY, at timestamptz DEFAULT now());');
  await deployImage(quietDeployDeps(store, scheduler), {
    app,
    image,
    processes: { web: WEB },
    by: 'ada',
    description: 'Deploy the writer',
  });
  const linked = await run(ada, ['postgres:link', db, app]);
  assert.equal(linked.code, 0, linked.stderr + linked.stdout);
});

describe('postgres durability', { concurrency: false }, () => {
  test('20 redeploys and a restart of the service: every acknowledged row is there', async () => {
    const w = writer();
    await until('a first acknowledged write', async () => w.acked.length > 0);
    const started = Date.now();
    for (let i = 1; i <= 20; i++) {
      const r = await run(ada, ['config:set', app, `ROUND=${i}`]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
    }
    figures.redeploys = `20 in ${seconds(started)}`;
    const restarted = await run(ada, ['postgres:restart', db]);
    assert.equal(restarted.code, 0, restarted.stderr);
    const after = w.acked.length;
    await until('writes acknowledged after the restart', async () => w.acked.length > after + 50);
    await w.stop();
    assert.equal((await store.releases.current(app))?.version, 22);
    assert.deepEqual(await missing(w.acked), []);
    figures.redeployRows = `${w.acked.length} acknowledged, all there; ${w.failed()} requests failed`;
  });

  test('kill -9 of the server mid-write: it is back and every acknowledged row is there', async () => {
    await sqlVia('TRUNCATE acks;');
    const container = docker.getContainer(`berth-postgres-${db}`);
    const before = await container.inspect();
    const w = writer();
    await until('writes acknowledged', async () => w.acked.length >= 200);
    process.kill(before.State.Pid, 'SIGKILL');
    const killedAt = w.acked.length;
    const killed = Date.now();
    await until('the server back (restart policy)', async () => {
      const now = await container.inspect();
      return now.State.Running && now.State.Pid !== before.State.Pid;
    });
    figures.killedRunningIn = seconds(killed);
    await until('writes acknowledged again', async () => w.acked.length > killedAt + 200);
    figures.killedWritingIn = seconds(killed);
    await w.stop();
    assert.equal((await container.inspect()).RestartCount, before.RestartCount + 1);
    assert.deepEqual(await missing(w.acked), []);
    figures.killRows = `${w.acked.length} acknowledged (${killedAt} before the kill), all there; ${w.failed()} requests failed`;
  });

  test('upgrade 15 → 17 under writes: every acknowledged row is in 17', async () => {
    // Enough data that its dump and restore take seconds: writes the old
    // server acknowledged meanwhile would be missing from 17.
    await sqlVia(
      'CREATE TABLE filler AS SELECT g, md5(g::text) AS h FROM generate_series(1, 300000) g; ALTER TABLE filler ADD PRIMARY KEY (g);',
    );
    const w = writer();
    await until('writes acknowledged', async () => w.acked.length >= 100);
    const started = Date.now();
    const r = await run(ada, ['postgres:upgrade', db, '--image-version', '17']);
    figures.upgradeUnderWrites = seconds(started);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const upgradedAt = w.acked.length;
    await until('writes acknowledged by 17', async () => w.acked.length > upgradedAt + 100);
    await w.stop();
    assert.match(await sqlVia('SHOW server_version;'), /^17\./);
    assert.deepEqual(await missing(w.acked), []);
    figures.upgradeRows = `${w.acked.length} acknowledged (${upgradedAt} by the end of the upgrade), all there; ${w.failed()} requests failed`;
  });
});
