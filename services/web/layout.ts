// The frame every HTML page shares. Styles are inline: Berth serves every
// asset itself and runs offline (issue 7).
import { VERSION } from '../core/version.ts';
import { html, Safe } from './html.ts';

const STYLE =
  'body{font:15px/1.4 system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}' +
  'td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}' +
  'header{display:flex;gap:1rem;align-items:baseline}header form{margin-left:auto}code{background:#f3f3f3;padding:.1rem .3rem}';

export function page(title: string, body: Safe): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${new Safe(STYLE)}</style>
</head><body>
${body}
<footer><p><small>Berth ${VERSION}</small></p></footer>
</body></html>`.text;
}
