// What the app page's two charts (traffic-chart.ts, latency-chart.ts) share:
// the minutes they show and the frame around the plot. The minutes are the
// span that has data, not the whole window: an app that took its first
// request two minutes ago gets a chart of the last MIN_SPAN minutes, not
// one bar at the right edge of three hours. The frame has a time axis along
// the bottom and a value axis at the left, drawn in inline SVG whose
// colours come from the stylesheet's tokens (light and dark).
import { html, Safe } from '../core/html.ts';
import type { MinuteCounts } from '../core/store/metrics.ts';

/** The drawing's size (viewBox units) and the room kept for the axes. */
export const FRAME = {
  width: 1000,
  height: 190,
  left: 60,
  right: 12,
  top: 12,
  bottom: 26,
} as const;
export const PLOT = {
  x: FRAME.left,
  y: FRAME.top,
  width: FRAME.width - FRAME.left - FRAME.right,
  height: FRAME.height - FRAME.top - FRAME.bottom,
} as const;

/** The fewest minutes a chart spans, however recent the first request. */
export const MIN_SPAN = 15;

/**
 * The minutes to draw: from the first one with a request (`has`) to the
 * last, at least MIN_SPAN of them (ending with the last).
 */
export function shownMinutes(
  minutes: readonly MinuteCounts[],
  has: (m: MinuteCounts) => boolean,
): MinuteCounts[] {
  const first = minutes.findIndex(has);
  if (first < 0) return [];
  return minutes.slice(Math.min(first, Math.max(0, minutes.length - MIN_SPAN)));
}

/** The left edge of column `i` of `n`, and a column's width. */
export const columnX = (i: number, n: number): number => PLOT.x + (i * PLOT.width) / Math.max(1, n);
export const columnWidth = (n: number): number => PLOT.width / Math.max(1, n);

const fixed = (n: number) => n.toFixed(1);

/** 1, 2 or 5 times a power of ten, at least `n` (an axis's top). */
export function niceCeiling(n: number): number {
  if (n <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) if (step * power >= n) return step * power;
  return 10 * power;
}

/** Minutes between time labels: a round step that gives at most six labels. */
function labelStep(n: number): number {
  return [1, 2, 5, 10, 15, 30, 60].find((s) => n / s <= 6) ?? 60;
}

/** The time axis: HH:MM (UTC) under the minutes at round times. */
export function timeAxis(minutes: readonly MinuteCounts[]): Safe {
  const n = minutes.length;
  const step = labelStep(n);
  const y = PLOT.y + PLOT.height;
  const labels = minutes.flatMap((m, i) => {
    const minuteOfDay = Math.floor(m.at.getTime() / 60_000) % (24 * 60);
    if (minuteOfDay % step !== 0) return [];
    const x = columnX(i, n) + columnWidth(n) / 2;
    return [
      html`<line class="grid" x1="${fixed(x)}" x2="${fixed(x)}" y1="${y}" y2="${y + 4}"></line><text class="axis" x="${fixed(x)}" y="${y + 16}" text-anchor="middle">${m.at.toISOString().slice(11, 16)}</text>`,
    ];
  });
  return html`<line class="grid" x1="${PLOT.x}" x2="${PLOT.x + PLOT.width}" y1="${y}" y2="${y}"></line>${labels}`;
}

/** The value axis: gridlines and labels at `ticks` (value, label), 0 at the bottom, `top` at the top. */
export function valueAxis(ticks: readonly { at: number; label: string }[], top: number): Safe {
  return html`${ticks.map(({ at, label }) => {
    const y = PLOT.y + PLOT.height - (at / top) * PLOT.height;
    return html`<line class="grid" x1="${PLOT.x}" x2="${PLOT.x + PLOT.width}" y1="${fixed(y)}" y2="${fixed(y)}"></line><text class="axis" x="${PLOT.x - 6}" y="${fixed(y + 4)}" text-anchor="end">${label}</text>`;
  })}`;
}

/** The SVG around a chart's marks, labelled for screen readers. */
export function chartSvg(label: string, content: Safe | Safe[]): Safe {
  return html`<svg role="img" aria-label="${label}" viewBox="0 0 ${FRAME.width} ${FRAME.height}" preserveAspectRatio="xMidYMid meet">${content}</svg>`;
}

export const none: Safe = new Safe('');
