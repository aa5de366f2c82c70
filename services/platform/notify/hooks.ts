// An app's webhooks as its owner manages them (notifications:* and the web
// API): each input checked by one function, so a bad URL, format or event
// name is refused in one line before anything is written.
import { randomBytes } from 'node:crypto';
import { BerthError } from '../../core/errors.ts';
import { newSecret } from '../../core/secret.ts';
import {
  HOOK_FORMATS,
  type Hook,
  type HookFormat,
  NOTIFY_EVENTS,
  type NotifyEvent,
  type Store,
} from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';

const invalid = (kind: string, value: string, reason: string) =>
  new BerthError('BERTH_E_INVALID_NAME', {
    kind,
    value: JSON.stringify(value.slice(0, 60)).slice(1, -1),
    reason,
  });

/** --format: json (the default), slack or discord. */
export function hookFormat(value: string | undefined): HookFormat {
  if (value === undefined || value === '') return 'json';
  if (!(HOOK_FORMATS as readonly string[]).includes(value))
    throw invalid('webhook format', value, `use ${HOOK_FORMATS.join(', ')}`);
  return value as HookFormat;
}

/** --events: a comma-separated list of event names, or `all` (the default, stored as []). */
export function hookEvents(value: string | undefined): NotifyEvent[] {
  if (value === undefined || value === '' || value === 'all') return [];
  const names = value.split(',').map((n) => n.trim());
  for (const name of names) {
    if (!(NOTIFY_EVENTS as readonly string[]).includes(name))
      throw invalid('event', name, `use all, or some of ${NOTIFY_EVENTS.join(', ')}`);
  }
  return [...new Set(names)] as NotifyEvent[];
}

/** Whether the webhook wants the event. */
export const wants = (hook: Pick<Hook, 'events'>, event: string): boolean =>
  hook.events.length === 0 || (hook.events as string[]).includes(event);

/** Adds a webhook; its secret is in the result, and shown only then. */
export async function addWebhook(
  store: Store,
  app: string,
  by: string,
  input: { url: string; format?: string; events?: string },
): Promise<Hook> {
  const hook: Hook = {
    id: `wh_${randomBytes(4).toString('hex')}`,
    url: validate.webhookUrl(input.url),
    format: hookFormat(input.format),
    events: hookEvents(input.events),
    secret: newSecret('whsec_'),
    createdAt: new Date().toISOString(),
    by,
  };
  return store.notifications.add(app, hook);
}

/**
 * The URL as listings show it: scheme, host and port, the path hidden. A
 * Slack or Discord webhook's path is its credential, and listings reach
 * read-only tokens and shared screens.
 */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' && u.search === '' ? '/' : '/…'}`;
  } catch {
    return '…';
  }
}

/** A webhook as listings show it: no secret, the URL's path hidden. */
export interface HookView {
  id: string;
  url: string;
  format: HookFormat;
  events: string[];
  createdAt: string;
  by: string;
}

export function hookView(h: Hook): HookView {
  return {
    id: h.id,
    url: shownUrl(h.url),
    format: h.format,
    events: h.events.length === 0 ? ['all'] : h.events,
    createdAt: h.createdAt,
    by: h.by,
  };
}
