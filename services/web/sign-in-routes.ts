// The browser side of signing in: the one-time link auth:login
// prints, and signing out.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError } from '../core/errors.ts';
import { html } from '../core/html.ts';
import type { Store } from '../core/store/index.ts';
import { endSession, linkUser, startSession } from '../platform/accounts/sign-in.ts';
import { cookieValues, sessionCookie, sessionCookieName } from './auth.ts';
import { page } from './layout.ts';

/**
 * The link must not linger in caches or leak to another site in a Referer
 * header. same-origin rather than no-referrer: under no-referrer a browser
 * sends "Origin: null" with the button's POST (Fetch, "serializing a request
 * origin"), and that POST must show where it came from.
 */
const noStore = (reply: FastifyReply) =>
  reply.header('cache-control', 'no-store').header('referrer-policy', 'same-origin');

/**
 * Refuses a sign-in that another site's page made the browser send: else any
 * page (an app's on the same site too) could post its owner's own link from
 * a visitor's browser and sign the visitor in as the attacker (login CSRF).
 * Browsers say where a request comes from in Sec-Fetch-Site; those without
 * it send Origin with every POST. A client that sends neither (curl, a
 * script) is not a browser someone else's page drives.
 */
function refuseCrossSite(req: FastifyRequest): void {
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  const crossSite =
    typeof site === 'string'
      ? site !== 'same-origin' && site !== 'none'
      : origin !== undefined && origin !== `${req.protocol}://${req.host}`;
  if (crossSite) throw new BerthError('BERTH_E_CSRF');
}

export function signInRoutes(server: FastifyInstance, o: { store: Store; sessionTtlMs?: number }) {
  // Opening the link shows a button; only pressing it (a POST) uses the link
  // up. Links travel by mail and chat, whose scanners and previews fetch them
  // (GET, HEAD) before the user does: a GET that used the link up would
  // leave the user a dead one (issue 16). So the GET changes nothing.
  server.get<{ Params: { token: string } }>(
    '/auth/login/:token',
    { config: { auth: 'public' } },
    async (req, reply) => {
      noStore(reply);
      const user = await linkUser(o.store, req.params.token);
      return reply.type('text/html; charset=utf-8').send(
        page(
          'Sign in to Berth',
          html`<h1>Sign in to Berth</h1>
<p>This link signs this browser in as <strong>${user}</strong>. It works once.</p>
<form method="post" action="/auth/login/${req.params.token}"><button type="submit" id="sign-in">Sign in as ${user}</button></form>`,
        ),
      );
    },
  );

  // The button's POST: uses the link up (store/sign-ins.ts: of two at once,
  // one wins) and starts the session.
  server.post<{ Params: { token: string } }>(
    '/auth/login/:token',
    { config: { auth: 'public' } },
    async (req, reply) => {
      noStore(reply);
      refuseCrossSite(req);
      const started = await startSession(
        o.store,
        req.params.token,
        o.sessionTtlMs === undefined ? {} : { ttlMs: o.sessionTtlMs },
      );
      // A browser that was signed in already leaves its old session behind:
      // end it (each of them, should an app have planted another beside it).
      for (const previous of cookieValues(req.headers.cookie, sessionCookieName(req))) {
        await endSession(o.store, previous);
      }
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
