// `run APP console` runs the Procfile's console: line, as Dokku's
// scheduler-run does (issue 20); other commands run as given.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formationFor } from '../../services/platform/release/deploy.ts';
import { procfileCommand } from '../../services/platform/release/one-off.ts';

const processes = {
  web: 'node server.js',
  custom: 'node tasks.js --verbose',
  release: 'node migrate.js',
  worker: null, // the image's own CMD: nothing to substitute
};

describe('run APP TYPE', () => {
  test('a process type with a command line runs that line, the other words after it', () => {
    assert.deepEqual(procfileCommand(processes, 'custom'), {
      command: 'node tasks.js --verbose',
      type: 'custom',
    });
    assert.deepEqual(procfileCommand(processes, 'custom --dry-run x'), {
      command: 'node tasks.js --verbose --dry-run x',
      type: 'custom',
    });
  });

  test('anything else runs as given: another word, a type without a line, an inherited name', () => {
    for (const given of ['ls -la', 'worker', 'constructor', '__proto__', 'toString x', 'customs'])
      assert.deepEqual(procfileCommand(processes, given), { command: given });
  });
});

describe('the first release’s formation', () => {
  const processes = { web: 'node server.js', worker: 'node worker.js' };
  test('ps:scale before the first deploy sets it, for the types the image has', () => {
    assert.deepEqual(formationFor(undefined, processes, undefined, { web: 2, clock: 1 }), {
      web: 2,
    });
    assert.deepEqual(formationFor(undefined, processes, undefined, { worker: 1 }), {
      web: 1,
      worker: 1,
    });
    assert.deepEqual(formationFor(undefined, processes, undefined), { web: 1 });
  });
  test('app.json formation still wins', () => {
    assert.deepEqual(formationFor(undefined, processes, { worker: 3 }, { web: 2 }), {
      web: 0,
      worker: 3,
    });
  });
});
