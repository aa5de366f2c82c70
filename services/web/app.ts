// The web status page and JSON API (issue 7 grows it: sign-in, app pages,
// live logs). build() makes the fastify instance without listening, so tests
// use inject() or a real server on port 0.

import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store/index.ts';
import { VERSION } from '../core/version.ts';
import { html } from './html.ts';

export interface WebOptions {
  store: Store;
  log: Logger;
  domain: string;
}

export function build(o: WebOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: o.log as FastifyBaseLogger,
    // One line per request would drown the platform's own log; the router keeps access metrics.
    logController: new LogController({ disableRequestLogging: true }),
  });

  // Liveness and readiness for operators and the supervisor: 200 only when
  // the state store answers.
  app.get('/healthz', async (_req, reply) => {
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

  // The admin's list of apps; served on loopback only until sign-in (issue 7) exists.
  app.get('/', async (_req, reply) => {
    const apps = await o.store.apps.list();
    const rows = await Promise.all(
      apps.map(async (a) => {
        const current = await o.store.releases.current(a.name);
        return html`<tr><td><a href="http://${a.name}.${o.domain}/">${a.name}</a></td><td>${a.owner}</td><td>${current ? `v${current.version}` : '—'}</td><td>${current?.createdAt ?? ''}</td></tr>`;
      }),
    );
    const body = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Berth</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.4 system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}</style>
</head><body>
<h1>Berth</h1>
<p>${apps.length} ${apps.length === 1 ? 'app' : 'apps'} · Berth ${VERSION}</p>
${
  apps.length === 0
    ? html`<p>No apps yet.</p>`
    : html`<table><thead><tr><th>app</th><th>owner</th><th>release</th><th>since</th></tr></thead><tbody>${rows}</tbody></table>`
}
</body></html>`;
    return reply.type('text/html; charset=utf-8').send(body.text);
  });

  return app;
}
