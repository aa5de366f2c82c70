// The apps page at /: every app the signed-in actor may see, with
// its status, current release, last deploy, URLs and instance counts. Read
// from the store in a constant number of round trips (services/platform/apps/overview.ts),
// so it stays fast with hundreds of apps; no JavaScript needed.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, isBerthError } from '../core/errors.ts';
import { html, type Safe } from '../core/html.ts';
import type { Formation, Store } from '../core/store/index.ts';
import { createApp } from '../platform/apps/apps.ts';
import { type AppOverview, appsOverview } from '../platform/apps/overview.ts';
import { csrfOf, errorNotice } from './app-controls.ts';
import { actorOf } from './auth.ts';
import { formField } from './forms.ts';
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
  if (!r) return html`&mdash;`;
  return html`v${r.version} ${statusWord(r.status)} ${time(r.createdAt)}<br><small>${r.description} &middot; ${r.by}</small>`;
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

export function appsPageRoutes(
  server: FastifyInstance,
  o: { store: Store; domain: string; sshUrl: string },
) {
  // Behind sign-in although it listens on loopback: the router will forward
  // the bare domain to this port, and those requests come from
  // loopback too, so "on loopback" cannot mean "the admin".
  server.get('/', { config: { auth: 'page' } }, async (req, reply) => {
    const apps = await appsOverview(o.store, actorOf(req), o.domain);
    return renderApps(req, reply, apps);
  });

  async function renderApps(
    req: FastifyRequest,
    reply: FastifyReply,
    apps: AppOverview[],
    notice: Safe | string = '',
  ) {
    const header = signedInHeader(req, signOutForm, 'apps');
    const actor = actorOf(req);
    const mayCreate = !(actor.kind === 'user' && actor.readOnly);
    const body = html`<div class="page-head"><h1>Apps</h1><span class="lede">${apps.length} ${apps.length === 1 ? 'app' : 'apps'}</span></div>
${notice}
${
  apps.length === 0
    ? html`<section class="card"><p>No apps yet.${mayCreate ? ' Name one below, then push to it.' : ''}</p></section>`
    : html`<section class="card">${dataTable(APP_COLUMNS, apps.map(row), { id: 'apps', label: 'Apps' })}</section>`
}
${
  mayCreate
    ? html`<section class="card" aria-labelledby="new-app"><h2 id="new-app">New app</h2>
<form method="post" action="/apps" id="app-create" class="actions"><input type="hidden" name="_csrf" value="${csrfOf(req)}"><label>Name <input name="name" required maxlength="30" pattern="[a-z][a-z0-9-]*" autocomplete="off" spellcheck="false" placeholder="my-app"></label> <button type="submit" class="primary">Create app</button></form>
<p><small>Lower-case letters, digits and dashes. As <code>apps:create NAME</code> over SSH; its page then shows the <code>git remote add</code> line.</small></p></section>`
    : ''
}`;
    return reply
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(page('Apps · Berth', body, header));
  }

  // apps:create NAME, owned by whoever asks (as over SSH; admins make apps of others there).
  server.post<{ Body: unknown }>('/apps', { config: { auth: 'page' } }, async (req, reply) => {
    const actor = actorOf(req);
    if (actor.kind === 'user' && actor.readOnly) {
      throw new BerthError('BERTH_E_FORBIDDEN', {
        action: 'creating an app',
        who: 'tokens that may write (this API token is read-only)',
      });
    }
    try {
      const app = await createApp(o.store, actor, formField(req.body, 'name').trim());
      return reply.redirect(`/apps/${app.name}?done=app-created`, 303);
    } catch (e) {
      if (!isBerthError(e) || e.httpStatus >= 500) throw e;
      const apps = await appsOverview(o.store, actor, o.domain);
      return renderApps(
        req,
        reply.code(e.httpStatus),
        apps,
        errorNotice('Could not create the app', e),
      );
    }
  });
}
