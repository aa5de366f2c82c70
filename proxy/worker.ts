// One router process: its own Redis connections and route table, serving the
// HTTP port that all router processes share (node:cluster hands them one
// listening socket). Started and stopped by proxy/service.ts.
import http from 'node:http';
import { loadConfig } from '../services/core/config.ts';
import { errorLine } from '../services/core/errors.ts';
import { createLogger } from '../services/core/log.ts';
import { connectRedis } from '../services/core/redis.ts';
import { keyLayout } from '../services/core/store/keys.ts';
import { createRouter } from './forward.ts';
import { Metrics } from './metrics.ts';
import { syncRoutes } from './route-sync.ts';
import { RouteTable } from './route-table.ts';

/**
 * A request's line and headers together may be this large; more is a 431
 * (nginx, Dokku's proxy, allows 4 buffers of 8 KB; Node.js' default is 16 KB).
 */
const MAX_HEADER_BYTES = 32 * 1024;
/** An idle client connection is kept this long between requests (nginx: 75 s). */
const CLIENT_IDLE_MS = 60_000;
/** On stop, requests in flight get this long to finish before connections are closed. */
const STOP_GRACE_MS = 10_000;

// The primary passed its own environment; this reads it once, like every service.
const config = loadConfig(process.env);
const log = createLogger('router', { level: config.logLevel });

try {
  const redis = await connectRedis(config.redisUrl);
  const subscriber = redis.duplicate();
  const table = new RouteTable(config.domain);
  const sync = syncRoutes({ redis, subscriber, keys: keyLayout(config.redisPrefix), table, log });
  await sync.ready;

  const router = createRouter({
    table,
    domain: config.domain,
    // The page lists every app and owner and has no sign-in yet (issue 7):
    // it stays on loopback until it has.
    statusPage: undefined,
    proto: 'http',
    port: config.httpPort,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    maxBodySize: config.maxBodySize,
    metrics: new Metrics(),
    log,
  });
  const server = http.createServer(
    {
      // A client has this long to send a request's headers (slow-header clients are cut off).
      headersTimeout: config.routerHeadersTimeoutMs,
      maxHeaderSize: MAX_HEADER_BYTES,
      // Uploads may take long; a stalled one ends by the socket's idle timeout.
      requestTimeout: 0,
      // How often the header timeout is enforced (Node.js' default is 30 s).
      connectionsCheckingInterval: 1000,
    },
    router.onRequest,
  );
  server.keepAliveTimeout = CLIENT_IDLE_MS;
  server.on('upgrade', router.onUpgrade);
  server.on('checkContinue', router.onCheckContinue);
  server.on('error', (e) => {
    log.fatal({ err: e }, 'router listener failed');
    process.exit(1);
  });
  server.listen(config.httpPort);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Bounded whatever happens (Redis gone, a connection that never ends):
    // a router process must never outlive its service.
    setTimeout(() => process.exit(0), STOP_GRACE_MS + 5000).unref();
    const forced = setTimeout(() => server.closeAllConnections(), STOP_GRACE_MS);
    forced.unref();
    server.close(() => {
      clearTimeout(forced);
      router.close();
      // No QUIT or UNSUBSCRIBE: with Redis down they would wait for it.
      subscriber.disconnect();
      redis.disconnect();
      process.exit(0);
    });
    server.closeIdleConnections();
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
