// The app page's traffic chart: requests per minute by status class over the
// last hours, from the routers' counts (store/metrics.ts), as inline SVG:
// no script, no external service, readable without colour (each bar has a
// title with its numbers, and a line of text sums the window up).

import { html, type Safe } from '../core/html.ts';
import type { MinuteCounts, RequestCounts } from '../core/store/metrics.ts';
import { meanOf, quantileOf, windowTotal } from './latency-chart.ts';

/** The hours the chart covers. */
export const CHART_HOURS = 3;

const WIDTH = 720;
const HEIGHT = 120;
/** Drawn bottom up: 1xx and 2xx together, then 3xx, 4xx, 5xx, aborted. */
const LAYERS = [
  { name: '2xx', classes: [0, 1], colour: '#3a7d44' },
  { name: '3xx', classes: [2], colour: '#4a6fa5' },
  { name: '4xx', classes: [3], colour: '#d08c2c' },
  { name: '5xx', classes: [4], colour: '#b3261e' },
  { name: 'aborted', classes: [5], colour: '#888' },
] as const;

const sum = (ns: readonly number[]) => ns.reduce((a, b) => a + b, 0);

/** The latency under which 99% of the requests fell, from the histogram's buckets. */
export const p99Of = (c: RequestCounts): string => quantileOf(c, 0.99);

export function trafficChart(minutes: readonly MinuteCounts[]): Safe {
  const all = windowTotal(minutes);
  const requests = sum(all.byClass);
  if (requests === 0) {
    return html`<p>No requests through the router in the last ${CHART_HOURS} hours.</p>`;
  }
  const peak = Math.max(1, ...minutes.map((m) => sum(m.byClass)));
  const barWidth = WIDTH / Math.max(1, minutes.length);
  const bars = minutes.map((m, i) => {
    let y = HEIGHT;
    const count = sum(m.byClass);
    if (count === 0) return '';
    const parts = LAYERS.map((layer) => {
      const n = sum(layer.classes.map((c) => m.byClass[c] ?? 0));
      const h = (n / peak) * HEIGHT;
      y -= h;
      return n === 0
        ? ''
        : html`<rect x="${(i * barWidth).toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, barWidth - 0.5).toFixed(1)}" height="${h.toFixed(1)}" fill="${layer.colour}"></rect>`;
    });
    const label = `${m.at.toISOString().slice(11, 16)} UTC: ${count} requests (${LAYERS.map((l) => `${l.name} ${sum(l.classes.map((c) => m.byClass[c] ?? 0))}`).join(', ')}), p99 ${p99Of(m)}`;
    return html`<g><title>${label}</title>${parts}</g>`;
  });
  const errors = all.byClass[4] ?? 0;
  return html`<svg role="img" aria-label="Requests per minute by status class" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="100%" height="${HEIGHT}" preserveAspectRatio="none" style="max-width:${WIDTH}px;background:#f6f6f6">${bars}</svg>
<p><small>Last ${CHART_HOURS} hours, per minute, busiest ${peak}/min: ${requests} requests, ${errors} 5xx, p99 ${p99Of(all)}, mean ${meanOf(all)}. ${LAYERS.map((l) => html`<span style="color:${l.colour}">■</span> ${l.name} `)}</small></p>`;
}
