// The apps page at /: every app the signed-in actor may see, with
// its status, current release, last deploy, URLs and instance counts. Read
// from the store in a constant number of round trips (services/platform/apps/overview.ts),
// so it stays fast with hundreds of apps; no JavaScript needed.
import type { FastifyInstance } from 'fastify';
import { html, type Safe } from '../core/html.ts';
import type { Formation, Store } from '../core/store/index.ts';
import { type AppOverview, appsOverview } from '../platform/apps/overview.ts';
import { actorOf } from './auth.ts';
import { page, signedInHeader, statusWord, time } from './layout.ts';
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

function row(o: AppOverview): Safe {
  const href = `/apps/${encodeURIComponent(o.name)}`;
  return html`<tr><td><a href="${href}">${o.name}</a></td><td>${statusWord(o.status)}</td><td>${o.current ? `v${o.current.version}` : '—'}</td><td>${lastDeploy(o)}</td><td>${o.urls.map((u, i) => html`${i > 0 ? html`<br>` : ''}<a href="${u}/">${u}</a>`)}</td><td>${formationText(o.formation)}</td></tr>`;
}

export function appsPageRoutes(server: FastifyInstance, o: { store: Store; domain: string }) {
  // Behind sign-in although it listens on loopback: the router will forward
  // the bare domain to this port, and those requests come from
  // loopback too, so "on loopback" cannot mean "the admin".
  server.get('/', { config: { auth: 'page' } }, async (req, reply) => {
    const apps = await appsOverview(o.store, actorOf(req), o.domain);
    const body = html`${signedInHeader(req, signOutForm)}
<p>${apps.length} ${apps.length === 1 ? 'app' : 'apps'}</p>
${
  apps.length === 0
    ? html`<p>No apps yet. <code>ssh -p PORT berth@HOST apps:create NAME</code> makes one.</p>`
    : html`<table><thead><tr><th>app</th><th>status</th><th>release</th><th>last deploy</th><th>URLs</th><th>instances</th></tr></thead>
<tbody>${apps.map(row)}</tbody></table>`
}`;
    return reply
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(page('Berth', body));
  });
}
