// The router's request path: Host → app → one of its backends, through
// http-proxy 1.18.1. Everything here runs on every request, so it is lookups
// and header edits, nothing more. Some habits that show in its figures (npm
// run bench proxy, CPU profiles of the router under wrk):
//   - no timer per request (socket-sweeps.ts), and no per-request entry in a
//     long-lived collection: either keeps requests alive past the young
//     generation's garbage collection;
//   - no named function made per request (a `const f = () => ...` in a
//     request's path, an object literal's method): Berth runs under tsx,
//     which keeps function names (esbuild's keepNames), and naming a
//     function costs more than the rest of what it does here. Callbacks are
//     passed inline, per-request objects with methods are classes;
//   - the backend's response headers are taken from its raw list, never
//     Node.js' headers object (headers.ts responseHeaders).
//
// Why 1.18.1 and not http-proxy-3, its maintained fork with the same API:
// on this path every microsecond shows (npm run bench proxy), and 1.18.1
// does less per request (the router on it forwards about 15% more requests
// per second than on http-proxy-3). What 1.18.1 gets wrong is guarded here:
//   - it stops the backend request on the client's 'aborted', which Node.js
//     no longer emits once a request's body is in (#1586); on Node.js 20 its
//     handler of the request's ECONNRESET 'error' closes it instead. The
//     router does not rely on either: the response's 'close' destroys it
//     (router-hostile.test.ts: every backend request of 10,000 aborted
//     clients ends);
//   - it rebuilds the path, merging repeated slashes ('/a//b' → '/a/b'): the
//     request-target is set back to what the client sent (router.test.ts);
//   - it pipes a backend's answer into the response even when the router has
//     ended it already with an error page (a 504 just before the answer
//     came): the router writes every response itself (selfHandleResponse)
//     and drops such a late answer.
//
// http-proxy leaves to its user what Berth needs most around a deploy:
//   - a backend that refuses a connection, drops one or does not accept one
//     within the connect timeout is out of the route at once (passive
//     health; route-table.ts, health-probe.ts), and the request goes to
//     another instance when it has no body (nothing was sent, so nothing
//     can run twice);
//   - a request that may have reached the backend (its connection reset
//     before an answer) is sent again only when its method is idempotent
//     (GET, HEAD, OPTIONS) and it has no body: a POST could run twice;
//   - a pooled keep-alive socket the backend closed just as it was reused
//     fails with ECONNRESET: that idempotent request is sent again on a
//     fresh socket;
//   - a backend whose host is gone (a connect timeout, EHOSTUNREACH: a
//     Swarm node lost) answers nothing on the connections the router has
//     open to it either: its idempotent requests still waiting for an
//     answer there are taken back and sent to another instance, instead of
//     waiting for the upstream timeout (dropUnanswered);
//   - a backend that stops answering gets a 504 after the upstream timeout;
//     one that drops the connection mid-response cuts the client's response
//     too (the status line is already out), so the client sees it failed.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import httpProxy from 'http-proxy';
import type { Logger } from '../services/core/log.ts';
import { overLimit } from './body-limit.ts';
import {
  cut,
  EXCHANGE,
  type Exchange,
  finish,
  HOST_GONE,
  IDEMPOTENT,
  NOT_CONNECTED,
  type RoutedRequest,
  requestBody,
} from './exchange.ts';
import {
  repeatedHost,
  requestHost,
  requestId,
  responseHeaders,
  setForwarded,
  stripHopByHop,
} from './headers.ts';
import { checkStalledHosts, SENT_AT } from './host-check.ts';
import { CLIENT_ABORTED, type Metrics, STATUS_PAGE_APP } from './metrics.ts';
import {
  type Backend,
  markAnswered,
  markRefused,
  pickBackend,
  type RouteTable,
  usable,
} from './route-table.ts';
import { closeIdleSockets, timeOutStalledSockets, UPSTREAM_TIMEOUT } from './socket-sweeps.ts';
import { websockets } from './websockets.ts';

/**
 * Idle time after which the router closes a pooled connection to a backend
 * (at the latest: socket-sweeps.ts closes it after half of this to all of it).
 * Shorter than the backends' own (Node.js 5 s, gunicorn 2 s is the outlier),
 * so the router, not the backend, ends an idle connection and a request is
 * rarely sent on a socket the backend is closing.
 */
const UPSTREAM_IDLE_MS = 1900;
/** A backend that takes longer to accept a connection is taken as down (Heroku's router: 5 s). */
const CONNECT_TIMEOUT_MS = 5000;
/** Attempts per request: the first plus retries to other instances. */
const MAX_ATTEMPTS = 3;

export interface RouterOptions {
  table: RouteTable;
  /**
   * The status page's host (BERTH_STATUS_HOST, else the bare BERTH_DOMAIN):
   * the one name whose requests go to the web service.
   */
  statusHost: string;
  /**
   * Where the web service listens (loopback, an origin: a path would not be
   * prepended); proxy/worker.ts passes BERTH_WEB_PORT.
   */
  statusPage: URL;
  /**
   * The ports clients connect to, for X-Forwarded-Port. One router serves
   * both listeners: a request's protocol is its connection's (TLS or not).
   */
  ports: { http: number; https: number };
  /** No response headers, or no data for this long, from a backend: 504. */
  upstreamTimeoutMs: number;
  /** BERTH_MAX_BODY_SIZE: the body limit of apps without their own (bytes; 0: none). */
  maxBodySize: number;
  metrics: Metrics;
  log: Logger;
}

/**
 * proxyRes.pipe(res) less the pipe's bookkeeping (it adds, and later
 * removes, seven listeners per response, which shows on this path): the
 * body is written on as it comes, and the backend is read no faster than
 * the client takes it. A client gone stops nothing here: the exchange's
 * 'close' destroys the backend request (closeExchange).
 */
function forwardBody(from: IncomingMessage, to: ServerResponse): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.once('end', () => to.end());
}

/**
 * The status of a response that did not finish: the router's body deadline
 * (BERTH_ROUTER_BODY_TIMEOUT: Node.js answered 408 on the socket and closed
 * it), or the client gone.
 */
function unfinished(res: ServerResponse): number {
  return (res.req.socket.errored as NodeJS.ErrnoException | null)?.code ===
    'ERR_HTTP_REQUEST_TIMEOUT'
    ? 408
    : CLIENT_ABORTED;
}

export interface Router {
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  /** A websocket handshake (the worker answers other upgrades as plain requests: plain-upgrade.ts). */
  onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
  /** The server's 'checkContinue': a request that waits for "100 Continue" before its body. */
  onCheckContinue(req: IncomingMessage, res: ServerResponse): void;
  close(): void;
}

export function createRouter(o: RouterOptions): Router {
  const agent = new http.Agent({
    keepAlive: true,
    // The most recently used socket is the least likely to be closing.
    scheduling: 'lifo',
    maxFreeSockets: 1024,
  });
  const stopIdleSweep = closeIdleSockets(agent, UPSTREAM_IDLE_MS);
  const stopStallSweep = timeOutStalledSockets(agent, o.upstreamTimeoutMs);
  /** The backend each of the agent's connection names leads to, for the host check. */
  const backendByName = new Map<string, Backend>();
  const nameOf = (b: Backend) => agent.getName({ host: b.target.host, port: b.target.port });
  const stopHostCheck = checkStalledHosts(
    agent,
    (name) => backendByName.get(name),
    (backend) => {
      o.log.warn({ backend: backend.address }, 'backend host does not accept connections');
      markRefused(backend, performance.now());
      dropUnanswered(backend);
    },
  );
  const connectMs = Math.min(CONNECT_TIMEOUT_MS, o.upstreamTimeoutMs);
  const proxy = httpProxy.createProxyServer({
    agent,
    // The router writes the response head itself (the 'proxyRes' listener):
    // one writeHead instead of http-proxy's five passes and a setHeader per
    // header, and never a second head after an error page.
    selfHandleResponse: true,
    // Targets are origins (a backend's ip:port, the status page's root),
    // and the request-target is the router's to set (requestBody below):
    // http-proxy builds no path, and parses no URL.
    prependPath: false,
    ignorePath: true,
    toProxy: true,
  });

  proxy.on('proxyReq', (proxyReq, req) => {
    const x = (req as RoutedRequest)[EXCHANGE] as Exchange;
    if (x.status !== undefined) {
      // Refused before its connection was made (a body over the limit).
      proxyReq.destroy();
      return;
    }
    // An address with nothing behind it any more (a container gone with the
    // Engine) drops packets: without this the request would wait for the
    // upstream timeout instead of going to another instance.
    (proxyReq as http.ClientRequest & { [SENT_AT]?: number })[SENT_AT] = performance.now();
    const socket = proxyReq.socket;
    if (socket?.connecting) {
      const timer = setTimeout(() => {
        x.connectTimedOut = true;
        proxyReq.destroy();
      }, connectMs);
      const clear = () => clearTimeout(timer);
      socket.once('connect', clear);
      socket.once('close', clear);
    }
  });
  proxy.on('proxyRes', (proxyRes, req, res) => {
    const x = (req as RoutedRequest)[EXCHANGE] as Exchange;
    if (res.headersSent || x.status !== undefined) {
      // Answered already (an error page): this response has nowhere to go.
      proxyRes.resume();
      return;
    }
    if (x.backend) markAnswered(x.backend);
    // The backend's connection handling is between it and the router; the
    // client's (keep-alive or close, HTTP/1.0 or 1.1) is Node.js' to answer,
    // and so is the framing of the body (http-proxy's removeChunked pass).
    // A backend's own request id and HSTS policy win over the router's.
    res.writeHead(
      proxyRes.statusCode ?? 502,
      proxyRes.statusMessage,
      responseHeaders(proxyRes.rawHeaders, x.id, x.hsts),
    );
    forwardBody(proxyRes, res);
    // A backend that closes its connection cleanly (a FIN, no error) before
    // the end of its body: the pipe just stops, and the client would wait for
    // the rest forever. Cut it, as for a reset (failed() below). The status
    // page's too: its event streams (a build's log) are open when the web
    // service restarts, and a browser reconnects only once the stream is cut.
    const from = x.backend?.address ?? o.statusPage.host;
    proxyRes.once('close', () => {
      if (!proxyRes.complete) cut(res, x, from, 'closed', o.log);
    });
  });
  // Errors all come to the per-request callback; this keeps an unexpected
  // one from taking the process down.
  proxy.on('error', (err) => o.log.warn({ err }, 'proxy error outside a request'));
  const { onUpgrade } = websockets(proxy, o);

  /**
   * The backend's host is gone: the sockets the router has open to it will
   * get no answer either. Its idle pooled sockets are closed, and so are
   * those whose idempotent request has no answer yet: each such request
   * fails with ECONNRESET and goes to another instance (failed()). Other
   * requests there are left to their upstream timeout: a POST that may
   * have reached the backend is not taken back. `_httpMessage` is the
   * request a socket of an http.Agent serves (Node.js' own field; no public
   * way from a socket to its request); its `res` is set once the answer's
   * head came.
   */
  function dropUnanswered(backend: Backend): void {
    const name = agent.getName({ host: backend.target.host, port: backend.target.port });
    for (const socket of agent.freeSockets[name] ?? []) socket.destroy();
    for (const socket of agent.sockets[name] ?? []) {
      const request = (
        socket as Socket & { _httpMessage?: (http.ClientRequest & { res?: unknown }) | null }
      )._httpMessage;
      if (request && !request.res && IDEMPOTENT.has(request.method)) socket.destroy();
    }
  }

  function attempt(req: RoutedRequest, res: ServerResponse, x: Exchange, backend: Backend) {
    x.attempts++;
    const name = nameOf(backend);
    if (backendByName.get(name) !== backend) {
      // Names of backends the agent has no connection to any more go first.
      if (backendByName.size >= 4096) {
        for (const n of backendByName.keys()) {
          if (!agent.sockets[n] && !agent.freeSockets[n]) backendByName.delete(n);
        }
      }
      backendByName.set(name, backend);
    }
    x.backend = backend;
    x.proxyReq = undefined;
    x.connectTimedOut = false;
    proxy.web(
      req,
      res,
      { target: backend.target, buffer: requestBody(req, x) },
      (err: NodeJS.ErrnoException) => failed(req, res, x, backend, err),
    );
  }

  function failed(
    req: RoutedRequest,
    res: ServerResponse,
    x: Exchange,
    backend: Backend,
    err: NodeJS.ErrnoException,
  ): void {
    // A late error from an attempt already given up on.
    if (x.backend !== backend || x.status !== undefined) return;
    if (res.destroyed || req.socket.destroyed) return; // the client left; 'close' counts it
    const code = x.connectTimedOut ? 'ETIMEDOUT' : (err.code ?? '');
    if (err.code === UPSTREAM_TIMEOUT && !res.headersSent) {
      finish(res, x, 504, `${x.app} did not answer within ${o.upstreamTimeoutMs / 1000} s`);
      return;
    }
    if (res.headersSent) {
      cut(res, x, backend.address, code, o.log);
      return;
    }
    const reset = code === 'ECONNRESET';
    // A pooled socket the backend closed as it was reused: the socket was
    // stale, not the backend (unless the router took the backend out meanwhile).
    const stalePooled =
      reset && x.proxyReq?.reusedSocket === true && backend.state === 'healthy' && !x.staleRetried;
    if (stalePooled) x.staleRetried = true;
    const now = performance.now();
    if (!stalePooled) markRefused(backend, now);
    if (HOST_GONE.has(code)) dropUnanswered(backend);
    const route = o.table.lookup(requestHost(req));
    // Nothing was sent: any request without a body may go elsewhere. A
    // reset may have come after the backend read the request: only an
    // idempotent one may be sent again.
    const resend = NOT_CONNECTED.has(code) || (reset && x.idempotent);
    if (x.retriable && resend && x.attempts < MAX_ATTEMPTS && route) {
      const next = stalePooled ? backend : pickBackend(route, now);
      if (next && (stalePooled || usable(next, now))) {
        attempt(req, res, x, next);
        return;
      }
    }
    o.log.warn({ app: x.app, backend: backend.address, code, id: x.id }, 'backend unreachable');
    finish(
      res,
      x,
      502,
      `${x.app} did not accept the connection (${x.connectTimedOut ? `no answer within ${connectMs / 1000} s` : code || err.message})`,
    );
  }

  /**
   * res's 'close' listener: the exchange's status and time go to the
   * metrics, and a client gone before the end takes its backend request
   * with it (http-proxy 1.18.1 would leave it open: #1586).
   */
  function closeExchange(this: ServerResponse): void {
    const x = (this.req as RoutedRequest)[EXCHANGE] as Exchange;
    const finished = this.writableFinished;
    if (!finished) x.proxyReq?.destroy();
    if (x.app === '') return; // no app: nothing to count it under
    const status = x.status ?? (finished ? this.statusCode : unfinished(this));
    o.metrics.record(x.app, status, performance.now() - x.started);
  }

  function onRequest(req: RoutedRequest, res: ServerResponse): void {
    const started = performance.now();
    const host = requestHost(req);
    const id = requestId(req.headers['x-request-id']);
    const statusPage = host === o.statusHost;
    const route = statusPage ? undefined : o.table.lookup(host);
    const secure = (req.socket as TLSSocket).encrypted === true;
    const x: Exchange = {
      id,
      app: statusPage ? STATUS_PAGE_APP : (route?.app ?? ''),
      started,
      retriable: req.headers['content-length'] === undefined && !req.headers['transfer-encoding'],
      idempotent: IDEMPOTENT.has(req.method as string),
      attempts: 0,
      staleRetried: false,
      backend: undefined,
      proxyReq: undefined,
      connectTimedOut: false,
      status: undefined,
      hsts: secure ? route?.hsts : undefined,
    };
    req[EXCHANGE] = x;
    // 'close' comes once; on() spares once()'s wrapper, and one listener for
    // all requests a closure per request.
    res.on('close', closeExchange);
    if (!host) {
      finish(res, x, 400, 'the request has no Host header');
      return;
    }
    if (repeatedHost(req.rawHeaders)) {
      finish(res, x, 400, 'the request has more than one Host header');
      return;
    }
    if (!statusPage && !route) {
      finish(res, x, 404, `no app is served at ${host}`);
      return;
    }

    stripHopByHop(req.headers);
    setForwarded(req, secure ? 'https' : 'http', secure ? o.ports.https : o.ports.http, id);
    if (statusPage) {
      proxy.web(
        req,
        res,
        { target: o.statusPage, buffer: requestBody(req, x) },
        (err: NodeJS.ErrnoException) =>
          // Part of a response out (an event stream) when the web service died: cut it, as for an app.
          res.headersSent
            ? cut(res, x, o.statusPage.host, err.code ?? 'error', o.log)
            : finish(res, x, 502, 'the status page is not running'),
      );
      return;
    }
    const limit = route?.maxBodySize ?? o.maxBodySize;
    if (limit > 0 && overLimit(req, res, x, limit)) return;
    const backend = route && pickBackend(route, started);
    if (!backend) {
      finish(
        res,
        x,
        503,
        `${x.app} has no running web instance: it is stopped, or its first release is still deploying`,
      );
      return;
    }
    attempt(req, res, x, backend);
  }

  function onCheckContinue(req: RoutedRequest, res: ServerResponse): void {
    const host = requestHost(req);
    const route = host === o.statusHost ? undefined : o.table.lookup(host);
    const limit = route?.maxBodySize ?? o.maxBodySize;
    if (
      (limit > 0 && Number(req.headers['content-length'] ?? 0) > limit) ||
      repeatedHost(req.rawHeaders)
    ) {
      // Refused before the client sends its body (RFC 9110 10.1.1): no
      // "100 Continue", and the connection closes after the 413 (or the
      // 400 of a repeated Host), since the body the request announced never comes.
      res.shouldKeepAlive = false;
      onRequest(req, res);
      return;
    }
    res.writeContinue();
    // Answered here: the backend need not answer it again, and http-proxy
    // skips its 'proxyReq' event (so the upstream timeouts) for a request
    // that still carries Expect.
    delete req.headers.expect;
    onRequest(req, res);
  }

  return {
    onRequest,
    onUpgrade,
    onCheckContinue,
    close() {
      stopIdleSweep();
      stopStallSweep();
      stopHostCheck();
      agent.destroy();
      proxy.close();
    },
  };
}
