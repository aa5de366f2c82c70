// What the app page's controls post (the forms are in
// app-controls.ts): scale, restart, set and remove a config var, through the
// same service functions as ps:scale, ps:restart, config:set and
// config:unset over SSH and the JSON API, with the same right (push) and the
// same refusals: another user's app is the 404 of a missing one, a read-only
// token a 403, and a cookie request without the session's CSRF token a 403
// from the auth hook before anything here runs.
//
// A change that worked redirects (303) to the app page with a query saying
// which release it made (app-controls.ts outcomeOf), as the rollback does. A
// change refused for what was asked (a count that is not one, over ps:scale's
// limit, an unknown process type, a bad key) answers the app page itself with
// the registry's line at its top, in the error's status, and changes nothing.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError } from '../core/errors.ts';
import { html } from '../core/html.ts';
import type { DataPaths } from '../core/paths.ts';
import type { App, Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp } from '../platform/apps/access.ts';
import { addCollaborator, removeCollaborator } from '../platform/apps/apps.ts';
import { changeDomains, type DomainsSetting } from '../platform/apps/domains.ts';
import { restart } from '../platform/release/release-change.ts';
import { parseScale, scale } from '../platform/release/releases.ts';
import { csrfOf } from './app-controls.ts';
import { formationText } from './apps-page.ts';
import { actorOf } from './auth.ts';
import { beginConfigChange } from './config-change.ts';
import { formField, typedText } from './forms.ts';
import { page, signedInHeader } from './layout.ts';
import { attemptControl, type FormRequest, type RenderAppPage } from './page-control.ts';
import type { Rollouts } from './rollouts.ts';
import { signOutForm } from './sign-in-routes.ts';

export function controlRoutes(
  server: FastifyInstance,
  o: {
    store: Store;
    rollouts: Rollouts;
    render: RenderAppPage;
    /** What domains:add and :remove check and touch (without paths: no domain controls). */
    domains: Omit<DomainsSetting, 'paths'> & { paths?: DataPaths };
  },
) {
  const { store } = o;

  /** The app when the actor may change it (push, as the commands and the API ask). */
  const changeable = (req: FastifyRequest<{ Params: { app: string } }>) =>
    authorizeApp(store, actorOf(req), validate.appName(req.params.app), 'push');
  /** The app when the actor may manage it (its owner, an admin: access:add and :remove). */
  const manageable = (req: FastifyRequest<{ Params: { app: string } }>) =>
    authorizeApp(store, actorOf(req), validate.appName(req.params.app), 'manage');

  const attempt = (
    req: FormRequest,
    reply: FastifyReply,
    tried: string,
    change: (found: App) => Promise<string>,
    authorize: (req: FormRequest) => Promise<App> = changeable,
  ) => attemptControl(o.render, req, reply, tried, () => authorize(req), change);

  // ps:scale TYPE=COUNT for one type: a new release, answered once it rolls out.
  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/formation',
    { config: { auth: 'page' } },
    async (req, reply) =>
      attempt(req, reply, 'Could not scale', async (found) => {
        const type = validate.processType(formField(req.body, 'type'));
        // ps:scale's own parser: digits only, at most MAX_INSTANCES.
        const counts = parseScale([`${type}=${formField(req.body, 'count')}`]);
        const release = await o.rollouts.begin(req, `scale of ${found.name}`, (run) =>
          scale(run, found, counts),
        );
        return release ? `?changed=${release.version}` : '';
      }),
  );

  // The restart's confirmation: what will happen. A GET, so it changes nothing.
  server.get<{ Params: { app: string } }>(
    '/apps/:app/restart',
    { config: { auth: 'page' } },
    async (req, reply) => {
      const found = await changeable(req);
      const current = await store.releases.current(found.name);
      if (!current?.image) throw new BerthError('BERTH_E_NO_RELEASE', { app: found.name });
      const settings = await store.apps.deploySettings(found.name);
      const header = signedInHeader(req, signOutForm, 'apps');
      const body = html`<div class="page-head"><h1>Restart <a href="/apps/${found.name}">${found.name}</a>?</h1></div>
<p>Every process of v${current.version} (${formationText(current.formation)}) starts again: new instances start, the router switches to them once they are ready, and the old ones stop once they have finished what they serve. No new release is made, as with <code>ps:restart ${found.name}</code> over SSH.</p>
${settings.stopped.length > 0 ? html`<p>Processes stopped with <code>ps:stop</code> stay stopped.</p>` : ''}
<form method="post" action="/apps/${found.name}/restart"><input type="hidden" name="_csrf" value="${csrfOf(req)}"><button type="submit">Restart</button> <a href="/apps/${found.name}">Cancel</a></form>`;
      return reply
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(page(`Restart ${found.name} · Berth`, body, header));
    },
  );

  // ps:restart: waits for the rollout, as the page's rollback does, so the
  // page can say it is done (a restart makes no release whose status to show).
  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/restart',
    { config: { auth: 'page' } },
    async (req, reply) =>
      attempt(req, reply, 'Could not restart', async (found) => {
        const lines: string[] = [];
        const release = await restart({
          ...(await o.rollouts.runFor(req, lines)),
          app: found.name,
        });
        req.log.info({ app: found.name, release: release.version, rollout: lines }, 'restarted');
        return `?restarted=${release.version}`;
      }),
  );

  // config:set KEY=VALUE for one key. The value is never logged nor sent back.
  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/config',
    { config: { auth: 'page' } },
    async (req, reply) =>
      attempt(req, reply, 'Could not set the config var', async (found) => {
        const key = validate.envKey(formField(req.body, 'key'));
        const value = typedText(formField(req.body, 'value'));
        const { release } = await beginConfigChange(o, req, found, { [key]: value }, []);
        return release ? `?changed=${release.version}` : '?config=recorded';
      }),
  );

  // config:unset KEY.
  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/config/unset',
    { config: { auth: 'page' } },
    async (req, reply) =>
      attempt(req, reply, 'Could not remove the config var', async (found) => {
        const key = validate.envKey(formField(req.body, 'key'));
        const { release, keys } = await beginConfigChange(o, req, found, {}, [key]);
        if (release) return `?changed=${release.version}`;
        return keys.length > 0 ? '?config=recorded' : '?config=unchanged';
      }),
  );

  // domains:add and domains:remove, one domain at a time, with the same checks.
  const domainChange = (mode: 'add' | 'remove') => async (req: FormRequest, reply: FastifyReply) =>
    attempt(
      req,
      reply,
      mode === 'add' ? 'Could not add the domain' : 'Could not remove the domain',
      async (found) => {
        const paths = o.domains.paths;
        if (!paths)
          throw new BerthError('BERTH_E_USAGE', { reason: 'domains are changed over SSH here' });
        const { added, removed } = await changeDomains(
          store,
          actorOf(req),
          { ...o.domains, paths },
          found,
          mode,
          [formField(req.body, 'domain').trim()],
        );
        if (mode === 'add') return added.length > 0 ? '?done=domain-added' : '?done=domain-kept';
        return removed.length > 0 ? '?done=domain-removed' : '';
      },
    );
  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/domains',
    { config: { auth: 'page' } },
    domainChange('add'),
  );
  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/domains/remove',
    { config: { auth: 'page' } },
    domainChange('remove'),
  );

  // access:add and access:remove: the owner's (and an admin's) right, as over SSH.
  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/collaborators',
    { config: { auth: 'page' } },
    async (req, reply) =>
      attempt(
        req,
        reply,
        'Could not add the collaborator',
        async (found) =>
          (await addCollaborator(store, found, formField(req.body, 'user').trim()))
            ? '?done=collaborator-added'
            : '?done=collaborator-kept',
        manageable,
      ),
  );
  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/collaborators/remove',
    { config: { auth: 'page' } },
    async (req, reply) =>
      attempt(
        req,
        reply,
        'Could not remove the collaborator',
        async (found) =>
          (await removeCollaborator(store, found, formField(req.body, 'user')))
            ? '?done=collaborator-removed'
            : '',
        manageable,
      ),
  );
}
