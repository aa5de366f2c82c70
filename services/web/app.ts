// The web status page and JSON API (issue 7 grows it). build() makes the
// fastify instance without listening, so tests use inject() or port 0.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from '../core/log.ts';
import { VERSION } from '../core/version.ts';

export interface WebOptions {
  redis: Redis;
  log: Logger;
}

export function build(o: WebOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: o.log as FastifyBaseLogger,
    // One line per request would drown the platform's own log; the router keeps access metrics.
    logController: new LogController({ disableRequestLogging: true }),
  });

  // Liveness and readiness for operators and the supervisor: 200 only when
  // the state store answers.
  app.get('/healthz', async (_req, reply) => {
    const redis = await o.redis
      .ping()
      .then(() => 'ok')
      .catch((e: Error) => e.message);
    const ok = redis === 'ok';
    return reply
      .code(ok ? 200 : 503)
      .send({ status: ok ? 'ok' : 'unavailable', version: VERSION, redis });
  });

  return app;
}
