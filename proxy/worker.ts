// One router process: its own Redis connections, route table and certificate
// cache, serving the HTTP and HTTPS ports that all router processes share
// (one kernel socket per port, handed from process to process by
// proxy/spawn.ts). Managed by the primary (proxy/service.ts) over its
// control socket, but not tied to it: with the primary killed, a router
// process serves on and answers to the next primary.
import http from 'node:http';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { loadConfig } from '../services/core/config.ts';
import { errorLine } from '../services/core/errors.ts';
import { collectStartGarbage } from '../services/core/idle-gc.ts';
import { createLogger } from '../services/core/log.ts';
import { dataPaths } from '../services/core/paths.ts';
import { connectRedis } from '../services/core/redis.ts';
import { keyLayout } from '../services/core/store/keys.ts';
import { Metrics as MetricsStore } from '../services/core/store/metrics.ts';
import { readFallbackCertificate } from '../services/platform/certs/fallback-cert.ts';
import { answerChallenge, isChallenge } from './acme-challenge.ts';
import { CertificateCache, followCertChanges } from './certificates.ts';
import {
  controlSocketPath,
  fingerprint,
  type PrimaryMessage,
  readMessages,
  type SpawnMessage,
  sendMessage,
} from './control.ts';
import { createRouter } from './forward.ts';
import { repeatedHost } from './headers.ts';
import { redirectToHttps } from './https-redirect.ts';
import { Metrics, publishMetrics } from './metrics.ts';
import { answerWithoutUpgrade, isWebsocketUpgrade } from './plain-upgrade.ts';
import { syncRoutes } from './route-sync.ts';
import { RouteTable } from './route-table.ts';
import { type ChildMessage, startRouterProcess } from './spawn.ts';

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
/**
 * Handing over to other router processes, answers say `Connection: close`
 * this long before the connections close: a keep-alive client then moves to
 * another process between requests, instead of racing the close of an idle
 * connection with its next request (a "socket hang up").
 */
const HANDOVER_MS = 1000;
/** How often a router process without a primary tries to reach the next one. */
const RECONNECT_MS = 200;

// The primary passed its own environment; this reads it once, like every service.
const config = loadConfig(process.env);
const log = createLogger('router', { level: config.logLevel });

/**
 * The spawner's instructions (proxy/spawn.ts), asked for once the servers
 * exist; a socket arrives as a listening net.Server whose handle the HTTP or
 * HTTPS server takes over in the same tick, before it could accept anything.
 */
function sockets(): Promise<'bind' | Map<'http' | 'https', net.Server>> {
  return new Promise((resolve) => {
    const got = new Map<'http' | 'https', net.Server>();
    const onMessage = (m: SpawnMessage, handle: unknown) => {
      if (m.type === 'bind') {
        process.off('message', onMessage);
        resolve('bind');
      } else if (m.type === 'socket' && handle instanceof net.Server) {
        got.set(m.port, handle);
        if (got.size === 2) {
          process.off('message', onMessage);
          resolve(got);
        }
      }
    };
    process.on('message', onMessage);
    process.send?.({ type: 'want-sockets' } satisfies ChildMessage);
  });
}

try {
  const redis = await connectRedis(config.redisUrl);
  const subscriber = redis.duplicate();
  // Redis gone (its machine lost, a restart): the router serves its last
  // table while ioredis reconnects; said once per outage, not per attempt
  // (without a listener ioredis prints every failed attempt to stderr).
  for (const client of [redis, subscriber]) {
    let down = false;
    client.on('error', (e: Error) => {
      if (!down) log.warn({ err: e }, 'Redis does not answer; serving the routes known');
      down = true;
    });
    client.on('ready', () => {
      down = false;
    });
  }
  const table = new RouteTable(config.domain);
  const keys = keyLayout(config.redisPrefix);
  const sync = syncRoutes({ redis, subscriber, keys, table, log });
  const paths = dataPaths(config.dataDir);
  // Made by the primary before it starts any router process (proxy/service.ts).
  const fallback = await readFallbackCertificate(paths);
  const certs = new CertificateCache({
    paths,
    fallback: tls.createSecureContext(fallback),
    // The apps' hosts and the status page's (which may get a certificate of
    // the platform's own).
    certName: (host) => (host === config.statusHost ? host : table.certName(host)),
    log,
  });
  await Promise.all([sync.ready, followCertChanges({ subscriber, keys, cache: certs, log })]);

  const metrics = new Metrics();
  // The metrics repository alone: the whole Store would load zod and every
  // record's schema into each router process (app-records.ts).
  const published = publishMetrics(
    metrics,
    new MetricsStore({ redis, keys, now: () => new Date() }),
    log,
  );
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
    // A client has this long from a request's start to send all of its body,
    // then gets 408 and is disconnected (its backend request goes with it:
    // forward.ts closeExchange). An idle timeout would not do: a body
    // dripped a byte every few seconds is never idle for long, and held a
    // connection and a backend exchange for good. Node.js checks it with
    // the headers' timeout, on the sweep below: no timer per request.
    requestTimeout: config.routerBodyTimeoutMs,
    // How often the header and body timeouts are enforced (Node.js' default is 30 s).
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
  let handingOver = false;
  const servers = [
    http.createServer(limits, (req, res) => {
      if (handingOver) res.setHeader('connection', 'close');
      // A repeated Host is the router's 400 (forward.ts), even on the challenge path.
      if (isChallenge(req) && !repeatedHost(req.rawHeaders)) {
        void answerChallenge(req, res, redis, keys);
      } else onHttp(req, res);
    }),
    https.createServer(
      {
        ...limits,
        // No SNI: the fallback until serveWithoutSni (below) has read
        // BERTH_DOMAIN's; a host's own certificate comes from the callback.
        ...fallback,
        SNICallback: certs.sniCallback,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      },
      (req, res) => {
        if (handingOver) res.setHeader('connection', 'close');
        router.onRequest(req, res);
      },
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
  await certs.serveWithoutSni(config.domain, servers[1], fallback);
  const given = await sockets();
  await Promise.all(
    servers.map(
      (server, i) =>
        new Promise<void>((resolve) => {
          server.once('listening', () => resolve());
          if (given !== 'bind') server.listen(given.get(i === 0 ? 'http' : 'https') as net.Server);
          // Every interface unless BERTH_ROUTER_BIND names one address (a host with
          // another proxy in front, or a public and a private interface).
          else server.listen(i === 0 ? config.httpPort : config.httpsPort, config.routerBind);
        }),
    ),
  );
  process.send?.({ type: 'listening' } satisfies ChildMessage);
  collectStartGarbage();

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
  process.on('SIGTERM', stop);

  // The primary, present or next: connect, say who this is, do as asked; when
  // the connection ends (the primary killed), serve on and try again.
  const controlPath = controlSocketPath(config);
  const mine = fingerprint(config);
  const connect = () => {
    if (stopping) return;
    const control = net.connect(controlPath);
    control.on('connect', () =>
      sendMessage(control, { type: 'hello', pid: process.pid, fingerprint: mine }),
    );
    readMessages<PrimaryMessage>(control, (m) => {
      if (m.type === 'stop' && m.handover) {
        handingOver = true;
        setTimeout(stop, HANDOVER_MS);
      } else if (m.type === 'stop') stop();
      else if (m.type === 'spawn') {
        const env = { ...process.env, ...m.env };
        Promise.all(
          Array.from({ length: m.count }, () => startRouterProcess(env, servers, m.worker)),
        ).then(
          (pids) => sendMessage(control, { type: 'spawned', id: m.id, pids }),
          (e: unknown) =>
            sendMessage(control, { type: 'spawn-failed', id: m.id, reason: errorLine(e) }),
        );
      }
    });
    control.on('error', () => {});
    control.on('close', () => setTimeout(connect, RECONNECT_MS).unref());
  };
  connect();
} catch (e) {
  log.fatal({ err: e }, errorLine(e));
  process.exit(1);
}
