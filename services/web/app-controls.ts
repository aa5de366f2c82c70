// The app page's own controls (as a Heroku dashboard has them):
// a scale form per process type, a restart button, a form to set a config
// var and a remove button per key. Each is a plain form that POSTs with the
// session's CSRF token (control-routes.ts answers it), so the page needs no
// JavaScript. Only those who may change the app (push, the right ps:scale,
// ps:restart and config:set ask for) get them; no value is ever written
// into them. Also the one line at the top of the page saying how the last
// change went, from the query its POST redirected to, or the error it met.
import type { FastifyRequest } from 'fastify';
import type { BerthError } from '../core/errors.ts';
import { html, type Safe } from '../core/html.ts';
import type { Store } from '../core/store/index.ts';
import { MAX_INSTANCES } from '../platform/release/releases.ts';

/** The session's CSRF token for a form; a request with an API token needs none. */
export const csrfOf = (req: FastifyRequest): string =>
  req.auth?.via === 'session' ? req.auth.session.csrf : '';

const csrfField = (csrf: string): Safe => html`<input type="hidden" name="_csrf" value="${csrf}">`;

/** The scale form in a process type's row: a count, posted to /apps/APP/formation. */
export function scaleForm(app: string, type: string, count: number, csrf: string): Safe {
  return html`<form method="post" action="/apps/${app}/formation" class="inline">${csrfField(csrf)}<input type="hidden" name="type" value="${type}"><input type="number" name="count" value="${count}" min="0" max="${MAX_INSTANCES}" required aria-label="${type} instances"> <button type="submit">Scale</button></form>`;
}

/** The way to the restart's confirmation page (a GET: it changes nothing by itself). */
export function restartButton(app: string): Safe {
  return html`<form method="get" action="/apps/${app}/restart"><button type="submit">Restart</button> <small>every process, after a confirmation</small></form>`;
}

/** A key's remove button. */
export function removeKeyForm(app: string, key: string, csrf: string): Safe {
  return html`<form method="post" action="/apps/${app}/config/unset" class="inline">${csrfField(csrf)}<input type="hidden" name="key" value="${key}"><button type="submit" aria-label="Remove ${key}">Remove</button></form>`;
}

/**
 * The form that sets one config var. It is always empty, also when shown
 * again after an error: a value typed into it is never sent back in a page.
 * The value is a textarea so that values with newlines (a PEM key) can be set.
 */
export function setKeyForm(app: string, csrf: string): Safe {
  return html`<form method="post" action="/apps/${app}/config" id="config-set">${csrfField(csrf)}<label>Key <input name="key" required maxlength="255" pattern="[A-Za-z_][A-Za-z0-9_]*" autocomplete="off" spellcheck="false"></label> <label>Value <textarea name="value" rows="1" cols="40" autocomplete="off" spellcheck="false"></textarea></label> <button type="submit">Set</button></form>
<p><small>Setting a key that is set replaces its value. Each change is a new release, rolled out as a deploy when the app runs one.</small></p>`;
}

/** The form that adds a custom domain (domains:add), under the app's domains. */
export function addDomainForm(app: string, csrf: string): Safe {
  return html`<form method="post" action="/apps/${app}/domains" class="inline" id="domain-add">${csrfField(csrf)}<label>Domain <input name="domain" required maxlength="253" autocomplete="off" spellcheck="false" placeholder="www.example.com"></label> <button type="submit">Add</button></form>
<p><small>Point the domain's DNS at this server first; with Let's Encrypt on, its certificate follows.</small></p>`;
}

/** A custom domain's remove button (domains:remove). */
export function removeDomainForm(app: string, domain: string, csrf: string): Safe {
  return html`<form method="post" action="/apps/${app}/domains/remove" class="inline">${csrfField(csrf)}<input type="hidden" name="domain" value="${domain}"><button type="submit" aria-label="Remove ${domain}">Remove</button></form>`;
}

/** The form that lets a user push to the app (access:add), for its owner and admins. */
export function addCollaboratorForm(app: string, csrf: string): Safe {
  return html`<form method="post" action="/apps/${app}/collaborators" class="inline" id="collaborator-add">${csrfField(csrf)}<label>User <input name="user" required maxlength="32" autocomplete="off" spellcheck="false"></label> <button type="submit">Add collaborator</button></form>`;
}

/** A collaborator's remove button (access:remove). */
export function removeCollaboratorForm(app: string, user: string, csrf: string): Safe {
  return html`<form method="post" action="/apps/${app}/collaborators/remove" class="inline">${csrfField(csrf)}<input type="hidden" name="user" value="${user}"><button type="submit" aria-label="Remove ${user}">Remove</button></form>`;
}

const VERSION = /^[1-9][0-9]{0,8}$/;

/** How the page words a release's status. */
function statusText(status: string, error: string | null | undefined): Safe {
  if (status === 'succeeded') return html`is live`;
  if (status === 'pending') return html`is rolling out (reload to follow it)`;
  return html`${status}${error ? html` (${error})` : ''}`;
}

/** Fixed words for a config change that made no release: nothing from the URL reaches the page. */
const CONFIG_OUTCOMES = new Map([
  ['recorded', 'Config changed; the app is not deployed yet, so its first deploy uses it.'],
  ['unchanged', 'Nothing changed: that key was not set.'],
]);

/** Fixed words for the domain and collaborator controls (?done=...). */
const DONE_OUTCOMES = new Map([
  ['app-created', 'App created: add the git remote below and push to deploy it.'],
  ['domain-added', 'Domain added: the router serves the app at it now.'],
  ['domain-kept', 'Nothing changed: the app had that domain already.'],
  ['domain-removed', 'Domain removed: the router no longer serves the app at it.'],
  ['collaborator-added', 'Collaborator added: they may push to the app and run its commands.'],
  ['collaborator-kept', 'Nothing changed: they could push to the app already.'],
  ['collaborator-removed', 'Collaborator removed.'],
  [
    'rebuild-waiting',
    'Redeploy asked for: it waits for the build running now, then builds; see Builds below.',
  ],
  ['rebuild-ended', 'Redeploy done: see Builds below.'],
  [
    'letsencrypt-on',
    "Let's Encrypt is on: every host of the app has its certificate, renewed by itself.",
  ],
  [
    'letsencrypt-partial',
    "Let's Encrypt is on, but some hosts got no certificate: the Domains table says why; they are tried again later.",
  ],
  ['letsencrypt-off', "Let's Encrypt is off: the app's ACME certificates are removed."],
  ['letsencrypt-none', 'Nothing changed: the app had no ACME certificate.'],
  ['webhook-removed', 'Webhook removed; deliveries waiting for it are dropped.'],
  [
    'backup-started',
    'Backup started: it runs on while you use the page; reload to see it under Last backup.',
  ],
  [
    'backup-running',
    'A backup of that service is running already: reload to see it under Last backup.',
  ],
]);

export interface OutcomeQuery {
  rolledBack?: string;
  changed?: string;
  restarted?: string;
  config?: string;
  done?: string;
}

/**
 * The line saying how the change a form made went, from the query its POST
 * redirected to: ?rolledBack=N or ?changed=N (the release it made, with its
 * status now), ?restarted=N, ?config=recorded|unchanged. Only versions and
 * fixed words are read from the URL, so a link cannot make the page say
 * anything else.
 */
export async function outcomeOf(store: Store, app: string, q: OutcomeQuery): Promise<Safe> {
  const note = (text: Safe | string) => html`<p class="note" id="outcome">${text}</p>`;
  const version = q.changed ?? q.rolledBack;
  if (typeof version === 'string' && VERSION.test(version)) {
    const r = await store.releases.get(app, Number(version));
    if (r) return note(html`${r.description}: v${r.version} ${statusText(r.status, r.error)}.`);
  }
  if (typeof q.restarted === 'string' && VERSION.test(q.restarted)) {
    const r = await store.releases.get(app, Number(q.restarted));
    if (r) return note(`Restarted every process of v${r.version}: new instances serve.`);
  }
  const words =
    (typeof q.config === 'string' ? CONFIG_OUTCOMES.get(q.config) : undefined) ??
    (typeof q.done === 'string' ? DONE_OUTCOMES.get(q.done) : undefined);
  return words ? note(words) : html``;
}

/** The line for a control's POST that met an error: what was tried, and the registry's line. */
export function errorNotice(tried: string, e: BerthError): Safe {
  return html`<p class="error" id="outcome" role="alert">${tried}: ${e.toLine()}</p>`;
}
