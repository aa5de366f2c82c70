// berth backup, then berth restore on a wiped machine: every app serves
// what it served before (test/harness/backup-round-trip.ts says how).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backupRoundTrip } from '../harness/backup-round-trip.ts';

test('a backup restored on a wiped Berth brings every app back serving the same content', {
  timeout: 900_000,
}, async () => {
  const r = await backupRoundTrip(2);
  assert.equal(r.restoreStatus, 0, r.restoreStderr);
  for (const app of r.apps) {
    assert.equal(r.after.get(app), r.before.get(app), `${app} after restore\n${r.restoreStderr}`);
  }
  assert.deepEqual(r.overSshManifest.apps, [...r.apps].sort());
  assert.match(r.restoreStderr, /restore: done in .*: 2 of 2 apps back/);
  console.log(
    `archive ${r.archiveBytes} bytes, backup ${Math.round(r.backupMs)} ms, restore ${Math.round(r.restoreMs)} ms`,
  );
});

test('an app whose app.json predeploy changed its image is restored with that change (it runs again)', {
  timeout: 900_000,
}, async () => {
  const r = await backupRoundTrip(1, 'bp', {
    // What predeploy writes is served only from the image it was committed to.
    files: {
      'app.json': JSON.stringify({
        scripts: {
          dokku: { predeploy: 'sed s/restored/predeployed/ index.html > predeployed.txt' },
        },
      }),
    },
    path: '/predeployed.txt',
  });
  assert.equal(r.restoreStatus, 0, r.restoreStderr);
  const [app = ''] = r.apps;
  assert.match(r.before.get(app) ?? '', /predeployed/);
  assert.equal(r.after.get(app), r.before.get(app), `${app} after restore\n${r.restoreStderr}`);
});
