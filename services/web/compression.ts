// Compressed answers for clients that ask (Accept-Encoding), as nginx's
// `gzip on` and Heroku's and most dashboards' servers give them: the pages are
// plain HTML with inline SVG charts, which shrink to a tenth or less (the
// apps page with 200 apps was 108 KB as sent, an app page with three hours
// of charts 264 KB; `npm run bench web` measures them), and issue 22 asks
// for each page under 100 KB transferred.
//
// Only whole bodies of text types are compressed (pages, the stylesheet, the
// script, JSON): streams (Server-Sent Events, written to the socket as they
// come) and small bodies go as they are. Brotli at a low quality when the
// client takes it (fast enough for answers made per request), else gzip.
// Pages carry the session's CSRF token; a BREACH-style guess at it needs a
// page that echoes what the attacker puts in the request, and none does
// (outcome notes map query values to fixed texts, app-controls.ts outcomeOf):
// keep it so.
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import type { FastifyInstance } from 'fastify';

const brotli = promisify(brotliCompress);
const gzipped = promisify(gzip);

const COMPRESSIBLE = /^(?:text\/(?:html|css|javascript|plain)|application\/(?:json|javascript))\b/;
/** Below this, the headers cost more than compression saves (nginx's gzip_min_length is 20; this is Cloudflare's order). */
const MIN_BYTES = 1024;
/**
 * Brotli's quality for answers made per request: 4 takes some 2 ms for 100 KB
 * of HTML on a busy 2-core machine (5: 5 ms, 11: 390 ms) and still makes it
 * a fifth of gzip's size.
 */
const BROTLI_QUALITY = 4;

/** The encoding to use for a request's Accept-Encoding header (RFC 9110 12.5.3), or undefined. */
export function chooseEncoding(header: string | undefined): 'br' | 'gzip' | undefined {
  const accepted = new Map<string, number>();
  for (const part of (header ?? '').split(',')) {
    const [token = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    if (token !== '') accepted.set(token, Number.isFinite(weight) ? weight : 0);
  }
  const weight = (coding: string) => accepted.get(coding) ?? accepted.get('*') ?? 0;
  if (weight('br') > 0 && weight('br') >= weight('gzip')) return 'br';
  if (weight('gzip') > 0) return 'gzip';
  return undefined;
}

export function installCompression(server: FastifyInstance): void {
  server.addHook('onSend', async (req, reply, payload) => {
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
    if (reply.hasHeader('content-encoding')) return payload;
    if (!COMPRESSIBLE.test(String(reply.getHeader('content-type') ?? ''))) return payload;
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (body.length < MIN_BYTES) return payload;
    // Caches (a proxy, the browser's) keep one copy per encoding.
    const vary = String(reply.getHeader('vary') ?? '');
    if (!/\baccept-encoding\b/i.test(vary)) {
      reply.header('vary', vary === '' ? 'accept-encoding' : `${vary}, accept-encoding`);
    }
    const encoding = chooseEncoding(req.headers['accept-encoding']);
    if (encoding === undefined) return payload;
    const compressed =
      encoding === 'br'
        ? await brotli(body, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
              [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
              [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
            },
          })
        : await gzipped(body);
    reply.header('content-encoding', encoding);
    reply.removeHeader('content-length');
    return compressed;
  });
}
