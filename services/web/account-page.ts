// The account page at /account: who you are, and your API tokens, as
// auth:tokens lists them, with the forms auth:token and auth:revoke are over
// SSH (the same functions, services/platform/accounts/api-tokens.ts). A
// token's secret is shown once, on the page its creation answers, never
// kept by a browser (no-store, no referrer), and never again. Only a signed-in
// browser may make a token here: a token that made tokens would outlive its
// own revocation.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { actorName } from '../core/actor.ts';
import { BerthError } from '../core/errors.ts';
import { html, type Safe } from '../core/html.ts';
import type { Store } from '../core/store/index.ts';
import { issueToken, listTokens, revokeToken } from '../platform/accounts/api-tokens.ts';
import { csrfOf } from './app-controls.ts';
import { actorOf } from './auth.ts';
import { formField } from './forms.ts';
import { dataTable, page, signedInHeader, time } from './layout.ts';
import { signOutForm } from './sign-in-routes.ts';

/** The lifetimes the form offers (validate.duration reads them, as auth:token --expires does). */
const LIFETIMES = ['1d', '7d', '30d', '90d', '365d'] as const;

const csrfField = (csrf: string): Safe => html`<input type="hidden" name="_csrf" value="${csrf}">`;

/** Making or revoking a token needs a signed-in browser (a session), not a token. */
function requireSession(req: FastifyRequest, action: string): void {
  if (req.auth?.via !== 'session') {
    throw new BerthError('BERTH_E_FORBIDDEN', {
      action,
      who: 'a signed-in browser (or auth:token over SSH), not an API token',
    });
  }
}

export function accountPageRoutes(server: FastifyInstance, o: { store: Store }) {
  const { store } = o;

  async function render(req: FastifyRequest, reply: FastifyReply, notice: Safe | string = '') {
    const actor = actorOf(req);
    const tokens = await listTokens(store, actor);
    const csrf = csrfOf(req);
    const session = req.auth?.via === 'session';
    const body = html`<div class="page-head"><h1>Account</h1><span class="lede">${actorName(actor)}</span></div>
${notice}
<section class="card" aria-labelledby="tokens"><h2 id="tokens">API tokens</h2>
<p>A token acts as you for scripts and monitors: <code>Authorization: Bearer TOKEN</code> on the JSON API (<a href="/api/v1/openapi.json">its description</a>). A read-only one may see, never change.</p>
${
  tokens.length === 0
    ? html`<p>No tokens.</p>`
    : dataTable(
        [
          'name',
          'id',
          'access',
          'expires',
          'last used',
          ...(session ? [{ label: 'revoke', hidden: true }] : []),
        ],
        tokens.map((t) => [
          t.name,
          html`<code>${t.id}</code>`,
          t.scope === 'read' ? 'read-only' : 'read and write',
          time(t.expiresAt),
          time(t.lastUsedAt ?? null),
          ...(session
            ? [
                html`<form method="post" action="/account/tokens/revoke" class="inline">${csrfField(csrf)}<input type="hidden" name="id" value="${t.id}"><button type="submit" class="danger" aria-label="Revoke ${t.name} (${t.id})">Revoke</button></form>`,
              ]
            : []),
        ]),
        { id: 'tokens-table', label: 'API tokens' },
      )
}
${
  session
    ? html`<form method="post" action="/account/tokens" id="token-create" class="actions">${csrfField(csrf)}<label>Name <input name="name" required maxlength="40" value="api" autocomplete="off" spellcheck="false"></label> <label>Expires in <select name="expires">${LIFETIMES.map((l) => html`<option${l === '30d' ? html` selected` : ''}>${l}</option>`)}</select></label> <label><input type="checkbox" name="readOnly" value="on"> read-only</label> <button type="submit" class="primary">Create token</button></form>`
    : html`<p><small>Tokens are made from a signed-in browser, or over SSH with <code>auth:token</code>.</small></p>`
}
</section>`;
    return reply
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(page('Account · Berth', body, signedInHeader(req, signOutForm, 'account')));
  }

  server.get('/account', { config: { auth: 'page' } }, (req, reply) => render(req, reply));

  // auth:token: the secret once, on this answer only.
  server.post<{ Body: unknown }>(
    '/account/tokens',
    { config: { auth: 'page' } },
    async (req, reply) => {
      requireSession(req, 'making an API token');
      const fields = req.body as Record<string, unknown> | undefined;
      const expires = formField(req.body, 'expires');
      const made = await issueToken(store, actorOf(req), {
        name: formField(req.body, 'name').trim(),
        expires,
        readOnly: fields?.readOnly === 'on',
      });
      req.log.info(
        { token: made.token.id, by: actorName(actorOf(req)) },
        'API token made on the web',
      );
      reply.header('referrer-policy', 'no-referrer');
      return render(
        req,
        reply,
        html`<section class="card" aria-labelledby="new-token" id="new-token-card"><h2 id="new-token">Your new token "${made.token.name}"</h2>
<p>Copy it now: Berth keeps only its hash and cannot show it again.</p>
<pre id="new-token-secret">${made.secret}</pre>
<p><small>It expires ${time(made.token.expiresAt)}; revoke it below when you no longer need it.</small></p></section>`,
      );
    },
  );

  // auth:revoke ID.
  server.post<{ Body: unknown }>(
    '/account/tokens/revoke',
    { config: { auth: 'page' } },
    async (req, reply) => {
      requireSession(req, 'revoking an API token');
      const id = formField(req.body, 'id');
      await revokeToken(store, actorOf(req), id);
      return render(
        req,
        reply,
        html`<p class="note" id="outcome">Token ${id} revoked: it no longer works.</p>`,
      );
    },
  );
}
