// An app's webhooks and their newest deliveries, on the app page (a section)
// and in the JSON API (GET /api/v1/apps/:app/notifications): what
// notifications:list and notifications:deliveries print, with the same
// rights (anyone who may see the app; URLs' paths and secrets never shown).
// For those who may change the app (push, as notifications:add and :remove
// ask), the forms that add and remove webhooks, through the same functions;
// a new webhook's signing secret is shown once, on the page its POST answers.
import type { FastifyInstance } from 'fastify';
import { actorName } from '../core/actor.ts';
import { isBerthError } from '../core/errors.ts';
import { html, type Safe } from '../core/html.ts';
import { HOOK_FORMATS, NOTIFY_EVENTS, type Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp } from '../platform/apps/access.ts';
import { addWebhook, hookView } from '../platform/notify/hooks.ts';
import { appParams } from './api-schemas.ts';
import { errorNotice } from './app-controls.ts';
import { actorOf } from './auth.ts';
import { formField } from './forms.ts';
import { dataTable, statusWord, time } from './layout.ts';
import { attemptControl, type RenderAppPage } from './page-control.ts';

/** Deliveries the page and the API show, newest first. */
export const SHOWN_DELIVERIES = 20;

async function notificationsOf(store: Store, app: string) {
  const [hooks, deliveries] = await Promise.all([
    store.notifications.list(app),
    store.notifications.deliveries(app, SHOWN_DELIVERIES),
  ]);
  return { webhooks: hooks.map(hookView), deliveries };
}

const csrfField = (csrf: string): Safe => html`<input type="hidden" name="_csrf" value="${csrf}">`;

/** The form that adds a webhook (notifications:add): URL, type, events (none ticked: all). */
function addWebhookForm(app: string, csrf: string): Safe {
  const formats = HOOK_FORMATS.map((f) => html`<option value="${f}">${f}</option>`);
  const events = NOTIFY_EVENTS.map(
    (e) => html`<label class="check"><input type="checkbox" name="event-${e}"> ${e}</label> `,
  );
  return html`<form method="post" action="/apps/${app}/notifications" id="webhook-add">${csrfField(csrf)}<label>URL <input name="url" type="url" required maxlength="2048" autocomplete="off" spellcheck="false" placeholder="https://example.com/hooks/berth"></label> <label>Type <select name="format">${formats}</select></label>
<fieldset><legend>Events (none ticked: every one)</legend>${events}</fieldset>
<button type="submit">Add webhook</button></form>
<p><small>json: Berth's body, signed (X-Berth-Signature: sha256=HMAC-SHA256(secret, body)); slack and discord: their incoming webhooks' messages.</small></p>`;
}

/** A webhook's remove button (notifications:remove). */
function removeWebhookForm(app: string, id: string, csrf: string): Safe {
  return html`<form method="post" action="/apps/${app}/notifications/remove" class="inline">${csrfField(csrf)}<input type="hidden" name="id" value="${id}"><button type="submit" aria-label="Remove webhook ${id}">Remove</button></form>`;
}

/**
 * The app page's Notifications section; `csrf` for those who may change
 * the app (its add and remove forms), undefined for those who may only see it.
 */
export async function notificationsSection(
  store: Store,
  app: string,
  csrf?: string,
): Promise<Safe> {
  const { webhooks, deliveries } = await notificationsOf(store, app);
  const canChange = csrf !== undefined;
  const hooks =
    webhooks.length === 0
      ? html`<p>No webhooks.${canChange ? '' : html` Over SSH: <code>notifications:add ${app} URL</code>.`}</p>`
      : dataTable(
          [
            'id',
            'URL',
            'type',
            'events',
            ...(canChange ? [{ label: 'remove', hidden: true }] : []),
          ],
          webhooks.map((h) => [
            h.id,
            h.url,
            h.format,
            h.events.join(', '),
            ...(canChange ? [removeWebhookForm(app, h.id, csrf)] : []),
          ]),
          { id: 'webhooks-table', label: 'Webhooks' },
        );
  const rows = deliveries.map((d) => {
    const last = d.attempts.at(-1);
    return [
      time(last?.at),
      d.event,
      d.hook,
      statusWord(d.state),
      d.attempts.length,
      last?.error ?? (last?.code === undefined ? '' : String(last.code)),
    ];
  });
  return html`<section class="card" aria-labelledby="notifications"><h2 id="notifications">Notifications</h2>
${hooks}
${
  rows.length === 0
    ? ''
    : dataTable(
        ['when', 'event', 'webhook', 'state', { label: 'attempts', num: true }, 'last answer'],
        rows,
        { id: 'deliveries-table', label: 'Webhook deliveries' },
      )
}
${canChange ? addWebhookForm(app, csrf) : ''}
</section>`;
}

/**
 * The ticked events, as notifications:add --events takes them (none: all).
 * A box each (event-NAME=on): the form parser keeps one value per name.
 */
function eventsOf(body: unknown): string {
  const fields = (body ?? {}) as Record<string, unknown>;
  return NOTIFY_EVENTS.filter((e) => fields[`event-${e}`] === 'on').join(',');
}

/** The forms' POSTs: notifications:add and notifications:remove, with push. */
export function webhookRoutes(server: FastifyInstance, o: { store: Store; render: RenderAppPage }) {
  const { store } = o;
  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/notifications',
    { config: { auth: 'page' } },
    async (req, reply) => {
      const found = await authorizeApp(
        store,
        actorOf(req),
        validate.appName(req.params.app),
        'push',
      );
      try {
        const hook = await addWebhook(store, found.name, actorName(actorOf(req)), {
          url: formField(req.body, 'url').trim(),
          format: formField(req.body, 'format'),
          events: eventsOf(req.body),
        });
        const view = hookView(hook);
        // The secret, once: never in a URL, never kept by the browser.
        reply.header('referrer-policy', 'no-referrer');
        return o.render(
          req,
          reply,
          found,
          html`<section class="card" aria-labelledby="new-webhook" id="outcome" role="status"><h2 id="new-webhook">Webhook ${hook.id} added</h2>
<p>${view.url} (${hook.format}; ${view.events.join(', ')}). Copy its signing secret now: it is not shown again.</p>
<pre id="new-webhook-secret">${hook.secret}</pre></section>`,
        );
      } catch (e) {
        if (!isBerthError(e) || e.httpStatus >= 500) throw e;
        return o.render(
          req,
          reply.code(e.httpStatus),
          found,
          errorNotice('Could not add the webhook', e),
        );
      }
    },
  );
  server.post<{ Params: { app: string }; Body: unknown }>(
    '/apps/:app/notifications/remove',
    { config: { auth: 'page' } },
    async (req, reply) =>
      attemptControl(
        o.render,
        req,
        reply,
        'Could not remove the webhook',
        () => authorizeApp(store, actorOf(req), validate.appName(req.params.app), 'push'),
        async (found) => {
          await store.notifications.remove(found.name, formField(req.body, 'id'));
          return '?done=webhook-removed';
        },
      ),
  );
}

const attemptSchema = {
  type: 'object',
  required: ['at', 'ms'],
  properties: {
    at: { type: 'string', format: 'date-time' },
    code: { type: 'integer', description: "The receiver's HTTP status" },
    error: { type: 'string' },
    ms: { type: 'integer' },
  },
} as const;

const notificationsResponse = {
  type: 'object',
  required: ['app', 'webhooks', 'deliveries'],
  properties: {
    app: { type: 'string' },
    webhooks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'url', 'format', 'events'],
        properties: {
          id: { type: 'string' },
          url: { type: 'string', description: 'Scheme, host and port; the path hidden' },
          format: { type: 'string', enum: ['json', 'slack', 'discord'] },
          events: { type: 'array', items: { type: 'string' } },
          createdAt: { type: 'string', format: 'date-time' },
          by: { type: 'string' },
        },
      },
    },
    deliveries: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'hook', 'event', 'state', 'attempts'],
        properties: {
          id: { type: 'string' },
          hook: { type: 'string' },
          event: { type: 'string' },
          state: { type: 'string', enum: ['delivered', 'retrying', 'failed'] },
          attempts: { type: 'array', items: attemptSchema },
        },
      },
    },
  },
} as const;

export function notificationsApiRoutes(server: FastifyInstance, o: { store: Store }): void {
  server.get<{ Params: { app: string } }>(
    '/api/v1/apps/:app/notifications',
    {
      schema: { params: appParams, response: { 200: notificationsResponse } },
      config: {
        doc: {
          summary:
            "The app's webhooks and their newest deliveries (notifications:list, notifications:deliveries)",
          description: `Each webhook (its URL's path hidden: a Slack or Discord URL is a credential) and the newest ${SHOWN_DELIVERIES} deliveries with every attempt's answer.`,
        },
      },
    },
    async (req) => {
      const app = validate.appName(req.params.app);
      const found = await authorizeApp(o.store, actorOf(req), app, 'read');
      return { app: found.name, ...(await notificationsOf(o.store, found.name)) };
    },
  );
}
