// Per-app request counts by status class and a latency histogram, in memory
// in each router process: a few numbers per app, updated on every request
// with no allocation. Publishing them (status page, /metrics) reads snapshot().

/** Upper bounds of the latency buckets, in ms (Prometheus-style: cumulative when exported). */
export const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000] as const;

/** Status classes counted: 1xx..5xx, and 'aborted' for a client that left before the answer. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'aborted'] as const;

export interface AppMetrics {
  /** Indexed like STATUS_CLASSES. */
  readonly byClass: number[];
  /** Indexed like LATENCY_BUCKETS_MS, plus one for slower (non-cumulative). */
  readonly latency: number[];
  latencySumMs: number;
}

/** Status recorded when the client went away before the response ended (nginx's 499). */
export const CLIENT_ABORTED = 499;

export class Metrics {
  private readonly apps = new Map<string, AppMetrics>();

  record(app: string, status: number, ms: number): void {
    let m = this.apps.get(app);
    if (!m) {
      m = {
        byClass: STATUS_CLASSES.map(() => 0),
        latency: [...LATENCY_BUCKETS_MS, Infinity].map(() => 0),
        latencySumMs: 0,
      };
      this.apps.set(app, m);
    }
    const cls =
      status === CLIENT_ABORTED ? 5 : Math.min(Math.max(Math.floor(status / 100), 1), 5) - 1;
    m.byClass[cls] = (m.byClass[cls] as number) + 1;
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && ms > (LATENCY_BUCKETS_MS[i] as number)) i++;
    m.latency[i] = (m.latency[i] as number) + 1;
    m.latencySumMs += ms;
  }

  snapshot(): ReadonlyMap<string, Readonly<AppMetrics>> {
    return this.apps;
  }
}
