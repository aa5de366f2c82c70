// The apps page at /: every app the signed-in actor may see, with
// its status, current release, last deploy, URLs and instance counts. Read
// from the store in a constant number of round trips (services/platform/apps/overview.ts),
// so it stays fast with hundreds of apps; no JavaScript needed.
import type { FastifyInstance } from 'fastify';
import { html, type Safe } from '../core/html.ts';
import type { Formation, Store } from '../core/store/index.ts';
import { type AppOverview, appsOverview } from '../platform/apps/overview.ts';
import { actorOf } from './auth.ts';
import { dataTable, page, signedInHeader, statusWord, time } from './layout.ts';
import { signOutForm } from './sign-in-routes.ts';

/** "web=2 worker=1", or "—" for none. */
export function formationText(formation: Formation): string {
  const parts = Object.entries(formation)
    .sort(([a], [b]) => (a === 'web' ? -1 : b === 'web' ? 1 : a.localeCompare(b)))
    .map(([type, n]) => `${type}=${n}`);
  return parts.length === 0 ? '—' : parts.join(' ');
}

/** The last deploy or change: version, what, when, and how it went. */
export function lastDeploy(o: Pick<AppOverview, 'latest'>): Safe {
  const r = o.latest;
  if (!r) return html`—`;
  return html`v${r.version} ${statusWord(r.status)} ${time(r.createdAt)}<br><small>${r.description} · ${r.by}</small>`;
}

const APP_COLUMNS = ['app', 'status', 'release', 'last deploy', 'URLs', 'instances'] as const;

function row(o: AppOverview): (Safe | string)[] {
  const href = `/apps/${encodeURIComponent(o.name)}`;
  return [
    html`<a href="${href}">${o.name}</a>`,
    statusWord(o.status),
    o.current ? `v${o.current.version}` : '—',
    lastDeploy(o),
    html`${o.urls.map((u, i) => html`${i > 0 ? html`<br>` : ''}<a href="${u}/">${u}</a>`)}`,
    formationText(o.formation),
  ];
}

export function appsPageRoutes(server: FastifyInstance, o: { store: Store; domain: string }) {
  // Behind sign-in although it listens on loopback: the router will forward
  // the bare domain to this port, and those requests come from
  // loopback too, so "on loopback" cannot mean "the admin".
  server.get('/', { config: { auth: 'page' } }, async (req, reply) => {
    const apps = await appsOverview(o.store, actorOf(req), o.domain);
    const header = signedInHeader(req, signOutForm, 'apps');
    const body = html`<div class="page-head"><h1>Apps</h1><span class="lede">${apps.length} ${apps.length === 1 ? 'app' : 'apps'}</span></div>
${
  apps.length === 0
    ? html`<section class="card"><p>No apps yet. <code>ssh -p PORT berth@HOST apps:create NAME</code> makes one; then <code>git push</code> to it.</p></section>`
    : html`<section class="card">${dataTable(APP_COLUMNS, apps.map(row), { id: 'apps', label: 'Apps' })}</section>`
}`;
    return reply
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(page('Apps · Berth', body, header));
  });
}
