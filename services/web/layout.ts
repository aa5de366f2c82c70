// The frame every HTML page shares. Styles are inline: Berth serves every
// asset itself and runs offline.
import type { FastifyRequest } from 'fastify';
import { actorName } from '../core/actor.ts';
import { html, Safe } from '../core/html.ts';
import { VERSION } from '../core/version.ts';

const STYLE =
  'body{font:15px/1.4 system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}' +
  'td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}' +
  'header{display:flex;gap:1rem;align-items:baseline}header form{margin-left:auto}code{background:#f3f3f3;padding:.1rem .3rem}' +
  '.status{font-weight:600}.s-running{color:#17702a}.s-deploying{color:#8a5a00}.s-crashed,.s-failed{color:#b00020}' +
  '.s-stopped,.s-not-deployed{color:#666}.note{color:#8a5a00}.error{color:#b00020;font-weight:600}' +
  'form.inline{display:inline}input[type=number]{width:4.5em}';

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

/** The bar above every signed-in page: where you are, who you are, sign out. */
export function signedInHeader(req: FastifyRequest, signOut: (csrf: string) => Safe): Safe {
  const auth = req.auth;
  return html`<header><h1><a href="/">Berth</a></h1><span>${auth ? actorName(auth.actor) : ''}</span>${auth?.via === 'session' ? signOut(auth.session.csrf) : ''}</header>`;
}

/** A timestamp as "2030-01-31 10:00 UTC", machine-readable in <time>. */
export function time(iso: string | null | undefined): Safe {
  if (!iso) return html`—`;
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

/** A status word, styled by its class. */
export function statusWord(status: string): Safe {
  return html`<span class="status s-${status.replace(/ /g, '-')}">${status}</span>`;
}
