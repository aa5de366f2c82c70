// collectStartGarbage (services/core/idle-gc.ts): a process that made and
// dropped garbage while starting, then waits, gets it collected, without
// --expose-gc on its command line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const MODULE = fileURLToPath(new URL('../../services/core/idle-gc.ts', import.meta.url));

test('the start garbage of a waiting process is collected', () => {
  const script = `
    import { collectStartGarbage } from ${JSON.stringify(MODULE)};
    let junk = Array.from({ length: 300_000 }, (_, i) => ({ i, s: 'x'.repeat(20) + i }));
    const tenured = () => process.memoryUsage().heapUsed;
    // Survives two scavenges: it lies in the old generation, as a start's does.
    await new Promise((r) => setTimeout(r, 50));
    junk = undefined;
    const before = tenured();
    collectStartGarbage(100);
    await new Promise((r) => setTimeout(r, 400));
    process.stdout.write(JSON.stringify({ before, after: tenured(), gc: typeof globalThis.gc }));
  `;
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--max-semi-space-size=1', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const { before, after, gc } = JSON.parse(r.stdout) as {
    before: number;
    after: number;
    gc: string;
  };
  assert.ok(after < before - 10 * 2 ** 20, `heap used ${before} before, ${after} after`);
  assert.equal(gc, 'undefined', 'gc() stays out of the services’ own global scope');
});
