// ACME HTTP-01 answers: the CA fetches http://<domain>/.well-known/acme-challenge/<token>
// from whichever router process its connection lands on, so the answer comes
// from Redis (services/platform/certs/acme.ts puts it there), never from a process's memory.
import type http from 'node:http';
import type { Redis } from 'ioredis';
import type { KeyLayout } from '../services/core/store/keys.ts';
import * as validate from '../services/core/validate.ts';

/** Where the CA asks (RFC 8555 §8.3); never redirected to HTTPS (https-redirect.ts). */
export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/** Whether the request is for a challenge path (any host: the CA asks by the domain's name). */
export const isChallenge = (req: http.IncomingMessage) =>
  (req.method === 'GET' || req.method === 'HEAD') &&
  (req.url ?? '').startsWith(ACME_CHALLENGE_PREFIX);

/** Answers a challenge request: the key authorization, or 404 for a token nobody waits on. */
export async function answerChallenge(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  redis: Redis,
  keys: KeyLayout,
): Promise<void> {
  const token = (req.url ?? '').slice(ACME_CHALLENGE_PREFIX.length).split('?')[0] ?? '';
  let answer: string | null = null;
  try {
    answer = await redis.get(keys.acmeChallenge(validate.acmeToken(token)));
  } catch {
    // Not a token (or Redis is down): nobody can be waiting on it here.
  }
  const body = answer ?? 'no such ACME challenge\n';
  res.writeHead(answer === null ? 404 : 200, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
