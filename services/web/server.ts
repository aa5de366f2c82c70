// The web status page and JSON API (sign-in, app pages,
// live logs). build() makes the fastify instance without listening, so tests
// use inject() or a real server on port 0.

import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { BerthError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { DataPaths } from '../core/paths.ts';
import type { Store } from '../core/store/index.ts';
import { VERSION } from '../core/version.ts';
import { createBuildQueue } from '../platform/build/queue-open.ts';
import type { AcmeOptions } from '../platform/certs/acme.ts';
import type { RolloutSettings } from '../platform/release/releases.ts';
import { accountPageRoutes } from './account-page.ts';
import { apiRoutes } from './api.ts';
import { apiChangeRoutes } from './api-changes.ts';
import { appActionRoutes } from './app-actions.ts';
import { appPageRoutes, type EngineClient } from './app-page.ts';
import { appsPageRoutes } from './apps-page.ts';
import { assetRoutes } from './assets.ts';
import { installAuth } from './auth.ts';
import { buildPageRoutes } from './build-page.ts';
import { installCompression } from './compression.ts';
import { configPageRoutes } from './config-page.ts';
import { controlRoutes } from './control-routes.ts';
import { installErrors } from './errors.ts';
import { liveScriptRoute } from './live-script.ts';
import { logsStreamRoutes } from './logs-stream.ts';
import { nodesPageRoutes } from './nodes-page.ts';
import { notificationsApiRoutes, webhookRoutes } from './notifications.ts';
import { installOpenApi } from './openapi.ts';
import { releasePageRoutes } from './release-page.ts';
import { rollbackRoutes } from './rollback-routes.ts';
import { rollouts } from './rollouts.ts';
import { servicesRoutes } from './services-page.ts';
import { signInRoutes } from './sign-in-routes.ts';
import { DEFAULT_STREAMS_PER_USER, liveStreams } from './sse.ts';

export interface WebOptions {
  store: Store;
  log: Logger;
  domain: string;
  /**
   * BERTH_STATUS_HOST, where the operator gave one: then only requests for
   * that host (and loopback's, the admin's and the supervisor's) are
   * answered. Absent: every host the router sends (the bare BERTH_DOMAIN).
   */
  statusHost?: string;
  /**
   * Live streams one user may hold open at once (BERTH_LIVE_STREAMS_PER_USER;
   * default 16).
   */
  liveStreamsPerUser?: number;
  /** For the git URLs the API shows; default 2222. */
  sshPort?: number;
  /** How long a browser session lasts; default SESSION_TTL_MS (tests shorten it). */
  sessionTtlMs?: number;
  /**
   * The Docker Engine, for the app page's instance list (ps:report); asked
   * with a short timeout (engineTimeoutMs, default 1 s) so a slow Engine never
   * makes a page slow. Absent: the page says no Engine is configured.
   */
  engine?: EngineClient;
  engineTimeoutMs?: number;
  /** `<data dir>/build-logs`, for builds whose log stream has expired. */
  buildLogs?: string;
  /** The data directory's layout, for changes that touch files (a removed domain's certificate). */
  paths?: DataPaths;
  /** What rollbacks, scales, config changes and restarts roll out with (rolloutSettings; tests: tuning too). */
  releases?: RolloutSettings;
  /** letsencrypt:enable's settings (acmeOptions), for the app page's Let's Encrypt control; absent: none. */
  acme?: AcmeOptions;
  /** BERTH_DATA_DIR and BERTH_DATASTORE_BACKUP_KEEP, for the services' "Back up now"; absent: none. */
  backups?: { dataDir: string; keep: number };
}

/**
 * fastify's trustProxy: X-Forwarded-Proto/-Host/-For are believed from the
 * peer that connected, and only when it is on loopback, which is where the
 * router connects from (proxy/worker.ts, to 127.0.0.1:BERTH_WEB_PORT). The
 * web app listens on loopback alone, so a client elsewhere never gets this
 * far; one hop only, so req.ip is the client address the router appended,
 * never one a client wrote into its own X-Forwarded-For.
 */
export function fromLoopbackProxy(address: string, hop: number): boolean {
  return (
    hop === 0 &&
    (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'))
  );
}

/** The names a request on the loopback port itself carries. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/**
 * Answers only requests for the status page's own host (or loopback). The
 * router sends it no other (proxy/forward.ts); this holds also where another
 * proxy in front forwards more names to the port, so that the pages and
 * their cookies never live on a host an app shares a site with.
 */
function onlyAt(server: FastifyInstance, statusHost: string): void {
  server.addHook('onRequest', async (req) => {
    // req.hostname: X-Forwarded-Host from the loopback router (trustProxy), else Host; no port.
    const host = req.hostname.toLowerCase();
    if (host === statusHost || LOOPBACK_HOSTS.has(host)) return;
    throw new BerthError('BERTH_E_WRONG_HOST', {
      host: host.slice(0, 100),
      statusHost,
    });
  });
}

export function build(o: WebOptions): FastifyInstance {
  const server = Fastify({
    trustProxy: fromLoopbackProxy,
    loggerInstance: o.log as FastifyBaseLogger,
    // One line per request would drown the platform's own log; the router keeps access metrics.
    logController: new LogController({ disableRequestLogging: true }),
  });
  installErrors(server, o.store.redis);
  if (o.statusHost !== undefined) onlyAt(server, o.statusHost);
  installAuth(server, o.store);
  // No answer of Berth's is shown in another page's frame. Apps are served at
  // subdomains of BERTH_DOMAIN, the same site as the status page, so the
  // SameSite=Strict session cookie goes along to a frame an app's page puts
  // up, and the app page's one-click buttons (Remove, Scale, Reveal values)
  // could be clicked by a user who thinks they click the app's own page.
  server.addHook('onSend', async (_req, reply) => {
    reply.header('x-frame-options', 'DENY');
    reply.header('content-security-policy', "frame-ancestors 'none'");
  });
  installCompression(server);
  // Before any /api/v1 route, so that each one is in the description.
  installOpenApi(server);

  // Liveness and readiness for operators and the supervisor: 200 only when
  // the state store answers.
  server.get('/healthz', { config: { auth: 'public' } }, async (_req, reply) => {
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

  // The build queue on the store's connection (it leaves the connection open on close).
  const queue = createBuildQueue(o.store.redis, o.store.keys.prefix);
  server.addHook('onClose', () => queue.close());
  const history = o.buildLogs ? { buildLogs: o.buildLogs } : {};

  const streams = liveStreams(server, o.liveStreamsPerUser ?? DEFAULT_STREAMS_PER_USER);
  liveScriptRoute(server);
  assetRoutes(server);
  // Where users push: the git remote the pages and the API show.
  const sshUrl = `ssh://berth@${o.domain}:${o.sshPort ?? 2222}`;
  appsPageRoutes(server, { ...o, sshUrl });
  accountPageRoutes(server, o);
  releasePageRoutes(server, o);
  const services = servicesRoutes(server, {
    store: o.store,
    ...(o.engine ? { engine: o.engine } : {}),
    ...(o.releases?.appNetworks ? { appNetworks: o.releases.appNetworks } : {}),
    ...(o.backups ? { backups: o.backups } : {}),
  });
  nodesPageRoutes(server, {
    store: o.store,
    ...(o.engine ? { engine: o.engine } : {}),
    ...(o.releases?.swarm ? { swarm: o.releases.swarm } : {}),
  });
  // What the schedulers are made with besides the Engine (swarm apps need the manager).
  const schedulerDeps = {
    ...(o.releases?.limits ? { limits: o.releases.limits } : {}),
    ...(o.releases?.swarm ? { swarm: o.releases.swarm } : {}),
    ...(o.releases?.appNetworks ? { appNetworks: o.releases.appNetworks } : {}),
  };
  const renderAppPage = appPageRoutes(server, {
    ...o,
    sshUrl,
    builds: { queue, history },
    rebuild: o.paths !== undefined,
    letsencrypt: o.acme !== undefined,
    services: services.section,
    schedulerDeps,
  });
  appActionRoutes(server, {
    store: o.store,
    render: renderAppPage,
    ...(o.paths ? { paths: o.paths } : {}),
    ...(o.acme ? { acme: o.acme } : {}),
  });
  webhookRoutes(server, { store: o.store, render: renderAppPage });
  buildPageRoutes(server, { store: o.store, queue, history, streams });
  configPageRoutes(server, { store: o.store });
  logsStreamRoutes(server, {
    store: o.store,
    streams,
    ...(o.engine ? { engine: o.engine } : {}),
    ...(o.releases?.logArchive ? { logArchive: o.releases.logArchive } : {}),
    schedulerDeps,
  });
  const changes = rollouts(server, {
    store: o.store,
    ...(o.engine ? { engine: o.engine } : {}),
    ...(o.releases ? { settings: o.releases } : {}),
  });
  rollbackRoutes(server, { store: o.store, rollouts: changes });
  controlRoutes(server, {
    store: o.store,
    rollouts: changes,
    render: renderAppPage,
    domains: {
      base: o.domain,
      ...(o.statusHost ? { statusHost: o.statusHost } : {}),
      ...(o.paths ? { paths: o.paths } : {}),
    },
  });
  signInRoutes(server, o);
  apiRoutes(server, {
    store: o.store,
    domain: o.domain,
    sshUrl,
    builds: { queue, history },
  });
  notificationsApiRoutes(server, { store: o.store });
  apiChangeRoutes(server, {
    store: o.store,
    rollouts: changes,
    ...(o.engine ? { engine: o.engine } : {}),
    ...(o.engineTimeoutMs === undefined ? {} : { engineTimeoutMs: o.engineTimeoutMs }),
  });

  return server;
}
