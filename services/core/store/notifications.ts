// Deploy notifications, the store's part: each app's webhooks, the outbox of
// events waiting to be delivered, and the newest deliveries.
//
// An event is written where its change is decided, in the same script
// (emit_event in ./lua.ts: a release's status in ./releases.ts, a build's end
// in services/platform/build/queue.ts), so a change Redis acknowledged has its
// event too, whatever process dies next. The delivery worker
// (services/platform/notify/) reads the outbox as a consumer group and turns
// each event into one delivery job per webhook that wants it; an entry is
// acknowledged only after its jobs are queued, so a worker killed between the
// two reads it again (the job ids make that a no-op).
import type { Redis } from 'ioredis';
import { BerthError } from '../errors.ts';
import * as validate from '../validate.ts';
import type { StoreContext } from './context.ts';
import { Script } from './lua.ts';

/** What a webhook can be told, as the issue names them. */
export const NOTIFY_EVENTS = [
  'deploy.started',
  'deploy.succeeded',
  'deploy.failed',
  'deploy.rolled-back',
  'cert.renewal-failed',
  'instance.crash-looping',
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** json: Berth's signed body; slack and discord: their incoming webhooks' `{text}` / `{content}`. */
export const HOOK_FORMATS = ['json', 'slack', 'discord'] as const;
export type HookFormat = (typeof HOOK_FORMATS)[number];

/** Webhooks per app at most: each event costs a request per webhook. */
export const HOOKS_MAX = 10;
/** Deliveries kept per app (the newest). */
export const DELIVERIES_MAX = 50;

export interface Hook {
  /** `wh_` and 8 hex digits. */
  id: string;
  url: string;
  format: HookFormat;
  /** The events it gets; every event when empty. */
  events: NotifyEvent[];
  /** The key of its HMAC-SHA256 signature (X-Berth-Signature). */
  secret: string;
  createdAt: string;
  by: string;
}

/** What an event says besides its name and app (the json body's fields). */
export interface EventData {
  /** When it happened (ISO 8601). */
  at: string;
  /** build or release: which step a deploy.* event is about. */
  stage?: 'build' | 'release';
  version?: number;
  status?: string;
  error?: string;
  build?: string;
  description?: string;
  /** deploy.rolled-back: the version whose image and config came back. */
  rollbackTo?: number;
  /** cert.renewal-failed: the domain. */
  domain?: string;
  /** instance.crash-looping: the instance (`web.1`) and its restarts. */
  instance?: string;
  restarts?: number;
}

export interface OutboxEvent {
  /** The outbox entry's id: unique per event, the deliveries' idempotency key. */
  id: string;
  event: NotifyEvent;
  app: string;
  data: EventData;
}

export interface DeliveryAttempt {
  at: string;
  /** The receiver's HTTP status; absent when none came. */
  code?: number;
  error?: string;
  ms: number;
}

export interface Delivery {
  /** `<outbox id>.<hook id>`: the same for every attempt, sent as X-Berth-Delivery. */
  id: string;
  hook: string;
  event: NotifyEvent;
  app: string;
  /** retrying: an attempt failed and another is due; failed: the last attempt failed. */
  state: 'delivered' | 'retrying' | 'failed';
  attempts: DeliveryAttempt[];
}

const HOOK_ID = /^wh_[0-9a-f]{8}$/;

const add = new Script(
  'notifications.add',
  `
local app, id, record, max = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if redis.call('EXISTS', K.app(app)) == 0 then return {'BERTH_E_APP_NOT_FOUND', 'app', app} end
if redis.call('HLEN', K.hooks(app)) >= max then
  return {'BERTH_E_WEBHOOK_LIMIT', 'app', app, 'max', max}
end
redis.call('HSET', K.hooks(app), id, record)
return {'ok'}
`,
);

const emitOnce = new Script(
  'notifications.emitOnce',
  `
local app, what, ttl, event, data = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('EXISTS', K.hooks(app)) == 0 then return {'ok', 0} end
if not redis.call('SET', K.eventOnce(app, what), '1', 'NX', 'EX', ttl) then return {'ok', 0} end
emit_event(app, event, data)
return {'ok', 1}
`,
);

// Keeps the newest DELIVERIES_MAX of the app's deliveries, in one step with the write.
const record = new Script(
  'notifications.record',
  `
local app, id, json, score, max = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
if redis.call('EXISTS', K.app(app)) == 0 then return {'ok'} end
redis.call('HSET', K.deliveries(app), id, json)
redis.call('ZADD', K.deliveryOrder(app), 'NX', score, id)
local extra = redis.call('ZCARD', K.deliveryOrder(app)) - max
if extra > 0 then
  for _, old in ipairs(redis.call('ZRANGE', K.deliveryOrder(app), 0, extra - 1)) do
    redis.call('HDEL', K.deliveries(app), old)
  end
  redis.call('ZREMRANGEBYRANK', K.deliveryOrder(app), 0, extra - 1)
end
return {'ok'}
`,
);

function parseHook(json: string): Hook | undefined {
  try {
    const h = JSON.parse(json) as Hook;
    return HOOK_ID.test(h.id) ? h : undefined;
  } catch {
    return undefined;
  }
}

export class Notifications {
  constructor(private readonly ctx: StoreContext) {}

  /** Adds a webhook; BERTH_E_WEBHOOK_LIMIT past HOOKS_MAX, BERTH_E_APP_NOT_FOUND. */
  async add(app: string, hook: Hook): Promise<Hook> {
    validate.appName(app);
    if (!HOOK_ID.test(hook.id)) throw new Error(`not a webhook id: ${hook.id}`);
    const checked: Hook = { ...hook, url: validate.webhookUrl(hook.url) };
    await add.run(this.ctx, [app, hook.id, JSON.stringify(checked), HOOKS_MAX]);
    return checked;
  }

  /** The app's webhooks, oldest first. */
  async list(app: string): Promise<Hook[]> {
    const all = await this.ctx.redis.hvals(this.ctx.keys.hooks(validate.appName(app)));
    return all
      .map(parseHook)
      .filter((h) => h !== undefined)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async get(app: string, id: string): Promise<Hook | undefined> {
    if (!HOOK_ID.test(id)) return undefined;
    const json = await this.ctx.redis.hget(this.ctx.keys.hooks(validate.appName(app)), id);
    return json === null ? undefined : parseHook(json);
  }

  /** BERTH_E_WEBHOOK_NOT_FOUND when the app has no such webhook. */
  async remove(app: string, id: string): Promise<void> {
    const removed = HOOK_ID.test(id)
      ? await this.ctx.redis.hdel(this.ctx.keys.hooks(validate.appName(app)), id)
      : 0;
    if (removed === 0) {
      const shown = id.replace(/[^\x21-\x7e]/g, '?').slice(0, 40);
      throw new BerthError('BERTH_E_WEBHOOK_NOT_FOUND', { app, id: shown });
    }
  }

  /**
   * An event that is its own change (a build began, an instance keeps
   * crashing), raised once per `what` within `ttlS` seconds: a builder that
   * runs a build again after a crash, or a reconciler seeing the same loop
   * on every pass, raises nothing more. True when it was raised.
   */
  async emitOnce(
    app: string,
    what: string,
    ttlS: number,
    event: NotifyEvent,
    data: EventData,
  ): Promise<boolean> {
    const args = [validate.appName(app), what, ttlS, event, JSON.stringify(data)];
    const [raised] = await emitOnce.run(this.ctx, args);
    return raised === 1;
  }

  /** Writes a delivery after each attempt (the newest DELIVERIES_MAX kept). */
  async recordDelivery(delivery: Delivery): Promise<void> {
    const first = Date.parse(delivery.attempts[0]?.at ?? '') || Date.now();
    const args = [delivery.app, delivery.id, JSON.stringify(delivery), first, DELIVERIES_MAX];
    await record.run(this.ctx, args);
  }

  async delivery(app: string, id: string): Promise<Delivery | undefined> {
    const json = await this.ctx.redis.hget(this.ctx.keys.deliveries(validate.appName(app)), id);
    return json === null ? undefined : (JSON.parse(json) as Delivery);
  }

  /** The app's newest deliveries first. */
  async deliveries(app: string, limit = DELIVERIES_MAX): Promise<Delivery[]> {
    const { redis, keys } = this.ctx;
    const ids = await redis.zrevrange(keys.deliveryOrder(validate.appName(app)), 0, limit - 1);
    if (ids.length === 0) return [];
    const values = await redis.hmget(keys.deliveries(app), ...ids);
    return values.filter((v) => v !== null).map((v) => JSON.parse(v) as Delivery);
  }

  /**
   * The outbox as consumer `consumer` of `group`: first the entries it was
   * given and did not acknowledge (it died before), then new ones, waiting
   * up to `blockMs`. `reader` is a connection of its own (the read blocks).
   */
  async readEvents(
    reader: Redis,
    group: string,
    consumer: string,
    blockMs: number,
    pending: boolean,
  ): Promise<OutboxEvent[]> {
    const key = this.ctx.keys.events;
    await reader.xgroup('CREATE', key, group, '0', 'MKSTREAM').catch((e: unknown) => {
      if (!(e instanceof Error && e.message.startsWith('BUSYGROUP'))) throw e;
    });
    const args = ['GROUP', group, consumer, 'COUNT', 100] as const;
    const reply = (
      pending
        ? await reader.xreadgroup(...args, 'STREAMS', key, '0')
        : await reader.xreadgroup(...args, 'BLOCK', blockMs, 'STREAMS', key, '>')
    ) as [string, [string, string[] | null][]][] | null;
    const out: OutboxEvent[] = [];
    for (const [, entries] of reply ?? []) {
      for (const [id, fields] of entries) {
        const f = new Map<string, string>();
        for (let i = 0; i + 1 < (fields ?? []).length; i += 2)
          f.set(fields?.[i] as string, fields?.[i + 1] as string);
        const event = f.get('event') as NotifyEvent;
        const app = f.get('app') ?? '';
        let data: EventData = { at: new Date().toISOString() };
        try {
          data = JSON.parse(f.get('data') ?? '{}') as EventData;
        } catch {
          // A malformed entry still reaches ackEvents, and is dropped.
        }
        out.push({ id, event, app, data });
      }
    }
    return out;
  }

  /** Entries other consumers took and left unacknowledged for `idleMs` (they died), now this one's. */
  async claimStale(group: string, consumer: string, idleMs: number): Promise<void> {
    await this.ctx.redis
      .xautoclaim(this.ctx.keys.events, group, consumer, idleMs, '0', 'COUNT', 100)
      .catch(() => {});
  }

  async ackEvents(group: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.ctx.redis
      .multi()
      .xack(this.ctx.keys.events, group, ...ids)
      .xdel(this.ctx.keys.events, ...ids)
      .exec();
  }
}
