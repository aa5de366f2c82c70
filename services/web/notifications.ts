// An app's webhooks and their newest deliveries, on the app page (a section)
// and in the JSON API (GET /api/v1/apps/:app/notifications): what
// notifications:list and notifications:deliveries print, with the same
// rights (anyone who may see the app; URLs' paths and secrets never shown).
import type { FastifyInstance } from 'fastify';
import { html, type Safe } from '../core/html.ts';
import type { Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp } from '../platform/apps/access.ts';
import { hookView } from '../platform/notify/hooks.ts';
import { appParams } from './api-schemas.ts';
import { actorOf } from './auth.ts';
import { dataTable, statusWord, time } from './layout.ts';

/** Deliveries the page and the API show, newest first. */
export const SHOWN_DELIVERIES = 20;

async function notificationsOf(store: Store, app: string) {
  const [hooks, deliveries] = await Promise.all([
    store.notifications.list(app),
    store.notifications.deliveries(app, SHOWN_DELIVERIES),
  ]);
  return { webhooks: hooks.map(hookView), deliveries };
}

/** The app page's Notifications section. */
export async function notificationsSection(store: Store, app: string): Promise<Safe> {
  const { webhooks, deliveries } = await notificationsOf(store, app);
  const hooks =
    webhooks.length === 0
      ? html`<p>No webhooks. Over SSH: <code>notifications:add ${app} URL</code>.</p>`
      : dataTable(
          ['id', 'URL', 'type', 'events'],
          webhooks.map((h) => [h.id, h.url, h.format, h.events.join(', ')]),
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
</section>`;
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
