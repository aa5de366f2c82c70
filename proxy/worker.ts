// One router process: its own Redis connections, route table and certificate
// cache, serving the HTTP and HTTPS ports that all router processes share
// (node:cluster hands them one listening socket each). Started and stopped
// by proxy/service.ts.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { loadConfig } from '../services/core/config.ts';
import { errorLine } from '../services/core/errors.ts';
import { createLogger } from '../services/core/log.ts';
import { dataPaths } from '../services/core/paths.ts';
import { connectRedis } from '../services/core/redis.ts';
import { Store } from '../services/core/store/index.ts';
import { keyLayout } from '../services/core/store/keys.ts';
import { answerChallenge, isChallenge } from './acme-challenge.ts';
import { CertificateCache, followCertChanges } from './certificates.ts';
import { fallbackCertificate } from './fallback-cert.ts';
import { createRouter } from './forward.ts';
import { redirectToHttps } from './https-redirect.ts';
import { Metrics, publishMetrics } from './metrics.ts';
import { answerWithoutUpgrade, isWebsocketUpgrade } from './plain-upgrade.ts';
import { syncRoutes } from './route-sync.ts';
import { RouteTable } from './route-table.ts';

/**
 * A request's line and headers together may be this large; more is a 431
 * (nginx, Dokku's proxy, allows 4 buffers of 8 KB; Node.js' default is 16 KB).
 */
const MAX_HEADER_BYTES = 32 * 1024;
/** An idle client connection is kept this long between requests (nginx: 75 s). */
const CLIENT_IDLE_MS = 60_000;
/** A client has this long to finish the TLS handshake (Node.js' default is 120 s). */
const HANDSHAKE_TIMEOUT_MS = 15_000;
/** On stop, requests in flight get this long to finish before connections are closed. */
const STOP_GRACE_MS = 10_000;

// The primary passed its own environment; this reads it once, like every service.
const config = loadConfig(process.env);
const log = createLogger('router', { level: config.logLevel });

try {
  const redis = await connectRedis(config.redisUrl);
  const subscriber = redis.duplicate();
  const table = new RouteTable(config.domain);
  const keys = keyLayout(config.redisPrefix);
  const sync = syncRoutes({ redis, subscriber, keys, table, log });
  const fallback = await fallbackCertificate();
  const certs = new CertificateCache({
    paths: dataPaths(config.dataDir),
    fallback: tls.createSecureContext(fallback),
    // The apps' hosts and the status page's (which may get a certificate of
    // the platform's own).
    serves: (host) => host === config.statusHost || table.lookup(host) !== undefined,
    log,
  });
  await Promise.all([sync.ready, followCertChanges({ subscriber, keys, cache: certs, log })]);

  const metrics = new Metrics();
  const published = publishMetrics(metrics, new Store(redis, config.redisPrefix), log);
  const router = createRouter({
    table,
    // BERTH_STATUS_HOST (else the bare domain) is the web app's
    // (services/web), on its loopback port: every page needs a session, so
    // publishing it shows nobody anything. No other name reaches it.
    statusHost: config.statusHost,
    statusPage: new URL(`http://127.0.0.1:${config.webPort}`),
    ports: { http: config.httpPort, https: config.httpsPort },
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    maxBodySize: config.maxBodySize,
    metrics,
    log,
  });
  const limits = {
    // A client has this long to send a request's headers (slow-header clients are cut off).
    headersTimeout: config.routerHeadersTimeoutMs,
    maxHeaderSize: MAX_HEADER_BYTES,
    // Uploads may take long; a stalled one ends by the socket's idle timeout.
    requestTimeout: 0,
    // How often the header timeout is enforced (Node.js' default is 30 s).
    connectionsCheckingInterval: 1000,
  };
  const onHttp = redirectToHttps({
    table,
    statusHost: config.statusHost,
    certs,
    httpsPort: config.httpsPort,
    metrics,
    next: router.onRequest,
  });
  const servers = [
    http.createServer(limits, (req, res) => {
      if (isChallenge(req)) void answerChallenge(req, res, redis, keys);
      else onHttp(req, res);
    }),
    https.createServer(
      {
        ...limits,
        // No SNI: the fallback; a host's own certificate comes from the callback.
        ...fallback,
        SNICallback: certs.sniCallback,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      },
      router.onRequest,
    ),
  ] as const;
  for (const server of servers) {
    server.keepAliveTimeout = CLIENT_IDLE_MS;
    server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      if (isWebsocketUpgrade(req)) router.onUpgrade(req, socket, head);
      else answerWithoutUpgrade(req, socket, (r, res) => server.emit('request', r, res));
    });
    server.on('checkContinue', router.onCheckContinue);
    server.on('error', (e) => {
      log.fatal({ err: e }, 'router listener failed');
      process.exit(1);
    });
  }
  // Every interface unless BERTH_ROUTER_BIND names one address (a host with
  // another proxy in front, or a public and a private interface).
  servers[0].listen(config.httpPort, config.routerBind);
  servers[1].listen(config.httpsPort, config.routerBind);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Bounded whatever happens (Redis gone, a connection that never ends):
    // a router process must never outlive its service.
    setTimeout(() => process.exit(0), STOP_GRACE_MS + 5000).unref();
    const forced = setTimeout(() => {
      for (const server of servers) server.closeAllConnections();
    }, STOP_GRACE_MS);
    forced.unref();
    let open = servers.length;
    for (const server of servers) {
      server.close(async () => {
        if (--open > 0) return;
        clearTimeout(forced);
        router.close();
        await published.stop();
        // No QUIT or UNSUBSCRIBE: with Redis down they would wait for it.
        subscriber.disconnect();
        redis.disconnect();
        process.exit(0);
      });
      server.closeIdleConnections();
    }
  };
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') stop();
  });
  // The primary is gone (killed): no one would stop this process otherwise.
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
} catch (e) {
  log.fatal({ err: e }, errorLine(e));
  process.exit(1);
}
