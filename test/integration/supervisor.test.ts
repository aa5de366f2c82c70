import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { Supervisor } from '../../infra/supervisor.ts';
import { loadConfig } from '../../services/core/config.ts';
import { BerthError } from '../../services/core/errors.ts';
import { createLogger } from '../../services/core/log.ts';
import { tempDir } from '../harness/tmp.ts';
import { until } from '../harness/wait.ts';

const log = createLogger('test', { level: 'silent' });
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function supervisor(entries: Record<string, string>, extra = {}) {
  const dataDir = await tempDir();
  const config = loadConfig({ BERTH_DATA_DIR: dataDir });
  const lines: string[] = [];
  const s = new Supervisor({
    config,
    log,
    baseEnv: { PATH: process.env.PATH },
    services: Object.entries(entries).map(([name, entry]) => ({ name, entry })),
    onLogLine: (service, line) => lines.push(`${service}: ${line}`),
    ...extra,
  });
  return { s, dataDir, lines };
}

describe('Supervisor', () => {
  test('starts services, collects their endpoints, and drains them on stop', async () => {
    const { s, dataDir } = await supervisor({
      a: 'test/fixtures/services/steady.ts',
      b: 'test/fixtures/services/steady.ts',
    });
    const endpoints = await s.start();
    const pids = endpoints.map((e) => Number(e.url.slice(4)));
    assert.equal(pids.length, 2);
    assert.ok(pids.every(alive));
    await s.stop();
    assert.ok(pids.every((p) => !alive(p)));
    const drained = (await readFile(`${dataDir}/steady.log`, 'utf8')).trim().split('\n');
    assert.deepEqual(drained.sort(), pids.map((p) => `drained ${p}`).sort());
  });

  test('a service that fails to start fails the start with its reason, and the others are stopped', async () => {
    const { s, dataDir } = await supervisor({
      ok: 'test/fixtures/services/steady.ts',
      broken: 'test/fixtures/services/fails-to-start.ts',
    });
    await assert.rejects(s.start(), (e: unknown) => {
      assert.ok(e instanceof BerthError && e.code === 'BERTH_E_SERVICE_FAILED');
      assert.match(
        e.message,
        /service broken failed to start: Redis does not answer at redis:\/\/nowhere/,
      );
      return true;
    });
    // The healthy one was stopped cleanly, not left running.
    assert.match(await readFile(`${dataDir}/steady.log`, 'utf8'), /drained/);
  });

  test('a service that keeps crashing is restarted with growing delays', async () => {
    const { s, dataDir } = await supervisor({ crashy: 'test/fixtures/services/crashes.ts' });
    await s.start();
    const starts = async () =>
      (await readFile(`${dataDir}/crashy.log`, 'utf8').catch(() => ''))
        .trim()
        .split('\n')
        .filter(Boolean)
        .map(Number);
    // Waited for rather than slept for: on a busy machine one start of the
    // fixture alone can take seconds.
    await until('three starts', async () => (await starts()).length >= 3, 60_000);
    await s.stop();
    const seen = await starts();
    // Backoff 1 s, 2 s, 4 s...: each gap at least its delay (a start adds its
    // own time, seconds on a busy machine, so gaps are bounded from below
    // only), so a crash loop makes a few starts, not dozens.
    const gaps = seen.slice(1).map((t, i) => t - (seen[i] as number));
    for (const [i, gap] of gaps.entries()) assert.ok(gap >= 1000 * 2 ** i, `gaps ${gaps} ms`);
  });

  test('a service that ignores SIGTERM is killed after the grace period', async () => {
    const { s } = await supervisor(
      { stuck: 'test/fixtures/services/ignores-sigterm.ts' },
      { stopGraceMs: 500 },
    );
    const [endpoint] = await s.start();
    const pid = Number(endpoint?.url.slice(4));
    const t0 = Date.now();
    await s.stop();
    assert.ok(!alive(pid));
    assert.ok(Date.now() - t0 >= 450);
  });
});
