// The browser side of signing in: the one-time link auth:login
// prints, and signing out.
import type { FastifyInstance } from 'fastify';
import { html } from '../core/html.ts';
import type { Store } from '../core/store/index.ts';
import { endSession, SESSION_COOKIE, startSession } from '../platform/accounts/sign-in.ts';
import { cookieValue, sessionCookie } from './auth.ts';
import { page } from './layout.ts';

export function signInRoutes(server: FastifyInstance, o: { store: Store; sessionTtlMs?: number }) {
  // A GET, so that pasting the link into a browser is all it takes. The link
  // is used up by the first request that reaches here (store/sign-ins.ts).
  server.get<{ Params: { token: string } }>(
    '/auth/login/:token',
    { config: { auth: 'public' } },
    async (req, reply) => {
      // The link must not linger in caches or leak in a Referer header.
      reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
      const started = await startSession(
        o.store,
        req.params.token,
        o.sessionTtlMs === undefined ? {} : { ttlMs: o.sessionTtlMs },
      );
      // A browser that was signed in already leaves its old session behind: end it.
      const previous = cookieValue(req.headers.cookie, SESSION_COOKIE);
      if (previous !== undefined) await endSession(o.store, previous);
      return reply
        .header('set-cookie', sessionCookie(req, started.cookie, started.maxAgeMs))
        .redirect('/', 303);
    },
  );

  // The auth hook has checked the session and its CSRF token by now.
  server.post('/auth/logout', { config: { auth: 'page' } }, async (req, reply) => {
    if (req.auth?.via === 'session') await endSession(o.store, req.auth.cookie);
    return reply
      .header('set-cookie', sessionCookie(req, '', 0))
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(
        page(
          'Signed out',
          html`<h1>Signed out</h1><p>Your session has ended on the server. Run <code>auth:login</code> again to sign in.</p>`,
        ),
      );
  });
}

/** The sign-out button, with the session's CSRF token, for every signed-in page. */
export function signOutForm(csrf: string) {
  return html`<form method="post" action="/auth/logout"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit">Sign out</button></form>`;
}
