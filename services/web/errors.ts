// How the web app answers failures: every error becomes the registry's code
// and HTTP status (services/core/errors.ts), as JSON under /api and as a page
// elsewhere, with what to do next. Anything unexpected is BERTH_E_INTERNAL
// with an id the log carries, so no stack trace reaches a browser.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { BerthError, isBerthError } from '../core/errors.ts';
import { html } from '../core/html.ts';
import { explainRedisFailure } from '../core/redis.ts';
import { isApiPath } from './auth.ts';
import { page } from './layout.ts';

/** The registry's error for anything thrown, and the HTTP status to answer with. */
function classify(e: unknown, req: FastifyRequest): { error: BerthError; status: number } {
  if (isBerthError(e)) return { error: e, status: e.httpStatus };
  // fastify's own refusals (bad JSON, unsupported media type, body too large) are the client's.
  const status = (e as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { error: new BerthError('BERTH_E_USAGE', { reason: (e as Error).message }), status };
  }
  const id = randomBytes(6).toString('hex');
  req.log.error({ err: e, id, url: req.url }, 'web request failed');
  const error = new BerthError('BERTH_E_INTERNAL', { id });
  return { error, status: error.httpStatus };
}

export function sendError(
  req: FastifyRequest,
  reply: FastifyReply,
  e: unknown,
  statusOverride?: number,
): FastifyReply {
  const { error, status } = classify(e, req);
  reply.code(statusOverride ?? status).header('cache-control', 'no-store');
  if (error.code === 'BERTH_E_UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer');
  if (isApiPath(req.url)) {
    return reply.send({
      error: {
        code: error.code,
        message: error.message,
        ...(error.hint ? { hint: error.hint } : {}),
      },
    });
  }
  const title = error.code === 'BERTH_E_UNAUTHENTICATED' ? 'Sign in to Berth' : 'Berth';
  const body = html`<h1>${title}</h1>
<p>${error.message[0]?.toUpperCase()}${error.message.slice(1)}.</p>
${error.hint ? html`<p>${error.hint[0]?.toUpperCase()}${error.hint.slice(1)}.</p>` : ''}
${
  error.code === 'BERTH_E_UNAUTHENTICATED' || error.code === 'BERTH_E_LOGIN_LINK_INVALID'
    ? html`<p>On your machine: <code>ssh -p PORT berth@HOST auth:login</code>, or as root on the server: <code>berth auth:login --user NAME</code>. Open the link it prints.</p>`
    : ''
}
<p><small>${error.code}</small></p>`;
  return reply.type('text/html; charset=utf-8').send(page(title, body));
}

/** `redis`: the store's client, so that a full disk under Redis is said as one (BERTH_E_DISK_FULL). */
export function installErrors(server: FastifyInstance, redis?: Redis): void {
  server.setErrorHandler((e, req, reply) => sendError(req, reply, explainRedisFailure(e, redis)));
  server.setNotFoundHandler((req, reply) =>
    sendError(
      req,
      reply,
      isApiPath(req.url)
        ? new BerthError('BERTH_E_API_NOT_FOUND', {
            method: req.method,
            path: req.url.split('?')[0] ?? '',
          })
        : new BerthError('BERTH_E_USAGE', { reason: `there is no page ${req.url.split('?')[0]}` }),
      404,
    ),
  );
}
