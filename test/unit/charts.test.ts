// The app page's charts (services/web/traffic-chart.ts, latency-chart.ts,
// chart-frame.ts) on made-up minutes: they span the minutes that have data
// (at least MIN_SPAN), not the whole window, and carry axes in words.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emptyCounts, type MinuteCounts } from '../../services/core/store/metrics.ts';
import { MIN_SPAN, niceCeiling, PLOT } from '../../services/web/chart-frame.ts';
import { latencyChart } from '../../services/web/latency-chart.ts';
import { trafficChart } from '../../services/web/traffic-chart.ts';

const START = Date.UTC(2030, 0, 31, 9, 0);

/** 180 minutes from 09:00 UTC; `busy` minutes have 10 2xx requests at ≤ 5 ms. */
function window(busy: readonly number[]): MinuteCounts[] {
  return Array.from({ length: 180 }, (_, i) => {
    const c = emptyCounts();
    if (busy.includes(i)) {
      c.byClass[1] = 10;
      c.latency[0] = 10;
      c.latencySumUs = 10 * 2000;
    }
    return { at: new Date(START + i * 60_000), ...c };
  });
}

const rects = (svg: string) =>
  [...svg.matchAll(/<rect [^>]*x="([\d.]+)"[^>]*width="([\d.]+)"/g)].map((m) => ({
    x: Number(m[1]),
    width: Number(m[2]),
  }));

describe('the traffic chart', () => {
  test('requests in the last two minutes only: the chart spans the last MIN_SPAN minutes, bars of their width', () => {
    const svg = trafficChart(window([178, 179])).text;
    assert.match(svg, new RegExp(`the last ${MIN_SPAN} minutes`));
    const bars = rects(svg);
    assert.equal(bars.length, 2);
    const column = PLOT.width / MIN_SPAN;
    for (const bar of bars) assert.ok(bar.width >= column - 3, `bar ${bar.width} wide`);
    assert.ok((bars[0]?.x ?? 0) >= PLOT.x + 13 * column - 1, 'the 14th of 15 columns');
    // The time axis names round minutes of the span (11:45 .. 11:59 here).
    const labels = [...svg.matchAll(/<text class="axis"[^>]*>(\d\d:\d\d)<\/text>/g)].map(
      (m) => m[1],
    );
    assert.ok(labels.length >= 2, labels.join(' '));
    for (const l of labels) assert.ok((l ?? '') >= '11:45' && (l ?? '') <= '11:59', l);
  });

  test('requests from the first half hour on: the chart starts at the first of them', () => {
    const svg = trafficChart(window([30, 100, 179])).text;
    assert.match(svg, /the last 150 minutes/);
    assert.match(svg, /<text class="axis"[^>]*>09:30<\/text>/);
    // The value axis: 0 and the rounded peak (10 requests a minute).
    assert.match(svg, /<text class="axis"[^>]*text-anchor="end">10<\/text>/);
  });

  test('no request: a sentence, no chart', () => {
    assert.match(trafficChart(window([])).text, /^<p>No requests through the router/);
  });
});

describe('the latency chart', () => {
  test('spans the same minutes as the traffic chart, with bucket bounds on its axis', () => {
    const svg = latencyChart(window([178, 179])).text;
    assert.match(svg, new RegExp(`the last ${MIN_SPAN} minutes`));
    assert.match(svg, /text-anchor="end">5 ms<\/text>/);
    assert.match(svg, /text-anchor="end">&gt; 10 s<\/text>/);
  });
});

test('axis tops are 1, 2 or 5 times a power of ten', () => {
  assert.deepEqual(
    [0, 1, 3, 7, 10, 11, 42, 420, 999].map(niceCeiling),
    [1, 1, 5, 10, 10, 20, 50, 500, 1000],
  );
});
