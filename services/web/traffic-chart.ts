// The app page's traffic chart: requests per minute by status class, from
// the routers' counts (store/metrics.ts), as inline SVG over the minutes that
// have data (chart-frame.ts): no script, no external service, readable
// without colour (each column has a title with its numbers, and a caption
// sums the window up).

import { html, type Safe } from '../core/html.ts';
import type { MinuteCounts, RequestCounts } from '../core/store/metrics.ts';
import {
  chartSvg,
  columnWidth,
  columnX,
  niceCeiling,
  PLOT,
  shownMinutes,
  timeAxis,
  valueAxis,
} from './chart-frame.ts';
import { meanOf, quantileOf, windowTotal } from './latency-chart.ts';

/** The hours the page reads; the chart draws the part of them that has data. */
export const CHART_HOURS = 3;

/** Drawn bottom up: 1xx and 2xx together, then 3xx, 4xx, 5xx, aborted (colours: the stylesheet's). */
const LAYERS = [
  { name: '2xx', classes: [0, 1] },
  { name: '3xx', classes: [2] },
  { name: '4xx', classes: [3] },
  { name: '5xx', classes: [4] },
  { name: 'aborted', classes: [5] },
] as const;

const sum = (ns: readonly number[]) => ns.reduce((a, b) => a + b, 0);
const layerCount = (m: RequestCounts, classes: readonly number[]) =>
  sum(classes.map((c) => m.byClass[c] ?? 0));

/** The latency under which 99% of the requests fell, from the histogram's buckets. */
export const p99Of = (c: RequestCounts): string => quantileOf(c, 0.99);

export function trafficChart(all: readonly MinuteCounts[]): Safe {
  const minutes = shownMinutes(all, (m) => sum(m.byClass) > 0);
  const total = windowTotal(minutes);
  const requests = sum(total.byClass);
  if (requests === 0) {
    return html`<p>No requests through the router in the last ${CHART_HOURS} hours.</p>`;
  }
  const peak = Math.max(1, ...minutes.map((m) => sum(m.byClass)));
  const top = niceCeiling(peak);
  const n = minutes.length;
  const width = Math.max(1, columnWidth(n) - (n > 60 ? 0.5 : 2));
  const columns = minutes.map((m, i) => {
    const count = sum(m.byClass);
    if (count === 0) return '';
    let y = PLOT.y + PLOT.height;
    const parts = LAYERS.map((layer) => {
      const k = layerCount(m, layer.classes);
      const h = (k / top) * PLOT.height;
      y -= h;
      return k === 0
        ? ''
        : html`<rect class="series-${layer.name}" x="${columnX(i, n).toFixed(1)}" y="${y.toFixed(1)}" width="${width.toFixed(1)}" height="${h.toFixed(1)}"></rect>`;
    });
    const label = `${m.at.toISOString().slice(11, 16)} UTC: ${count} requests (${LAYERS.map((l) => `${l.name} ${layerCount(m, l.classes)}`).join(', ')}), p99 ${p99Of(m)}`;
    return html`<g><title>${label}</title>${parts}</g>`;
  });
  const errors = total.byClass[4] ?? 0;
  // Whole requests: halfway only when it is a whole number.
  const ticks = (top % 2 === 0 ? [0, top / 2, top] : [0, top]).map((at) => ({
    at,
    label: `${at}`,
  }));
  return html`<figure class="chart" id="traffic-chart">${chartSvg('Requests per minute by status class', [valueAxis(ticks, top), timeAxis(minutes), ...columns.map((c) => html`${c}`)])}
<figcaption>Requests per minute (UTC), the last ${n} minutes, busiest ${peak}/min: ${requests} requests, ${errors} 5xx, p99 ${p99Of(total)}, mean ${meanOf(total)}. ${LAYERS.map((l) => html`<span class="swatch series-${l.name}"></span>${l.name} `)}</figcaption></figure>`;
}
