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
import { Metrics } from '../../proxy/metrics.ts';
import { RouteTable } from '../../proxy/route-table.ts';
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
    statusHost: 'berth.test',
    // Never asked: the bench's requests are for its app's host.
    statusPage: new URL('http://127.0.0.1:9'),
    ports: { http: Number(port), https: 443 },
    upstreamTimeoutMs: 60_000,
    maxBodySize: 100 * 1024 * 1024,
    metrics: new Metrics(),
    log: createLogger('router', { level: 'error' }),
  }).onRequest;
}

const VARIANTS: Record<string, () => http.RequestListener | Promise<http.RequestListener>> = {
  pipe,
  'http-proxy-3': httpProxy3,
  'http-proxy-1.18': httpProxy118,
  'router-code': routerCode,
};
/** Served with the router's server settings (proxy/worker.ts). */
const ROUTER_LIKE = new Set(['router-code']);

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
