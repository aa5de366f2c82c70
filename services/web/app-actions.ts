// The app page's redeploy and Let's Encrypt controls: a rebuild of the
// deploy branch as last pushed (ps:rebuild) and ACME certificates for the
// app's hosts on or off (letsencrypt:enable, letsencrypt:disable), through
// the same service functions and the same rights as the SSH commands (push
// for the rebuild; manage, its owner's and admins', for certificates), with
// the same refusals (another user's app is the 404 of a missing one, a
// read-only token a 403).
//
// A rebuild answers once its build is queued, with the build's page, where
// its log follows live: a build takes minutes, a page must not. Turning
// certificates on waits for the CA's answers, as letsencrypt:enable does,
// and then says how it went; a host that got none shows its reason in the
// Domains table, and the renewer tries it again later.
import type { FastifyInstance } from 'fastify';
import { BerthError } from '../core/errors.ts';
import { html, type Safe } from '../core/html.ts';
import type { DataPaths } from '../core/paths.ts';
import type { App, Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp } from '../platform/apps/access.ts';
import { rebuild } from '../platform/build/rebuild.ts';
import type { AcmeOptions } from '../platform/certs/acme.ts';
import { disableLetsencrypt, enableLetsencrypt } from '../platform/certs/letsencrypt.ts';
import { actorOf } from './auth.ts';
import { attemptControl, type FormRequest, type RenderAppPage } from './page-control.ts';

const csrfField = (csrf: string): Safe => html`<input type="hidden" name="_csrf" value="${csrf}">`;

/** The Redeploy button, beside Restart (ps:rebuild). */
export function redeployForm(app: string, csrf: string): Safe {
  return html`<form method="post" action="/apps/${app}/rebuild" class="inline">${csrfField(csrf)}<button type="submit">Redeploy</button> <small>build the last pushed commit again and release it</small></form>`;
}

/** Let's Encrypt on or off for the app's hosts, under its domains. */
export function letsencryptForm(app: string, on: boolean, csrf: string): Safe {
  return on
    ? html`<form method="post" action="/apps/${app}/letsencrypt/disable" class="inline" id="letsencrypt">${csrfField(csrf)}<span>Let's Encrypt is on.</span> <button type="submit">Turn Let's Encrypt off</button> <small>HTTPS falls back to a self-signed certificate</small></form>`
    : html`<form method="post" action="/apps/${app}/letsencrypt" class="inline" id="letsencrypt">${csrfField(csrf)}<span>Let's Encrypt is off.</span> <button type="submit">Turn Let's Encrypt on</button> <small>certificates for the default host and each domain, renewed by themselves (this waits for the CA, up to a minute a host)</small></form>`;
}

/** Whether any of the app's hosts has an ACME certificate (or one being tried). */
export async function letsencryptOn(store: Store, hosts: readonly string[]): Promise<boolean> {
  const certs = await Promise.all(hosts.map((h) => store.certs.get(h)));
  return certs.some((c) => c?.source === 'acme');
}

export interface AppActionOptions {
  store: Store;
  render: RenderAppPage;
  /** The data directory's layout (the app's repository); absent: no rebuild here. */
  paths?: DataPaths;
  /** The ACME settings letsencrypt:enable uses; absent: no certificate controls here. */
  acme?: AcmeOptions;
}

export function appActionRoutes(server: FastifyInstance, o: AppActionOptions): void {
  const { store } = o;
  const authorized = (req: FormRequest, action: 'push' | 'manage') => () =>
    authorizeApp(store, actorOf(req), validate.appName(req.params.app), action);

  // ps:rebuild: answers with the build's page once the build is queued; the
  // rest of it runs on, followed here as the command follows it.
  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/rebuild',
    { config: { auth: 'page' } },
    async (req, reply) =>
      attemptControl(
        o.render,
        req,
        reply,
        'Could not redeploy',
        authorized(req, 'push'),
        async (found: App) => {
          const paths = o.paths;
          if (!paths)
            throw new BerthError('BERTH_E_USAGE', {
              reason: 'rebuilds are asked for over SSH here',
            });
          let answer: (where: string) => void = () => {};
          const answered = new Promise<string>((resolve) => {
            answer = resolve;
          });
          const running = rebuild({
            store,
            actor: actorOf(req),
            app: found.name,
            paths,
            // Before the build is queued, the only line is that another build holds the app.
            onLine: () => answer('?done=rebuild-waiting'),
            onQueued: (id) => answer(`/apps/${found.name}/builds/${id}`),
            // Not the request's: the build goes on after this answer, as a push's does.
            signal: new AbortController().signal,
          });
          running.then(
            (r) => req.log.info({ app: found.name, status: r.status }, 'rebuild ended'),
            (e: unknown) => req.log.info({ app: found.name, err: e }, 'rebuild ended'),
          );
          // A refusal before the queue (no branch pushed, the app locked, no
          // builder) rejects this, and attemptControl shows it on the page.
          return Promise.race([answered, running.then(() => '?done=rebuild-ended')]);
        },
      ),
  );

  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/letsencrypt',
    { config: { auth: 'page' } },
    async (req, reply) =>
      attemptControl(
        o.render,
        req,
        reply,
        "Could not turn Let's Encrypt on",
        authorized(req, 'manage'),
        async (found) => {
          if (!o.acme)
            throw new BerthError('BERTH_E_USAGE', {
              reason: 'certificates are asked for over SSH here (letsencrypt:enable)',
            });
          const results = await enableLetsencrypt(o.acme, found.name);
          req.log.info(
            { app: found.name, results: results.map((r) => `${r.domain} ${r.ok}`) },
            'letsencrypt enabled',
          );
          return results.every((r) => r.ok) ? '?done=letsencrypt-on' : '?done=letsencrypt-partial';
        },
      ),
  );

  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/letsencrypt/disable',
    { config: { auth: 'page' } },
    async (req, reply) =>
      attemptControl(
        o.render,
        req,
        reply,
        "Could not turn Let's Encrypt off",
        authorized(req, 'manage'),
        async (found) => {
          if (!o.acme)
            throw new BerthError('BERTH_E_USAGE', {
              reason: 'certificates are removed over SSH here (letsencrypt:disable)',
            });
          const removed = await disableLetsencrypt(o.acme, found.name);
          return removed.length > 0 ? '?done=letsencrypt-off' : '?done=letsencrypt-none';
        },
      ),
  );
}
