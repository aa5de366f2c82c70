// Plain HTTP to a host that has a certificate of its own goes to HTTPS: a
// 308 (RFC 9110 15.4.9: the method and body are kept, unlike 301/302) to the
// same host and path on BERTH_HTTPS_PORT, unless the app switched it off
// (certs:set APP redirect off). Hosts on the fallback certificate are served
// over HTTP as they are: sending a browser to a certificate it must refuse
// would be worse. ACME's HTTP-01 challenges are never redirected. The status
// page's host (BERTH_STATUS_HOST, else the bare BERTH_DOMAIN) is redirected once it has a certificate of
// its own (certs:add --platform, letsencrypt:enable --platform): its session
// cookie is Secure only under HTTPS, and it has no switch to turn that off.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { ACME_CHALLENGE_PREFIX } from './acme-challenge.ts';
import { repeatedHost, requestHost } from './headers.ts';
import { type Metrics, STATUS_PAGE_APP } from './metrics.ts';
import type { RouteTable } from './route-table.ts';

export interface HttpsRedirectOptions {
  table: RouteTable;
  /** The status page's host (BERTH_STATUS_HOST, else the bare BERTH_DOMAIN). */
  statusHost: string;
  /** Whether the router serves a certificate of the host's own (proxy/certificates.ts). */
  certs: { has(host: string): boolean | Promise<boolean> };
  httpsPort: number;
  metrics: Metrics;
  /** Where every request that is not redirected goes. */
  next: RequestListener;
}

/** The path and query of a request-target, for origin-form ("/a?b") and absolute-form ("http://h/a?b"). */
function pathOf(target: string | undefined): string {
  if (target === undefined || target === '') return '/';
  if (target.startsWith('/')) return target;
  try {
    const url = new URL(target);
    return `${url.pathname}${url.search}`;
  } catch {
    return '/';
  }
}

/** The plain HTTP listener's request handler. */
export function redirectToHttps(o: HttpsRedirectOptions): RequestListener {
  const port = o.httpsPort === 443 ? '' : `:${o.httpsPort}`;

  function redirect(req: IncomingMessage, res: ServerResponse, host: string, app: string) {
    const started = performance.now();
    // `host` is one the route table knows or BERTH_DOMAIN (canonical), never
    // the client's spelling: a Host header cannot make this an open redirect.
    res.writeHead(308, {
      location: `https://${host}${port}${pathOf(req.url)}`,
      'content-length': 0,
      'cache-control': 'no-store',
    });
    res.end();
    o.metrics.record(app, 308, performance.now() - started);
  }

  return (req, res) => {
    const host = requestHost(req);
    // The app whose host it is, when that app wants the redirect; the status
    // page always does (it is no app, so it has no route).
    let app: string | undefined;
    if (host === o.statusHost) app = STATUS_PAGE_APP;
    else if (host !== '') {
      const route = o.table.lookup(host);
      if (route?.httpsRedirect) app = route.app;
    }
    if (
      app === undefined ||
      pathOf(req.url).startsWith(ACME_CHALLENGE_PREFIX) ||
      // Refused there (400), not redirected.
      repeatedHost(req.rawHeaders)
    ) {
      o.next(req, res);
      return;
    }
    const to = app;
    const has = o.certs.has(host);
    if (has === true) redirect(req, res, host, to);
    else if (has === false) o.next(req, res);
    else
      void has.then((yes) => {
        if (res.destroyed) return;
        if (yes) redirect(req, res, host, to);
        else o.next(req, res);
      });
  };
}
