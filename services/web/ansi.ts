// Build output's colours (SGR escape sequences: the only control sequences
// printable() in services/platform/build/queue.ts lets through) as HTML
// spans for the build page: the text escaped, each colour or bold a class
// the stylesheet styles for light and dark. Sequences it does not know are
// dropped; nothing else of the line changes.
import { escapeHtml, html, Safe } from '../core/html.ts';

const SGR = /\x1b\[([0-9;]*)m/g;

/** The classes of the SGR state after the codes `params` (0 or none: reset). */
function apply(state: { fg?: number; bold: boolean }, params: string): void {
  const codes = params === '' ? [0] : params.split(';').map(Number);
  for (const c of codes) {
    if (c === 0) {
      state.fg = undefined;
      state.bold = false;
    } else if (c === 1) state.bold = true;
    else if (c === 22) state.bold = false;
    else if (c === 39) state.fg = undefined;
    else if ((c >= 30 && c <= 37) || (c >= 90 && c <= 97)) state.fg = c;
  }
}

/** One log line as HTML: escaped text, coloured runs in <span class="ansi-…">. */
export function ansiHtml(line: string): Safe {
  if (!line.includes('\x1b')) return html`${line}`;
  const state: { fg?: number; bold: boolean } = { bold: false };
  let out = '';
  let last = 0;
  const text = (s: string) => {
    if (s === '') return;
    const classes = [
      ...(state.fg === undefined ? [] : [`ansi-${state.fg}`]),
      ...(state.bold ? ['ansi-bold'] : []),
    ];
    out +=
      classes.length > 0
        ? `<span class="${classes.join(' ')}">${escapeHtml(s)}</span>`
        : escapeHtml(s);
  };
  for (const m of line.matchAll(SGR)) {
    text(line.slice(last, m.index));
    apply(state, m[1] ?? '');
    last = (m.index ?? 0) + m[0].length;
  }
  text(line.slice(last));
  // Any other escape left (none should be) goes, unescaped ESC never reaches the page.
  return new Safe(out.replaceAll('\x1b', ''));
}
