// Rolling back from the app page and the API, through the same
// service function as `releases:rollback` over SSH (services/platform/release/releases.ts)
// with the same right (push) and the same run: the Engine, the operator's drain
// timeout and log archive. The page asks first: GET /apps/:app/rollback?to=N
// says what will happen; its form POSTs with the session's CSRF token (the
// auth hook refuses a cookie request without it, 403, before anything runs).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BerthError } from '../core/errors.ts';
import { html } from '../core/html.ts';
import type { Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp } from '../platform/apps/access.ts';
import { releaseVersion, rollback, rollbackTarget } from '../platform/release/releases.ts';
import { accepted, optionalBody } from './api.ts';
import { appParams, changeAccepted, rollbackBody } from './api-schemas.ts';
import { actorOf } from './auth.ts';
import { page, signedInHeader, time } from './layout.ts';
import type { Rollouts } from './rollouts.ts';
import { signOutForm } from './sign-in-routes.ts';

/** The optional target version, from a form field, a query or JSON; undefined when absent. */
export function targetVersion(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new BerthError('BERTH_E_USAGE', { reason: '"to" takes a release such as 12 or v12' });
  }
  return releaseVersion(String(value));
}

export function rollbackRoutes(server: FastifyInstance, o: { store: Store; rollouts: Rollouts }) {
  const { store } = o;
  const runFor = o.rollouts.runFor;

  /**
   * The app when the actor may roll it back (push, as releases:rollback asks);
   * authorizeApp answers the same 404 as for a missing app to anyone who may
   * not see it.
   */
  async function pushable(req: FastifyRequest, appName: string) {
    return authorizeApp(store, actorOf(req), validate.appName(appName), 'push');
  }

  server.get<{ Params: { app: string }; Querystring: { to?: string } }>(
    '/apps/:app/rollback',
    { config: { auth: 'page' } },
    async (req, reply) => {
      const found = await pushable(req, req.params.app);
      const to = await rollbackTarget(store, found.name, targetVersion(req.query.to));
      const current = await store.releases.current(found.name);
      const csrf = req.auth?.via === 'session' ? req.auth.session.csrf : '';
      const keys = Object.keys(to.config).sort();
      const header = signedInHeader(req, signOutForm, 'apps');
      const body = html`<div class="page-head"><h1>Roll back <a href="/apps/${found.name}">${found.name}</a> to v${to.version}?</h1></div>
<p>This makes a new release with v${to.version}'s image, processes and config, at the current scale, and rolls it out: new instances start, the router switches to them once they are ready, the old ones are stopped.</p>
<table><tbody>
<tr><th>now</th><td>${current ? html`v${current.version}: ${current.description} (${current.image ?? '—'})` : '—'}</td></tr>
<tr><th>back to</th><td>v${to.version}: ${to.description}, by ${to.by}, ${time(to.createdAt)}</td></tr>
<tr><th>image</th><td><code>${to.image ?? '—'}</code></td></tr>
<tr><th>config</th><td>${keys.length === 0 ? 'no config vars' : keys.join(', ')} (the app's config goes back to v${to.version}'s)</td></tr>
</tbody></table>
<form method="post" action="/apps/${found.name}/rollback"><input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="to" value="${to.version}"><button type="submit">Roll back to v${to.version}</button> <a href="/apps/${found.name}">Cancel</a></form>`;
      return reply
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(page(`Roll back ${found.name} · Berth`, body, header));
    },
  );

  // The auth hook has checked the CSRF token by now (a cookie request without it is a 403).
  server.post<{ Params: { app: string }; Body: Record<string, unknown> | undefined }>(
    '/apps/:app/rollback',
    { config: { auth: 'page' } },
    async (req, reply) => {
      const found = await pushable(req, req.params.app);
      const target = targetVersion(req.body?.to);
      const lines: string[] = [];
      const release = await rollback(await runFor(req, lines), found, target);
      req.log.info({ app: found.name, release: release.version, rollout: lines }, 'rolled back');
      return reply.redirect(`/apps/${found.name}?rolledBack=${release.version}`, 303);
    },
  );

  server.post<{ Params: { app: string }; Body: { to?: number | string } | null | undefined }>(
    '/api/v1/apps/:app/rollback',
    {
      preValidation: optionalBody,
      schema: {
        params: appParams,
        body: rollbackBody,
        response: { 202: changeAccepted },
      },
      config: {
        doc: {
          summary: 'Roll back (releases:rollback)',
          description:
            "A new release with an earlier release's image, processes and config, at the current scale; push right. Answers 202 with the new release (pending) once it is recorded; GET the Location until its status is succeeded or failed.",
        },
      },
    },
    async (req, reply) => {
      const found = await pushable(req, req.params.app);
      const target = targetVersion(req.body?.to);
      const release = await o.rollouts.begin(req, `rollback of ${found.name}`, (run) =>
        rollback(run, found, target),
      );
      return accepted(reply, found.name, release);
    },
  );
}
