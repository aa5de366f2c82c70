// The app page's latency chart, beside the traffic chart: the routers'
// per-minute latency histogram (proxy/metrics.ts publishes it,
// store/metrics.ts keeps it) drawn as a heatmap in inline SVG. A histogram of
// buckets is what is known, not exact times, so the chart shows the buckets:
// one column per minute, one row per bucket (fastest at the bottom), each
// cell as dark as that bucket's share of the minute's requests. Each column's
// title gives its p50, p99 and mean in words, and a line sums the window up,
// so it reads without colour and without a script.

import { html, type Safe } from '../core/html.ts';
import {
  LATENCY_BUCKETS_MS,
  type MinuteCounts,
  type RequestCounts,
} from '../core/store/metrics.ts';
import {
  chartSvg,
  columnWidth,
  columnX,
  PLOT,
  shownMinutes,
  timeAxis,
  valueAxis,
} from './chart-frame.ts';

const ROWS = LATENCY_BUCKETS_MS.length + 1;

/** An axis label for a bucket's bound: "25 ms", "2.5 s"; undefined: the last, open bucket. */
function msLabel(bound: number | undefined): string {
  if (bound === undefined) return `> ${msLabel(LATENCY_BUCKETS_MS.at(-1))}`;
  return bound < 1000 ? `${bound} ms` : `${bound / 1000} s`;
}

const sum = (ns: readonly number[]) => ns.reduce((a, b) => a + b, 0);

/** The bucket bound under which the share `q` of the requests fell, in words ("≤ 25 ms"). */
export function quantileOf(c: RequestCounts, q: number): string {
  const total = sum(c.latency);
  if (total === 0) return '–';
  let seen = 0;
  for (let i = 0; i < c.latency.length; i++) {
    seen += c.latency[i] ?? 0;
    if (seen >= total * q) {
      const bound = LATENCY_BUCKETS_MS[i];
      return bound === undefined ? `over ${LATENCY_BUCKETS_MS.at(-1)} ms` : `≤ ${bound} ms`;
    }
  }
  return '–';
}

/** The mean latency in ms, to one decimal ("–" without requests). */
export function meanOf(c: RequestCounts): string {
  const n = sum(c.latency);
  return n === 0 ? '–' : `${(c.latencySumUs / 1000 / n).toFixed(1)} ms`;
}

/** Every minute's counts added up. */
export function windowTotal(minutes: readonly MinuteCounts[]): RequestCounts {
  const t: RequestCounts = {
    byClass: [0, 0, 0, 0, 0, 0],
    latency: LATENCY_BUCKETS_MS.map(() => 0).concat(0),
    latencySumUs: 0,
  };
  for (const m of minutes) {
    m.byClass.forEach((n, i) => {
      t.byClass[i] = (t.byClass[i] ?? 0) + n;
    });
    m.latency.forEach((n, i) => {
      t.latency[i] = (t.latency[i] ?? 0) + n;
    });
    t.latencySumUs += m.latencySumUs;
  }
  return t;
}

const bucketName = (i: number) =>
  i < LATENCY_BUCKETS_MS.length
    ? `≤ ${LATENCY_BUCKETS_MS[i]} ms`
    : `over ${LATENCY_BUCKETS_MS.at(-1)} ms`;

export function latencyChart(all: readonly MinuteCounts[]): Safe {
  const minutes = shownMinutes(all, (m) => sum(m.latency) > 0);
  const total = windowTotal(minutes);
  if (sum(total.latency) === 0) return html``;
  const n = minutes.length;
  const cellWidth = Math.max(1, columnWidth(n) - (n > 60 ? 0.5 : 2));
  const cellHeight = PLOT.height / ROWS;
  let slowest: MinuteCounts | undefined;
  const columns = minutes.map((m, i) => {
    const count = sum(m.latency);
    if (count === 0) return html``;
    if (!slowest || m.latencySumUs / count > slowest.latencySumUs / sum(slowest.latency))
      slowest = m;
    const cells = m.latency.map((k, row) =>
      k === 0
        ? ''
        : // A bucket with any request stays visible, however small its share.
          html`<rect class="series-latency" x="${columnX(i, n).toFixed(1)}" y="${(PLOT.y + PLOT.height - (row + 1) * cellHeight).toFixed(1)}" width="${cellWidth.toFixed(1)}" height="${(cellHeight - 0.5).toFixed(1)}" fill-opacity="${(0.15 + 0.85 * (k / count)).toFixed(2)}"></rect>`,
    );
    const label = `${m.at.toISOString().slice(11, 16)} UTC: ${count} requests, p50 ${quantileOf(m, 0.5)}, p99 ${quantileOf(m, 0.99)}, mean ${meanOf(m)}`;
    return html`<g><title>${label}</title>${cells}</g>`;
  });
  // Rows are buckets: label the first, the middle and the last bound.
  const rowTicks = [0, Math.floor(ROWS / 2), ROWS - 1].map((row) => ({
    at: row + 0.5,
    label: msLabel(row < LATENCY_BUCKETS_MS.length ? (LATENCY_BUCKETS_MS[row] ?? 0) : undefined),
  }));
  return html`<figure class="chart" id="latency-chart">${chartSvg('Request latency per minute, by histogram bucket', [valueAxis(rowTicks, ROWS), timeAxis(minutes), ...columns])}
<figcaption>Latency per minute (UTC), the last ${n} minutes: rows from ${bucketName(0)} (bottom) to ${bucketName(ROWS - 1)} (top), darker for a larger share of the minute's requests. p50 ${quantileOf(total, 0.5)}, p99 ${quantileOf(total, 0.99)}, mean ${meanOf(total)}${slowest ? html`; slowest minute ${slowest.at.toISOString().slice(11, 16)} UTC (mean ${meanOf(slowest)}, p99 ${quantileOf(slowest, 0.99)})` : ''}.</figcaption></figure>`;
}
