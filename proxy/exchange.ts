// One request's passage through the router (an exchange, as kamal-proxy and
// Heroku's router call it): what the router tracks across its attempts, the
// request body handed to each attempt, and the two ways the router ends an
// exchange itself: an error page before the answer started, a cut after.
import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Stream } from 'node:stream';
import type { Logger } from '../services/core/log.ts';
import { type ErrorStatus, sendError } from './error-pages.ts';
import { originForm } from './headers.ts';
import type { Backend } from './route-table.ts';

/** What the router tracks for one request across its attempts. */
export interface Exchange {
  readonly id: string;
  readonly app: string;
  readonly started: number;
  /** Whether the request may be sent again: it has no body. */
  readonly retriable: boolean;
  /** GET, HEAD or OPTIONS: sent again even when it may have reached the backend. */
  readonly idempotent: boolean;
  attempts: number;
  /**
   * An attempt already went again to the same backend after a pooled socket
   * it had closed: a second such reset counts against the backend (its other
   * pooled sockets may be dead too: it was killed), and the next goes elsewhere.
   */
  staleRetried: boolean;
  backend: Backend | undefined;
  proxyReq: http.ClientRequest | undefined;
  /** The attempt's connection was not made within CONNECT_TIMEOUT_MS. */
  connectTimedOut: boolean;
  /** Set when the router ends the exchange itself (an error page, a cut response). */
  status: number | undefined;
  /** Strict-Transport-Security for the response (an HTTPS request to an app with certs:set hsts on). */
  hsts: string | undefined;
}

export const EXCHANGE = Symbol('berth.exchange');
export type RoutedRequest = IncomingMessage & { [EXCHANGE]?: Exchange };

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

export function requestBody(req: RoutedRequest, x: Exchange): Stream {
  return new RequestBody(req, x) as unknown as Stream;
}

/** Connection errors after which nothing reached the backend's application. */
export const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);

/**
 * Connection errors that say the backend's host is unreachable (ETIMEDOUT:
 * the router's connect timeout), not just its process: connections already
 * open to it will get no answer either.
 */
export const HOST_GONE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);

/**
 * Methods a client may expect to be sent twice (RFC 9110 9.2.2), the safe
 * ones: Berth resends no PUT or DELETE, since apps do not always make those
 * idempotent.
 */
export const IDEMPOTENT: ReadonlySet<string | undefined> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Ends the exchange with the router's own error page. */
export function finish(
  res: ServerResponse,
  x: Exchange,
  status: ErrorStatus,
  reason: string,
): void {
  x.status = status;
  sendError(res, status, reason, x.id);
}

/**
 * Part of the response is out and the backend is gone: cut the client's
 * connection so it cannot take a truncated body for a whole one.
 */
export function cut(
  res: ServerResponse,
  x: Exchange,
  from: string,
  code: string,
  log: Logger,
): void {
  // Finished, or the client left first (its 'close' counted it as aborted).
  if (x.status !== undefined || res.writableFinished || res.destroyed) return;
  x.status = 502;
  log.warn({ app: x.app, backend: from, code, id: x.id }, 'backend dropped a response');
  res.destroy();
}
