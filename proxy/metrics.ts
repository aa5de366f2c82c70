// Per-app request counts by status class and a latency histogram, in memory
// in each router process: a few numbers per app, updated on every request
// with no allocation. Every few seconds they are added to Redis
// (store/metrics.ts), where the status page and /metrics read the sum of all
// router processes, and the memory starts again from zero.
import { BerthError } from '../services/core/errors.ts';
import type { Logger } from '../services/core/log.ts';
import type { Metrics as MetricsStore } from '../services/core/store/metrics.ts';
import {
  emptyCounts,
  LATENCY_BUCKETS_MS,
  type RequestCounts,
} from '../services/core/store/metrics.ts';

/** Status recorded when the client went away before the response ended (nginx's 499). */
export const CLIENT_ABORTED = 499;

/**
 * Name the status page's requests (the bare BERTH_DOMAIN) are counted under.
 * It is no app name, so the store has no place for it: its counts are not
 * published (the web service's own figures cover its pages).
 */
export const STATUS_PAGE_APP = '-';

/** How often counts go to Redis: the status page's charts are per minute. */
const PUBLISH_EVERY_MS = 5000;

export class Metrics {
  private apps = new Map<string, RequestCounts>();

  record(app: string, status: number, ms: number): void {
    let m = this.apps.get(app);
    if (!m) {
      m = emptyCounts();
      this.apps.set(app, m);
    }
    const cls =
      status === CLIENT_ABORTED ? 5 : Math.min(Math.max(Math.floor(status / 100), 1), 5) - 1;
    m.byClass[cls] = (m.byClass[cls] as number) + 1;
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && ms > (LATENCY_BUCKETS_MS[i] as number)) i++;
    m.latency[i] = (m.latency[i] as number) + 1;
    m.latencySumUs += ms * 1000;
  }

  /** The counts since the last take, and zero from now on. */
  take(): Map<string, RequestCounts> {
    const taken = this.apps;
    this.apps = new Map();
    return taken;
  }

  /** Counts that could not be published go back, to be added to the next attempt. */
  giveBack(counts: ReadonlyMap<string, RequestCounts>): void {
    for (const [app, c] of counts) {
      const m = this.apps.get(app);
      if (!m) {
        this.apps.set(app, c);
        continue;
      }
      c.byClass.forEach((n, i) => {
        m.byClass[i] = (m.byClass[i] as number) + n;
      });
      c.latency.forEach((n, i) => {
        m.latency[i] = (m.latency[i] as number) + n;
      });
      m.latencySumUs += c.latencySumUs;
    }
  }
}

/**
 * Adds the process's counts to Redis every few seconds, and once more on
 * stop. Counts are filed under the minute they are published in (up to 5 s
 * late at a minute's edge). Redis being away loses nothing: they wait.
 */
export function publishMetrics(metrics: Metrics, store: Pick<MetricsStore, 'add'>, log: Logger) {
  let publishing: Promise<void> = Promise.resolve();
  let warned = false;
  const publish = () => {
    publishing = publishing.then(async () => {
      const counts = metrics.take();
      if (counts.size === 0) return;
      const at = new Date();
      const left = new Map(counts);
      try {
        for (const [app, c] of counts) {
          left.delete(app);
          if (app === STATUS_PAGE_APP) continue;
          try {
            await store.add(app, at, c);
          } catch (e) {
            // A name the store refuses would be refused on every attempt:
            // given back, it blocked every app counted after it, for good
            // (one status page request stopped a router process's metrics).
            if (!(e instanceof BerthError)) {
              left.set(app, c);
              throw e;
            }
            log.warn({ err: e, app }, 'request counts under a name that is no app were dropped');
          }
        }
        // Said once the counts go through again (Redis back, or its disk no longer full).
        if (warned) log.info('publishing request metrics again');
        warned = false;
      } catch (e) {
        metrics.giveBack(left);
        if (!warned) log.warn({ err: e }, 'publishing request metrics failed; they wait for Redis');
        warned = true;
      }
    });
    return publishing;
  };
  const timer = setInterval(publish, PUBLISH_EVERY_MS);
  timer.unref();
  return {
    /** Publishes what is left; bounded, as a stopping router must be. */
    async stop(timeoutMs = 2000): Promise<void> {
      clearInterval(timer);
      await Promise.race([publish(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    },
  };
}
