// Keeps reconciling while Berth runs: an app at once when a scheduler
// reports a change to one of its instances, every app when a scheduler
// answers again after an outage (an Engine restart), and every app every
// RECONCILE_INTERVAL_MS regardless. Passes never overlap; what is asked for
// during a pass runs right after it.
import type { Logger } from '../../core/log.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import { RECONCILE_INTERVAL_MS, type ReconcileDeps, reconcile } from './reconcile.ts';

/** Events come in bursts (a rollout starts and stops several containers): gather them this long. */
const GATHER_MS = 100;

export interface Reconciler {
  /** Reconciles the app soon (no app: every app). */
  kick(app?: string): void;
  stop(): void;
}

export function startReconciler(
  d: Omit<ReconcileDeps, 'apps' | 'log'> & {
    /** Every scheduler apps may run on (everyScheduler), each watched for changes. */
    watched: readonly Scheduler[];
    log: Logger;
  },
): Reconciler {
  const pending = new Set<string>();
  let everything = false;
  let running = false;
  let timer: NodeJS.Timeout | undefined;

  const pass = async () => {
    running = true;
    try {
      while (everything || pending.size > 0) {
        const apps = everything ? undefined : [...pending];
        everything = false;
        pending.clear();
        const r = await reconcile({ ...d, ...(apps ? { apps } : {}) }).catch((e: unknown) => {
          d.log.warn({ err: e }, 'reconcile failed');
          return undefined;
        });
        if (r && r.failed.length + r.stopped + r.started + r.rerouted.length > 0) {
          d.log.info(r, 'apps reconciled with their releases');
        }
      }
    } finally {
      running = false;
    }
  };

  const kick = (app?: string) => {
    if (app === undefined) everything = true;
    else pending.add(app);
    if (running || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (!running) void pass();
    }, GATHER_MS);
    timer.unref();
  };

  const interval = setInterval(() => kick(), RECONCILE_INTERVAL_MS);
  interval.unref();
  const watches = d.watched.map((s) =>
    s.watch({ onApp: kick, onReconnect: () => kick(), log: d.log }),
  );
  return {
    kick,
    stop() {
      clearInterval(interval);
      if (timer) clearTimeout(timer);
      for (const w of watches) w.stop();
    },
  };
}
