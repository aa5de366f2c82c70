// The body limit, as nginx's client_max_body_size: an app's own
// (proxy:set APP max-body-size) or BERTH_MAX_BODY_SIZE. A Content-Length over
// it is refused before the backend is asked; a chunked body is counted as it
// streams.
import type { ServerResponse } from 'node:http';
import { formatSize } from '../services/core/validate.ts';
import { type Exchange, finish, type RoutedRequest } from './exchange.ts';

/**
 * After a 413 the rest of the body is read and dropped for at most this long
 * (nginx's lingering_timeout), so that a client still sending reads the 413
 * instead of a reset; then the connection is closed.
 */
const LINGER_MS = 5000;
/**
 * The body limit (nginx's client_max_body_size): a Content-Length over it
 * is refused at once; a chunked body is counted as it streams and refused
 * when it passes the limit, its backend request aborted (the backend never
 * gets a whole request), unless the backend has begun its answer, when the
 * client's connection is cut instead. True when refused already.
 */
export function overLimit(
  req: RoutedRequest,
  res: ServerResponse,
  x: Exchange,
  limit: number,
): boolean {
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
