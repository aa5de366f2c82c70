// The web app's one stylesheet (assets/berth.css), read once at start and
// served under a name carrying its content hash: a browser keeps it for a
// year and asks again only when Berth ships a changed one.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { shipped } from '../core/runtime.ts';

const CSS = readFileSync(shipped('services/web/assets/berth.css'));
const HASH = createHash('sha256').update(CSS).digest('hex').slice(0, 12);

/** Where pages link the stylesheet. */
export const STYLESHEET_HREF = `/assets/berth.${HASH}.css`;

export function assetRoutes(server: FastifyInstance): void {
  server.get(STYLESHEET_HREF, { config: { auth: 'public' } }, async (_req, reply) =>
    reply
      .header('cache-control', 'public, max-age=31536000, immutable')
      .type('text/css; charset=utf-8')
      .send(CSS),
  );
}
