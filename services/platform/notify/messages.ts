// What a webhook receives for an event: Berth's JSON body, or the one-line
// message Slack's (`{text}`) and Discord's (`{content}`) incoming webhooks
// take; and the signature that proves the body came from Berth: an
// HMAC-SHA256 of the raw body with the webhook's secret, in
// `X-Berth-Signature: sha256=<hex>`, as GitHub signs its webhooks.
import { createHmac } from 'node:crypto';
import type { EventData, Hook, OutboxEvent } from '../../core/store/index.ts';
import { VERSION } from '../../core/version.ts';

/** The json format's body (README "Notifications" documents it): the event's data, named. */
export type EventBody = {
  event: string;
  app: string;
  /** The same for every attempt: a receiver that saw it may ignore a repeat. */
  delivery: string;
} & EventData;

export function eventBody(e: OutboxEvent, delivery: string): EventBody {
  return { event: e.event, app: e.app, delivery, ...e.data };
}

/** One line a person reads in a chat channel. */
export function eventLine(e: OutboxEvent): string {
  const d = e.data;
  const what = d.description ? ` (${d.description})` : '';
  const why = d.error ? `: ${d.error}` : '';
  const v = d.version === undefined ? '' : ` v${d.version}`;
  let line: string;
  switch (e.event) {
    case 'deploy.started':
      line = `${e.app}: deploy${v} started${what}`;
      break;
    case 'deploy.succeeded':
      line = `${e.app}: v${d.version} is live${what}`;
      break;
    case 'deploy.failed':
      line =
        d.stage === 'build'
          ? `${e.app}: build ${d.build ?? ''} failed${why}`
          : `${e.app}: release${v} failed${what}${why}`;
      break;
    case 'deploy.rolled-back':
      line = `${e.app}: rolled back to v${d.rollbackTo} (now v${d.version})`;
      break;
    case 'cert.renewal-failed':
      line = `${e.app}: the certificate of ${d.domain} could not be renewed${why}`;
      break;
    case 'instance.crash-looping':
      line = `${e.app}: ${d.instance} keeps crashing (${d.restarts} restarts)${why}`;
      break;
    default:
      line = `${e.app}: ${e.event}`;
  }
  // Discord takes 2000 characters; a line this long is an error's text.
  return line.length > 1000 ? `${line.slice(0, 999)}…` : line;
}

export function signature(secret: string, body: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The body and headers of one delivery of `e` to `hook`. */
export function request(
  hook: Hook,
  e: OutboxEvent,
  delivery: string,
): { body: Buffer; headers: Record<string, string> } {
  const payload =
    hook.format === 'slack'
      ? { text: eventLine(e) }
      : hook.format === 'discord'
        ? { content: eventLine(e) }
        : eventBody(e, delivery);
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  return {
    body,
    headers: {
      'Content-Type': 'application/json',
      'User-Agent': `Berth-Webhook/${VERSION}`,
      'X-Berth-Event': e.event,
      'X-Berth-Delivery': delivery,
      // Chat services ignore it; any receiver may check it.
      'X-Berth-Signature': signature(hook.secret, body),
    },
  };
}
