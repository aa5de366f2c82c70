// Backup and restore of a whole Berth with 10 apps (test/harness/backup-round-trip.ts):
// the archive's size, the backup's time, and the restore's time from
// `berth restore < FILE` to every app built again and served, on a wiped
// data directory, Redis and image store. Each app must serve what it served before.
import { backupRoundTrip } from '../../harness/backup-round-trip.ts';
import { figure, type Scenario } from '../scenario.ts';

const APPS = 10;

export const backupScenario: Scenario = {
  name: 'backup',
  description: `berth backup, wipe, berth restore of ${APPS} static-site apps: archive size, backup and restore time`,
  async run(log) {
    const r = await backupRoundTrip(APPS, 'bench');
    const wrong = r.apps.filter((a) => r.after.get(a) !== r.before.get(a));
    if (r.restoreStatus !== 0 || wrong.length > 0) {
      throw new Error(
        `restore did not bring back ${wrong.join(', ') || 'every app'}:\n${r.restoreStderr}`,
      );
    }
    log(
      `archive ${r.archiveBytes} bytes; backup ${Math.round(r.backupMs)} ms; restore ${Math.round(r.restoreMs)} ms`,
    );
    return [
      figure(`archive of ${APPS} apps`, 'MB', [r.archiveBytes / 1e6]),
      figure('backup', 'ms', [r.backupMs]),
      figure(`restore of ${APPS} apps to all served`, 'ms', [r.restoreMs]),
    ];
  },
};
