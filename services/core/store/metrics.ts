// Request metrics per app as the router processes publish them: per-minute
// counts (kept a day, for the status page's charts) and running totals (for
// Prometheus' /metrics). The shape is defined here once, for the router that
// writes it and the web service that reads it.
//
// Per app, three keys: a hash of `<minute>.<field>` counters, a sorted set of
// the minutes it holds (so that minutes older than a day are dropped on the
// next write), and a hash of totals. apps.destroy and apps.rename know them.
import * as validate from '../validate.ts';
import type { StoreContext } from './context.ts';
import { Script } from './lua.ts';

/** Upper bounds of the latency buckets, in ms (cumulative when exported, as Prometheus' are). */
export const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000] as const;

/** Status classes counted: 1xx..5xx, and 'aborted' for a client that left before the answer. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'aborted'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/** Counts of some requests of one app. */
export interface RequestCounts {
  /** Indexed like STATUS_CLASSES. */
  byClass: number[];
  /** Indexed like LATENCY_BUCKETS_MS, plus one for slower ones (not cumulative). */
  latency: number[];
  /** The sum of their latencies, in microseconds. */
  latencySumUs: number;
}

export interface MinuteCounts extends RequestCounts {
  /** The minute's start. */
  at: Date;
}

/** How long per-minute counts are kept. */
export const MINUTES_KEPT = 24 * 60;

const FIELDS = [
  ...STATUS_CLASSES,
  ...[...LATENCY_BUCKETS_MS, 'inf'].map((b) => `le${b}`),
  'sumUs',
] as const;

export const emptyCounts = (): RequestCounts => ({
  byClass: STATUS_CLASSES.map(() => 0),
  latency: [...LATENCY_BUCKETS_MS, Infinity].map(() => 0),
  latencySumUs: 0,
});

const toValues = (c: RequestCounts) => [...c.byClass, ...c.latency, Math.round(c.latencySumUs)];

function fromFields(get: (field: string) => string | undefined): RequestCounts {
  const n = (f: string) => {
    const v = Number(get(f) ?? 0);
    return Number.isFinite(v) ? v : 0;
  };
  return {
    byClass: STATUS_CLASSES.map((c) => n(c)),
    latency: [...LATENCY_BUCKETS_MS, 'inf'].map((b) => n(`le${b}`)),
    latencySumUs: n('sumUs'),
  };
}

const add = new Script(
  'metrics.add',
  `
local app, minute, oldest = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
-- A destroyed app's last counts are dropped, not written back.
if redis.call('EXISTS', K.app(app)) == 0 then return {'ok', 0} end
local fields = {}
local n = tonumber(ARGV[5])
for i = 1, n do fields[i] = ARGV[5 + i] end
for i = 1, n do
  local v = tonumber(ARGV[5 + n + i])
  if v ~= 0 then
    redis.call('HINCRBY', K.metrics(app), minute .. '.' .. fields[i], v)
    redis.call('HINCRBY', K.metricsTotal(app), fields[i], v)
  end
end
redis.call('ZADD', K.metricsMinutes(app), minute, minute)
for _, old in ipairs(redis.call('ZRANGEBYSCORE', K.metricsMinutes(app), '-inf', '(' .. oldest)) do
  for i = 1, n do redis.call('HDEL', K.metrics(app), old .. '.' .. fields[i]) end
end
redis.call('ZREMRANGEBYSCORE', K.metricsMinutes(app), '-inf', '(' .. oldest)
return {'ok', 1}
`,
);

export class Metrics {
  constructor(private readonly ctx: StoreContext) {}

  /** Adds the counts of requests answered in the minute of `at` (one round trip). */
  async add(app: string, at: Date, counts: RequestCounts): Promise<void> {
    const minute = Math.floor(at.getTime() / 60_000);
    await add.run(this.ctx, [
      validate.appName(app),
      minute,
      minute - MINUTES_KEPT,
      FIELDS.length,
      ...FIELDS,
      ...toValues(counts),
    ]);
  }

  /** The app's counts per minute from `from` to `to`, minutes without requests included as zeros. */
  async minutes(app: string, from: Date, to: Date): Promise<MinuteCounts[]> {
    const hash = await this.ctx.redis.hgetall(this.ctx.keys.metrics(validate.appName(app)));
    const first = Math.floor(from.getTime() / 60_000);
    const last = Math.floor(to.getTime() / 60_000);
    const out: MinuteCounts[] = [];
    for (let m = Math.max(first, last - MINUTES_KEPT); m <= last; m++) {
      out.push({ at: new Date(m * 60_000), ...fromFields((f) => hash[`${m}.${f}`]) });
    }
    return out;
  }

  /** The running totals of every app that has any. */
  async totals(): Promise<Map<string, RequestCounts>> {
    const apps = (await this.ctx.redis.smembers(this.ctx.keys.apps)).sort();
    const pipeline = this.ctx.redis.pipeline();
    for (const app of apps) pipeline.hgetall(this.ctx.keys.metricsTotal(app));
    const replies = (await pipeline.exec()) ?? [];
    const out = new Map<string, RequestCounts>();
    apps.forEach((app, i) => {
      const [error, hash] = replies[i] ?? [];
      if (error || !hash || Object.keys(hash).length === 0) return;
      out.set(
        app,
        fromFields((f) => (hash as Record<string, string>)[f]),
      );
    });
    return out;
  }
}
