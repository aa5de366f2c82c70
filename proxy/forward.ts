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
//   - a backend that refuses a connection is skipped for a while (passive
//     health) and the request goes to another instance when it has no body
//     (nothing was sent, so nothing can run twice);
//   - a pooled keep-alive socket the backend closed just as it was reused
//     fails with ECONNRESET: that request is sent again on a fresh socket;
//   - a backend that stops answering gets a 504 after the upstream timeout;
//     one that drops the connection mid-response cuts the client's response
//     too (the status line is already out), so the client sees it failed.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Stream } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import httpProxy from 'http-proxy';
import type { Logger } from '../services/core/log.ts';
import { formatSize } from '../services/core/validate.ts';
import { type ErrorStatus, refuseOnSocket, sendError } from './error-pages.ts';
import {
  originForm,
  requestHost,
  requestId,
  responseHeaders,
  setForwarded,
  stripHopByHop,
} from './headers.ts';
import { CLIENT_ABORTED, type Metrics } from './metrics.ts';
import { type Backend, markFailed, pickBackend, type RouteTable } from './route-table.ts';
import { closeIdleSockets, timeOutStalledSockets, UPSTREAM_TIMEOUT } from './socket-sweeps.ts';

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
/**
 * After a 413 the rest of the body is read and dropped for at most this long
 * (nginx's lingering_timeout), so that a client still sending reads the 413
 * instead of a reset; then the connection is closed.
 */
const LINGER_MS = 5000;
/** Attempts per request: the first plus retries to other instances. */
const MAX_ATTEMPTS = 3;
/** Name the status page's requests are counted under. */
export const STATUS_PAGE_APP = '-';

export interface RouterOptions {
  table: RouteTable;
  /** BERTH_DOMAIN: its bare name serves the status page. */
  domain: string;
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

/** What the router tracks for one request across its attempts. */
interface Exchange {
  readonly id: string;
  readonly app: string;
  readonly started: number;
  /** Whether the request may be sent again: it has no body. */
  readonly retriable: boolean;
  attempts: number;
  backend: Backend | undefined;
  proxyReq: http.ClientRequest | undefined;
  /** The attempt's connection was not made within CONNECT_TIMEOUT_MS. */
  connectTimedOut: boolean;
  /** Set when the router ends the exchange itself (an error page, a cut response). */
  status: number | undefined;
  /** Strict-Transport-Security for the response (an HTTPS request to an app with certs:set hsts on). */
  hsts: string | undefined;
}

const EXCHANGE = Symbol('berth.exchange');
type RoutedRequest = IncomingMessage & { [EXCHANGE]?: Exchange };

/** Connection errors after which nothing reached the backend's application. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);

/**
 * http-proxy's `buffer` option: what it pipes into the backend request
 * right after making it, in place of the client's request (http-proxy only
 * calls its pipe()). The router's own first
 *   - sets the request-target as the client sent it, as nginx's proxy_pass
 *     without a URI does (http-proxy's own path merges repeated slashes,
 *     '/a//b' → '/a/b'; the router has it build none: ignorePath);
 *   - keeps the backend request for the exchange (aborts, limits);
 * then ends a request that has no body at once: no stream pipe set up and
 * taken down for nothing (the server reads the empty request itself), and
 * a retry sends the same nothing again.
 */
class RequestBody {
  constructor(
    private readonly req: RoutedRequest,
    private readonly x: Exchange,
  ) {}

  pipe(proxyReq: http.ClientRequest): http.ClientRequest {
    this.x.proxyReq = proxyReq;
    proxyReq.path = originForm(this.req.url);
    if (this.x.retriable) proxyReq.end();
    else this.req.pipe(proxyReq);
    return proxyReq;
  }
}

function requestBody(req: RoutedRequest, x: Exchange): Stream {
  return new RequestBody(req, x) as unknown as Stream;
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
      if (!proxyRes.complete) cut(res, x, from, 'closed');
    });
  });
  // Errors all come to the per-request callback; this keeps an unexpected
  // one from taking the process down.
  proxy.on('error', (err) => o.log.warn({ err }, 'proxy error outside a request'));

  // Websockets. http-proxy only end()s one side when the other closes, and
  // keeps the backend request when the client leaves before the 101: a peer
  // that never answers the FIN (or a client gone mid-handshake) would hold
  // both sockets, and their fds, for good.
  const upgraded = new WeakSet<Socket>();
  proxy.on('proxyReqWs', (proxyReq, req, client) => {
    // As for requests (requestBody); emitted before http-proxy's end() of it.
    // A backend that does not answer the upgrade gets the upstream timeout,
    // as a request does (socket-sweeps.ts: the socket is the agent's until the 101).
    proxyReq.path = originForm(req.url);
    // Until the 101 nothing reads the client's socket (Node.js hands it
    // over paused), so a client that leaves would go unnoticed until the
    // upstream timeout. It is read here, and what it sends (the start of the
    // app's protocol, if it does not wait) is put back for http-proxy's pipe.
    const early: Buffer[] = [];
    const keep = (chunk: Buffer) => early.push(chunk);
    const gone = () => proxyReq.destroy();
    const stopWatching = () => {
      client.off('data', keep);
      client.off('end', gone);
      client.off('close', gone);
    };
    client.on('data', keep);
    client.once('end', gone);
    client.once('close', gone);
    proxyReq.once('response', () => {
      // Not upgraded: http-proxy pipes the answer to the client and ends the
      // connection. What the client still sends is read and dropped, so its
      // FIN is seen and the connection closes.
      stopWatching();
      client.resume();
    });
    proxyReq.once('upgrade', (_res, backendSocket: Socket) => {
      stopWatching();
      client.pause();
      if (early.length > 0) client.unshift(Buffer.concat(early));
      upgraded.add(client);
      if (client.destroyed) backendSocket.destroy();
      client.once('close', () => backendSocket.destroy());
      // What the backend sent is flushed to the client first.
      backendSocket.once('close', () => client.destroySoon());
    });
  });

  function finish(res: ServerResponse, x: Exchange, status: ErrorStatus, reason: string): void {
    x.status = status;
    sendError(res, status, reason, x.id);
  }

  /**
   * Part of the response is out and the backend is gone: cut the client's
   * connection so it cannot take a truncated body for a whole one.
   */
  function cut(res: ServerResponse, x: Exchange, from: string, code: string): void {
    // Finished, or the client left first (its 'close' counted it as aborted).
    if (x.status !== undefined || res.writableFinished || res.destroyed) return;
    x.status = 502;
    o.log.warn({ app: x.app, backend: from, code, id: x.id }, 'backend dropped a response');
    res.destroy();
  }

  function attempt(req: RoutedRequest, res: ServerResponse, x: Exchange, backend: Backend) {
    x.attempts++;
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
      cut(res, x, backend.address, code);
      return;
    }
    const stalePooled = code === 'ECONNRESET' && x.proxyReq?.reusedSocket === true;
    const now = performance.now();
    if (!stalePooled) markFailed(backend, now);
    const route = o.table.lookup(requestHost(req));
    if (
      x.retriable &&
      x.attempts < MAX_ATTEMPTS &&
      route &&
      (stalePooled || NOT_CONNECTED.has(code) || code === 'ECONNRESET')
    ) {
      const next = stalePooled ? backend : pickBackend(route, now);
      if (next && (stalePooled || next.failedUntil <= now)) {
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
   * The body limit (nginx's client_max_body_size): a Content-Length over it
   * is refused at once; a chunked body is counted as it streams and refused
   * when it passes the limit, its backend request aborted (the backend never
   * gets a whole request), unless the backend has begun its answer, when the
   * client's connection is cut instead. True when refused already.
   */
  function overLimit(req: RoutedRequest, res: ServerResponse, x: Exchange, limit: number): boolean {
    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      if (Number(declared) <= limit) return false;
      tooLarge(req, res, x, limit);
      return true;
    }
    if (req.headers['transfer-encoding'] === undefined) return false;
    let seen = 0;
    const count = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen <= limit) return;
      req.off('data', count);
      if (res.headersSent) {
        x.status = 413;
        res.destroy();
      } else tooLarge(req, res, x, limit);
      x.proxyReq?.destroy();
    };
    // Beside http-proxy's pipe, which attaches in this same tick: both see every chunk.
    req.on('data', count);
    return false;
  }

  function tooLarge(req: RoutedRequest, res: ServerResponse, x: Exchange, limit: number): void {
    finish(
      res,
      x,
      413,
      `the request body is larger than ${formatSize(limit)}, the limit for ${x.app}`,
    );
    if (req.complete) return;
    req.unpipe();
    req.resume();
    const linger = setTimeout(() => req.socket.destroy(), LINGER_MS);
    linger.unref();
    req.once('end', () => clearTimeout(linger));
    req.socket.once('close', () => clearTimeout(linger));
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
    const status = x.status ?? (finished ? this.statusCode : CLIENT_ABORTED);
    o.metrics.record(x.app, status, performance.now() - x.started);
  }

  function onRequest(req: RoutedRequest, res: ServerResponse): void {
    const started = performance.now();
    const host = requestHost(req);
    const id = requestId(req.headers['x-request-id']);
    const statusPage = host === o.domain;
    const route = statusPage ? undefined : o.table.lookup(host);
    const secure = (req.socket as TLSSocket).encrypted === true;
    const x: Exchange = {
      id,
      app: statusPage ? STATUS_PAGE_APP : (route?.app ?? ''),
      started,
      retriable: req.headers['content-length'] === undefined && !req.headers['transfer-encoding'],
      attempts: 0,
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
            ? cut(res, x, o.statusPage.host, err.code ?? 'error')
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

  function onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const host = requestHost(req);
    const route = host === o.domain ? undefined : o.table.lookup(host);
    const backend = route && pickBackend(route, performance.now());
    socket.on('error', () => socket.destroy());
    if (!backend) {
      refuseOnSocket(socket, route ? '503 Service Unavailable' : '404 Not Found');
      return;
    }
    const id = requestId(req.headers['x-request-id']);
    stripHopByHop(req.headers, true);
    const secure = (req.socket as TLSSocket).encrypted === true;
    setForwarded(req, secure ? 'https' : 'http', secure ? o.ports.https : o.ports.http, id);
    proxy.ws(req, socket, head, { target: backend.target }, (err: NodeJS.ErrnoException) => {
      // After the 101 the connection carries the app's protocol, not HTTP:
      // an error there (the backend reset) just ends it.
      if (upgraded.has(socket)) return void socket.destroy();
      if (NOT_CONNECTED.has(err.code ?? '')) markFailed(backend, performance.now());
      refuseOnSocket(socket, '502 Bad Gateway');
    });
  }

  function onCheckContinue(req: RoutedRequest, res: ServerResponse): void {
    const host = requestHost(req);
    const route = host === o.domain ? undefined : o.table.lookup(host);
    const limit = route?.maxBodySize ?? o.maxBodySize;
    if (limit > 0 && Number(req.headers['content-length'] ?? 0) > limit) {
      // Refused before the client sends its body (RFC 9110 10.1.1): no
      // "100 Continue", and the connection closes after the 413, since the
      // body the request announced never comes.
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
      agent.destroy();
      proxy.close();
    },
  };
}
