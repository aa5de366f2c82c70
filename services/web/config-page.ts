// Config values on the app page: hidden unless revealed. The app
// page lists the keys only; "Reveal values" is a POST (with the session's
// CSRF token) so that values are shown by an explicit action, never in a
// page a GET can fetch, prefetch, cache or leave in a browser's history.
// Only those with the right to see values (the 'config' right, as
// config:show over SSH) get the button or the values; anyone else who may
// see the app gets the same keys-only page. Each reveal is logged (app, who).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { actorName } from '../core/actor.ts';
import { html, type Safe } from '../core/html.ts';
import type { App, Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp, mayAccess } from '../platform/apps/access.ts';
import { configOf } from '../platform/apps/config.ts';
import { csrfOf, removeKeyForm, setKeyForm } from './app-controls.ts';
import { actorOf } from './auth.ts';
import { page, signedInHeader } from './layout.ts';
import { signOutForm } from './sign-in-routes.ts';

/**
 * The app page's config section: keys, the reveal button for those allowed,
 * and for those who may change the app (`canChange`: push, as config:set) a
 * remove button per key and the form that sets one.
 */
export function configSection(
  req: FastifyRequest,
  app: App,
  keys: readonly string[],
  canChange: boolean,
): Safe {
  const csrf = csrfOf(req);
  const setForm = canChange ? setKeyForm(app.name, csrf) : '';
  if (keys.length === 0) return html`<p>No config vars.</p>${setForm}`;
  const reveal = mayAccess(actorOf(req), app, 'config')
    ? html`<form method="post" action="/apps/${app.name}/config/reveal"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit">Reveal values</button></form>`
    : html`<p><small>Your credentials may not see the values (a read-only API token).</small></p>`;
  return html`<p>${keys.length} ${keys.length === 1 ? 'key' : 'keys'}; values are hidden.</p><ul id="config-keys">${keys.map(
    (k) =>
      html`<li><code>${k}</code>${canChange ? html` ${removeKeyForm(app.name, k, csrf)}` : ''}</li>`,
  )}</ul>${reveal}${setForm}`;
}

export function configPageRoutes(server: FastifyInstance, o: { store: Store }) {
  // The auth hook has checked the CSRF token by now (a cookie request without it is a 403).
  server.post<{ Params: { app: string } }>(
    '/apps/:app/config/reveal',
    { config: { auth: 'page' } },
    async (req, reply) => {
      const found = await authorizeApp(
        o.store,
        actorOf(req),
        validate.appName(req.params.app),
        'config',
      );
      const vars = await configOf(o.store, found);
      const keys = Object.keys(vars).sort();
      req.log.info({ app: found.name, by: actorName(actorOf(req)) }, 'config values revealed');
      const header = signedInHeader(req, signOutForm, 'apps');
      const body = html`<div class="page-head"><h1><a href="/apps/${found.name}">${found.name}</a> config vars</h1></div>
${
  keys.length === 0
    ? html`<p>No config vars.</p>`
    : html`<table id="config-values"><thead><tr><th>key</th><th>value</th></tr></thead><tbody>${keys.map(
        (k) => html`<tr><td><code>${k}</code></td><td><code>${vars[k]}</code></td></tr>`,
      )}</tbody></table>`
}
<p><a href="/apps/${found.name}">Hide values</a> (back to the app). <small>Over SSH: <code>config:show ${found.name}</code>.</small></p>`;
      return (
        reply
          // Never kept by a browser or a proxy: the page holds secrets.
          .header('cache-control', 'no-store')
          .header('referrer-policy', 'no-referrer')
          .type('text/html; charset=utf-8')
          .send(page(`${found.name} config · Berth`, body, header))
      );
    },
  );
}
