// The web status page and JSON API (issue 7 grows it: sign-in, app pages,
// live logs). build() makes the fastify instance without listening, so tests
// use inject() or a real server on port 0.

import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { listApps } from '../apps/apps.ts';
import { actorName } from '../core/actor.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store/index.ts';
import { VERSION } from '../core/version.ts';
import { apiRoutes } from './api.ts';
import { actorOf, installAuth } from './auth.ts';
import { installErrors } from './errors.ts';
import { html } from './html.ts';
import { page } from './layout.ts';
import { signInRoutes, signOutForm } from './sign-in-routes.ts';

export interface WebOptions {
  store: Store;
  log: Logger;
  domain: string;
  /** For the git URLs the API shows; default 2222. */
  sshPort?: number;
  /** How long a browser session lasts; default SESSION_TTL_MS (tests shorten it). */
  sessionTtlMs?: number;
}

export function build(o: WebOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: o.log as FastifyBaseLogger,
    // One line per request would drown the platform's own log; the router keeps access metrics.
    logController: new LogController({ disableRequestLogging: true }),
  });
  installErrors(app);
  installAuth(app, o.store);

  // Liveness and readiness for operators and the supervisor: 200 only when
  // the state store answers.
  app.get('/healthz', { config: { auth: 'public' } }, async (_req, reply) => {
    // Bounded: ioredis queues commands while it reconnects, and a health
    // check must answer while Redis is down.
    const redis = await Promise.race([
      o.store.redis.ping().then(
        () => 'ok',
        (e: Error) => e.message,
      ),
      sleep(1000, `no answer within 1 s (connection ${o.store.redis.status})`),
    ]);
    const ok = redis === 'ok';
    return reply
      .code(ok ? 200 : 503)
      .send({ status: ok ? 'ok' : 'unavailable', version: VERSION, redis });
  });

  // The apps the signed-in actor may see. Behind sign-in, although it
  // listens on loopback: the router will forward the bare domain to this
  // port (issue 7), and those requests come from loopback too, so "on
  // loopback" cannot mean "the admin". Root on the server signs in with
  // `berth auth:login --user NAME`.
  app.get('/', { config: { auth: 'page' } }, async (req, reply) => {
    const auth = req.auth;
    const actor = actorOf(req);
    const apps = await listApps(o.store, actor);
    const rows = await Promise.all(
      apps.map(async (a) => {
        const current = await o.store.releases.current(a.name);
        return html`<tr><td><a href="http://${a.name}.${o.domain}/">${a.name}</a></td><td>${a.owner}</td><td>${current ? `v${current.version}` : '—'}</td><td>${current?.createdAt ?? ''}</td></tr>`;
      }),
    );
    const body = html`<header><h1>Berth</h1><span>${actorName(actor)}</span>${auth?.via === 'session' ? signOutForm(auth.session.csrf) : ''}</header>
<p>${apps.length} ${apps.length === 1 ? 'app' : 'apps'}</p>
${
  apps.length === 0
    ? html`<p>No apps yet.</p>`
    : html`<table><thead><tr><th>app</th><th>owner</th><th>release</th><th>since</th></tr></thead><tbody>${rows}</tbody></table>`
}`;
    return reply
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(page('Berth', body));
  });

  signInRoutes(app, o);
  apiRoutes(app, { store: o.store, sshUrl: `ssh://berth@${o.domain}:${o.sshPort ?? 2222}` });

  return app;
}
