// The routers' request metrics (store/metrics.ts) in Prometheus' text
// exposition format, version 0.0.4.
import { LATENCY_BUCKETS_MS, type RequestCounts, STATUS_CLASSES } from '../core/store/metrics.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// App names are [a-z0-9-], so a label value needs no escaping; kept anyway for safety.
const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function renderMetrics(totals: ReadonlyMap<string, RequestCounts>): string {
  const lines = [
    '# HELP berth_router_requests_total Requests the router answered, by app and status class (aborted: the client left first).',
    '# TYPE berth_router_requests_total counter',
  ];
  for (const [app, c] of totals) {
    STATUS_CLASSES.forEach((cls, i) => {
      lines.push(
        `berth_router_requests_total{app="${label(app)}",status="${cls}"} ${c.byClass[i] ?? 0}`,
      );
    });
  }
  lines.push(
    '# HELP berth_router_request_duration_seconds Time from a request to the end of its answer.',
    '# TYPE berth_router_request_duration_seconds histogram',
  );
  for (const [app, c] of totals) {
    const a = label(app);
    let cumulative = 0;
    LATENCY_BUCKETS_MS.forEach((ms, i) => {
      cumulative += c.latency[i] ?? 0;
      lines.push(
        `berth_router_request_duration_seconds_bucket{app="${a}",le="${ms / 1000}"} ${cumulative}`,
      );
    });
    const count = c.latency.reduce((sum, n) => sum + n, 0);
    lines.push(
      `berth_router_request_duration_seconds_bucket{app="${a}",le="+Inf"} ${count}`,
      `berth_router_request_duration_seconds_sum{app="${a}"} ${c.latencySumUs / 1e6}`,
      `berth_router_request_duration_seconds_count{app="${a}"} ${count}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
