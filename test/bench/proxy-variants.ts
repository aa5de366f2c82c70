// The Node.js proxies the router is measured against, each its own process
// (node:cluster with SCHED_NONE, as the router), listening on 127.0.0.1:
//   node --import tsx proxy-variants.ts <variant> <port> <backend ip:port> <processes>
// Variants:
//   pipe          the least a Node.js proxy does: a request to the backend on
//                 a keep-alive agent, the answer piped back; the ceiling.
//   http-proxy-3  the same through http-proxy-3's proxy.web, nothing else:
//                 the maintained fork, which the router used before.
//   http-proxy-1.18  the same through http-proxy 1.18.1 (the original, which
//                 the router is built on): what the library costs by itself.
//   http-request  the router's success path (proxy/forward.ts: Host lookup,
//                 request id, hop-by-hop headers, X-Forwarded-*, round-robin,
//                 upstream timeout, abort on client close, metrics) on
//                 http.request instead of proxy.web, with the router's agent
//                 and server settings. Retries and error pages are left out:
//                 they do not run when the backend answers. The route table is
//                 filled here; the router's Redis is idle during a run anyway.
//   router-code   the router's own request path (proxy/forward.ts,
//                 createRouter) in a bare server with the router's settings:
//                 no Redis, no HTTPS listener, no metrics publishing, no
//                 redirect wrapper, on 127.0.0.1. Paired with "router" (the
//                 service), it tells what the service around forward.ts costs.
import cluster from 'node:cluster';
import http from 'node:http';
import httpProxy1 from 'http-proxy';
import { createProxyServer } from 'http-proxy-3';
import { createRouter } from '../../proxy/forward.ts';
import { requestHost, requestId, setForwarded, stripHopByHop } from '../../proxy/headers.ts';
import { CLIENT_ABORTED, Metrics } from '../../proxy/metrics.ts';
import { pickBackend, RouteTable } from '../../proxy/route-table.ts';
import { closeIdleSockets } from '../../proxy/socket-sweeps.ts';
import { createLogger } from '../../services/core/log.ts';

const [variant = '', port = '', backend = '', processes = '1'] = process.argv.slice(2);
const [backendHost, backendPort] = backend.split(':');

function pipe(): http.RequestListener {
  const agent = new http.Agent({ keepAlive: true });
  return (req, res) => {
    const upstream = http.request(
      {
        host: backendHost,
        port: backendPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  };
}

function httpProxy3(): http.RequestListener {
  const proxy = createProxyServer({ agent: new http.Agent({ keepAlive: true }) });
  const target = new URL(`http://${backend}`);
  return (req, res) => proxy.web(req, res, { target }, () => res.destroy());
}

function httpProxy118(): http.RequestListener {
  const proxy = httpProxy1.createProxyServer({ agent: new http.Agent({ keepAlive: true }) });
  const target = `http://${backend}`;
  return (req, res) => proxy.web(req, res, { target }, () => res.destroy());
}

/** The variants' own route table, as route-sync.ts would fill it for the bench's app. */
function benchTable(): RouteTable {
  const table = new RouteTable('berth.test');
  table.set('bench', {
    release: 1,
    backends: [backend],
    domains: [],
    https: { httpsRedirect: false, hsts: false, hstsMaxAge: 0 },
  });
  return table;
}

function routerCode(): http.RequestListener {
  return createRouter({
    table: benchTable(),
    domain: 'berth.test',
    // Never asked: the bench's requests are for its app's host.
    statusPage: new URL('http://127.0.0.1:9'),
    ports: { http: Number(port), https: 443 },
    upstreamTimeoutMs: 60_000,
    maxBodySize: 100 * 1024 * 1024,
    metrics: new Metrics(),
    log: createLogger('router', { level: 'error' }),
  }).onRequest;
}

function httpRequest(): http.RequestListener {
  // As proxy/forward.ts and proxy/worker.ts set them.
  const agent = new http.Agent({ keepAlive: true, scheduling: 'lifo', maxFreeSockets: 1024 });
  closeIdleSockets(agent, 1900);
  const upstreamTimeoutMs = 60_000;
  const table = benchTable();
  const metrics = new Metrics();
  return (req, res) => {
    const started = performance.now();
    const host = requestHost(req);
    const id = requestId(req.headers['x-request-id']);
    const route = table.lookup(host);
    const b = route && pickBackend(route, started);
    if (!route || !b) {
      res.writeHead(404).end();
      return;
    }
    res.on('close', () => {
      const status = res.writableFinished ? res.statusCode : CLIENT_ABORTED;
      metrics.record(route.app, status, performance.now() - started);
    });
    stripHopByHop(req.headers);
    setForwarded(req, 'http', Number(port), id);
    const upstream = http.request({
      host: b.target.hostname,
      port: b.target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent,
    });
    upstream.setTimeout(upstreamTimeoutMs, () => upstream.destroy());
    upstream.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.on('response', (answer) => {
      stripHopByHop(answer.headers);
      delete answer.headers['transfer-encoding'];
      answer.headers['x-request-id'] ??= id;
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  };
}

const VARIANTS: Record<string, () => http.RequestListener | Promise<http.RequestListener>> = {
  pipe,
  'http-proxy-3': httpProxy3,
  'http-proxy-1.18': httpProxy118,
  'http-request': httpRequest,
  'router-code': routerCode,
};
/** Served with the router's server settings (proxy/worker.ts). */
const ROUTER_LIKE = new Set(['http-request', 'router-code']);

if (cluster.isPrimary) {
  if (!VARIANTS[variant]) throw new Error(`no variant ${variant}: ${Object.keys(VARIANTS)}`);
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  for (let i = 0; i < Number(processes); i++) cluster.fork();
  // The bench stops the primary; its workers exit when their IPC channel closes.
  process.on('SIGTERM', () => process.exit(0));
} else {
  const listener = await (VARIANTS[variant] as () => http.RequestListener)();
  const server = ROUTER_LIKE.has(variant)
    ? http.createServer(
        { headersTimeout: 15_000, requestTimeout: 0, connectionsCheckingInterval: 1000 },
        listener,
      )
    : http.createServer(listener);
  if (ROUTER_LIKE.has(variant)) server.keepAliveTimeout = 60_000;
  server.listen(Number(port), '127.0.0.1');
}
