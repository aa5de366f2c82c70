// The frame every HTML page shares: the stylesheet (assets.ts), a link to
// skip to the content, the bar at the top (the sections, who is signed in,
// sign out), the page's own content in <main>, Berth's version at the foot.
// Helpers for what pages repeat: status badges, times, tables that read on
// a phone.
import type { FastifyRequest } from 'fastify';
import { actorName, isAdmin } from '../core/actor.ts';
import { html, Safe } from '../core/html.ts';
import { VERSION } from '../core/version.ts';
import { STYLESHEET_HREF } from './assets.ts';

/** The sections of the bar at the top, as they exist; `admin`: shown to admins only. */
const SECTIONS = [
  { id: 'apps', label: 'Apps', href: '/', admin: false },
  { id: 'services', label: 'Services', href: '/services', admin: false },
  { id: 'nodes', label: 'Nodes', href: '/nodes', admin: true },
  { id: 'account', label: 'Account', href: '/account', admin: false },
] as const;
export type Section = (typeof SECTIONS)[number]['id'];

/** A whole HTML page: `header` (signedInHeader) above `body`, which goes in <main>. */
export function page(title: string, body: Safe, header: Safe | string = ''): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="stylesheet" href="${STYLESHEET_HREF}">
</head><body>
<a class="skip" href="#main">Skip to the content</a>
${header}
<main id="main">
${body}
</main>
<footer><small>Berth ${VERSION}</small></footer>
</body></html>`.text;
}

/** The bar above every signed-in page: Berth, its sections, who you are, sign out. */
export function signedInHeader(
  req: FastifyRequest,
  signOut: (csrf: string) => Safe,
  current: Section | undefined = undefined,
): Safe {
  const auth = req.auth;
  const admin = auth !== undefined && isAdmin(auth.actor);
  const links = SECTIONS.filter((s) => admin || !s.admin).map(
    (s) =>
      html`<li><a href="${s.href}"${current === s.id ? new Safe(' aria-current="page"') : ''}>${s.label}</a></li>`,
  );
  return html`<header class="top"><div class="top-inner"><a class="brand" href="/">Berth</a><nav aria-label="Sections"><ul>${links}</ul></nav><div class="who"><span>${auth ? actorName(auth.actor) : ''}</span>${auth?.via === 'session' ? signOut(auth.session.csrf) : ''}</div></div></header>`;
}

/** A timestamp as "2030-01-31 10:00 UTC", machine-readable in <time>. */
export function time(iso: string | null | undefined): Safe {
  if (!iso) return html`&mdash;`;
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

/** A status word as a badge, styled by its class (the word itself says it without colour). */
export function statusWord(status: string): Safe {
  return html`<span class="status s-${status.replace(/ /g, '-')}">${status}</span>`;
}

/** A column of dataTable: its heading, and `num` for figures (aligned right). */
export type Column = string | { label: string; num?: boolean; hidden?: boolean };

/**
 * A table of rows under column headings. Each cell carries its column's name
 * (data-label), which the stylesheet shows beside the value on a phone,
 * where the rows become blocks.
 */
export function dataTable(
  columns: readonly Column[],
  rows: readonly (readonly (Safe | string | number)[])[],
  o: { id?: string; label?: string } = {},
): Safe {
  const cols = columns.map((c) => (typeof c === 'string' ? { label: c } : c));
  const head = cols.map(
    (c) =>
      html`<th scope="col"${c.num ? new Safe(' class="num"') : ''}>${c.hidden ? html`<span class="skip">${c.label}</span>` : c.label}</th>`,
  );
  const body = rows.map(
    (cells) =>
      html`<tr>${cells.map((cell, i) => {
        const c = cols[i];
        return html`<td data-label="${c?.hidden ? '' : (c?.label ?? '')}"${c?.num ? new Safe(' class="num"') : ''}>${cell}</td>`;
      })}</tr>`,
  );
  return html`<div class="table-wrap"><table class="data"${o.id ? html` id="${o.id}"` : ''}${o.label ? html` aria-label="${o.label}"` : ''}><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}
