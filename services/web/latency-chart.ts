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

const WIDTH = 720;
const HEIGHT = 120;
const ROWS = LATENCY_BUCKETS_MS.length + 1;
const COLOUR = '#4a3aa5';

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

export function latencyChart(minutes: readonly MinuteCounts[], hours: number): Safe {
  const all = windowTotal(minutes);
  if (sum(all.latency) === 0) return html``;
  const cellWidth = WIDTH / Math.max(1, minutes.length);
  const cellHeight = HEIGHT / ROWS;
  let slowest: MinuteCounts | undefined;
  const columns = minutes.map((m, i) => {
    const count = sum(m.latency);
    if (count === 0) return '';
    if (!slowest || m.latencySumUs / count > slowest.latencySumUs / sum(slowest.latency))
      slowest = m;
    const cells = m.latency.map((n, row) =>
      n === 0
        ? ''
        : // A bucket with any request stays visible, however small its share.
          html`<rect x="${(i * cellWidth).toFixed(1)}" y="${(HEIGHT - (row + 1) * cellHeight).toFixed(1)}" width="${Math.max(1, cellWidth - 0.5).toFixed(1)}" height="${(cellHeight - 0.5).toFixed(1)}" fill="${COLOUR}" fill-opacity="${(0.15 + 0.85 * (n / count)).toFixed(2)}"></rect>`,
    );
    const label = `${m.at.toISOString().slice(11, 16)} UTC: ${count} requests, p50 ${quantileOf(m, 0.5)}, p99 ${quantileOf(m, 0.99)}, mean ${meanOf(m)}`;
    return html`<g><title>${label}</title>${cells}</g>`;
  });
  return html`<svg role="img" aria-label="Request latency per minute, by histogram bucket" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="100%" height="${HEIGHT}" preserveAspectRatio="none" style="max-width:${WIDTH}px;background:#f6f6f6">${columns}</svg>
<p><small>Latency, last ${hours} hours, per minute: rows from ${bucketName(0)} (bottom) to ${bucketName(ROWS - 1)} (top), darker for a larger share of the minute's requests. p50 ${quantileOf(all, 0.5)}, p99 ${quantileOf(all, 0.99)}, mean ${meanOf(all)}${slowest ? html`; slowest minute ${slowest.at.toISOString().slice(11, 16)} UTC (mean ${meanOf(slowest)}, p99 ${quantileOf(slowest, 0.99)})` : ''}.</small></p>`;
}
