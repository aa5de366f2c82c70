// services/platform/release/release-diff.ts on made-up releases.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Release } from '../../services/core/store/index.ts';
import { releaseDiff } from '../../services/platform/release/release-diff.ts';

const release = (version: number, o: Partial<Release>): Release =>
  ({
    app: 'shop',
    version,
    image: 'berth/shop:1',
    config: {},
    formation: { web: 1 },
    processes: { web: 'node server.js' },
    healthchecks: {},
    cron: [],
    description: 'Deploy',
    by: 'alice',
    createdAt: '2030-01-01T00:00:00.000Z',
    status: 'succeeded',
    ...o,
  }) as Release;

test('config keys added, removed and changed by name; formation and process changes; same image left out', () => {
  const before = release(1, { config: { A: '1', B: '2', C: '3' } });
  const after = release(2, {
    config: { A: '1', B: 'two', D: '4' },
    formation: { web: 3, worker: 1 },
    processes: { web: 'node server.js --fast', worker: 'node worker.js' },
  });
  assert.deepEqual(releaseDiff(after, before), {
    config: { added: ['D'], removed: ['C'], changed: ['B'] },
    formation: [
      { type: 'web', from: 1, to: 3 },
      { type: 'worker', from: 0, to: 1 },
    ],
    processes: { added: ['worker'], removed: [], changed: ['web'] },
  });
});

test("an app's first release adds everything; a new image is named", () => {
  const d = releaseDiff(release(1, { config: { A: '1' } }), undefined);
  assert.deepEqual(d.image, { from: null, to: 'berth/shop:1' });
  assert.deepEqual(d.config.added, ['A']);
  assert.deepEqual(d.processes.added, ['web']);
});
