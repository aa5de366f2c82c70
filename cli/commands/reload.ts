// `berth reload`: the running Berth replaces every service with the code now
// on disk (infra/reload.ts), as `systemctl reload berth` does. Root on the
// server only: it signals the supervisor found in the data directory's state
// file and follows the reload's progress in `<data>/run/reload.json`.
import { setTimeout as sleep } from 'node:timers/promises';
import { RELOAD_SIGNAL, readReloadStatus } from '../../infra/reload.ts';
import { readStateFile } from '../../infra/supervisor.ts';
import { BerthError, EXIT } from '../../services/core/errors.ts';
import { isAlive, processFacts, signal } from '../../services/core/pids.ts';
import type { Command } from '../command.ts';
import { localHost } from './system.ts';

const POLL_MS = 200;
/** A reload waits for old SSH sessions and builds to drain: 35 s each at most, and the starts. */
const WAIT_LIMIT_MS = 5 * 60_000;

export const reloadCommands: readonly Command[] = [
  {
    name: 'reload',
    usage: '',
    summary:
      'replace every running service with the code now on disk (after "git pull"), with no failed request; a compile error or a service that does not start leaves the old one serving. The configuration stays the one read at start',
    access: 'local',
    arity: [0, 0],
    async run({ ctx }) {
      localHost(ctx);
      const { dataDir } = ctx.config();
      const pid = readStateFile(dataDir)?.supervisor.pid;
      // The pid must still be a Berth start (not a reused pid).
      const facts = pid === undefined || !isAlive(pid) ? undefined : processFacts(pid);
      if (pid === undefined || facts === undefined || !facts.argv.includes('start')) {
        throw new BerthError('BERTH_E_NOT_RUNNING', { dataDir });
      }
      const before = readReloadStatus(dataDir)?.id ?? 0;
      signal(pid, RELOAD_SIGNAL);
      const deadline = Date.now() + WAIT_LIMIT_MS;
      let shown = 0;
      while (Date.now() < deadline) {
        await sleep(POLL_MS);
        const status = readReloadStatus(dataDir);
        if (status === undefined || status.id <= before) {
          if (!isAlive(pid)) throw new BerthError('BERTH_E_NOT_RUNNING', { dataDir });
          continue;
        }
        for (const line of status.lines.slice(shown)) ctx.stdout.write(`${line}\n`);
        shown = status.lines.length;
        if (status.state === 'running') continue;
        if (status.state === 'failed') {
          throw new BerthError('BERTH_E_RELOAD_FAILED', { reason: status.error ?? 'see above' });
        }
        return EXIT.ok;
      }
      throw new BerthError('BERTH_E_RELOAD_FAILED', {
        reason: `no outcome after ${WAIT_LIMIT_MS / 60_000} minutes (the supervisor, pid ${pid}, logs what it does)`,
      });
    },
  },
];
