// The delivery of deploy notifications, self-contained so that any service
// can run it (the builder does, services/builder/service.ts): a dispatcher
// that reads the outbox stream (services/core/store/notifications.ts) as a
// consumer group and queues one BullMQ job per webhook that wants the event,
// and a BullMQ worker that POSTs each job and records the attempt.
//
// Jobs are named `<outbox id>.<hook id>`: an event read twice (a dispatcher
// that died between queueing and acknowledging) queues nothing new. A failed
// attempt (no answer within timeoutMs, or an answer that is not 2xx) is tried
// again with an exponential backoff, `attempts` times in all (Stripe and
// GitHub retry the same way; BullMQ keeps the schedule in Redis, so a
// restarted worker keeps it too). A target refused as not public is not
// retried. Several workers may run at once (a reload starts the new one
// before the old stops): each job runs in one of them.
import os from 'node:os';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { errorLine } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { type Delivery, type OutboxEvent, Store } from '../../core/store/index.ts';
import { wants } from './hooks.ts';
import { request } from './messages.ts';
import { postTo, TargetRefused } from './target.ts';

export const NOTIFY_QUEUE = 'notifications';
/** The outbox's consumer group. */
export const NOTIFY_GROUP = 'deliveries';
const GROUP = NOTIFY_GROUP;

export const NOTIFY_DEFAULTS = {
  /** Tries per delivery: 5 s, 10 s, 20 s, 40 s, 80 s apart, about 2.5 min in all. */
  attempts: 6,
  backoffMs: 5000,
  /** One attempt, connection to the last byte read. */
  timeoutMs: 10_000,
  /** What is kept of the receiver's answer. */
  maxResponseBytes: 1024,
  concurrency: 4,
  /** How long a read of the outbox waits for news. */
  blockMs: 2000,
  /** Events another dispatcher took and left this long are taken over (it died). */
  staleMs: 60_000,
} as const;

export interface NotifierOptions {
  /** Needs `maxRetriesPerRequest: null` (BullMQ); the caller owns it and closes it after close(). */
  connection: Redis;
  redisPrefix: string;
  /** BERTH_WEBHOOK_PRIVATE_TARGETS=allow: receivers on loopback and private networks too. */
  allowPrivateTargets: boolean;
  log?: Logger;
  attempts?: number;
  backoffMs?: number;
  timeoutMs?: number;
  concurrency?: number;
  blockMs?: number;
  staleMs?: number;
}

export interface Notifier {
  close(): Promise<void>;
}

interface DeliveryJob {
  event: OutboxEvent;
  hook: string;
}

export async function startNotifier(o: NotifierOptions): Promise<Notifier> {
  const prefix = `${o.redisPrefix}bull`;
  const store = new Store(o.connection, o.redisPrefix);
  const attempts = o.attempts ?? NOTIFY_DEFAULTS.attempts;
  const timeoutMs = o.timeoutMs ?? NOTIFY_DEFAULTS.timeoutMs;
  const queue = new Queue<DeliveryJob>(NOTIFY_QUEUE, { connection: o.connection, prefix });
  const keep = { age: 7 * 24 * 3600, count: 1000 };

  async function deliver(job: { id?: string; data: DeliveryJob; attemptsMade: number }) {
    const { event, hook: hookId } = job.data;
    const id = job.id ?? `${event.id}.${hookId}`;
    const hook = await store.notifications.get(event.app, hookId);
    if (!hook) return; // Removed since: nobody wants it any more.
    const { body, headers } = request(hook, event, id);
    const started = Date.now();
    let code: number | undefined;
    let error: string | undefined;
    let refused = false;
    try {
      const answer = await postTo(hook.url, body, headers, {
        allowPrivate: o.allowPrivateTargets,
        timeoutMs,
        maxResponseBytes: NOTIFY_DEFAULTS.maxResponseBytes,
      });
      code = answer.code;
      if (code < 200 || code > 299) error = `answered ${code}`;
    } catch (e) {
      refused = e instanceof TargetRefused;
      error = errorLine(e);
    }
    const attempt = job.attemptsMade + 1;
    const last = refused || attempt >= attempts;
    const previous = await store.notifications.delivery(event.app, id);
    const delivery: Delivery = {
      id,
      hook: hookId,
      event: event.event,
      app: event.app,
      state: error === undefined ? 'delivered' : last ? 'failed' : 'retrying',
      attempts: [
        ...(previous?.attempts ?? []),
        {
          at: new Date(started).toISOString(),
          ...(code === undefined ? {} : { code }),
          ...(error === undefined ? {} : { error: error.slice(0, 300) }),
          ms: Date.now() - started,
        },
      ].slice(-10),
    };
    await store.notifications.recordDelivery(delivery);
    if (error === undefined) return;
    o.log?.info({ delivery: id, app: event.app, attempt, error }, 'webhook delivery failed');
    throw refused ? new UnrecoverableError(error) : new Error(error);
  }

  const worker = new Worker<DeliveryJob>(NOTIFY_QUEUE, deliver, {
    connection: o.connection,
    prefix,
    concurrency: o.concurrency ?? NOTIFY_DEFAULTS.concurrency,
  });
  worker.on('error', (e) => o.log?.warn({ err: e }, 'notification queue'));
  await worker.waitUntilReady();

  // The dispatcher: outbox → one job per webhook, then the acknowledgement.
  const reader = o.connection.duplicate();
  reader.on('error', () => {}); // Reads report their own errors.
  const consumer = `${os.hostname()}:${process.pid}`;
  let stopped = false;
  const dispatch = async (events: OutboxEvent[]) => {
    for (const event of events) {
      const hooks = await store.notifications.list(event.app).catch(() => []);
      for (const hook of hooks.filter((h) => wants(h, event.event))) {
        await queue.add(
          'deliver',
          { event, hook: hook.id },
          {
            jobId: `${event.id}.${hook.id}`,
            attempts,
            backoff: { type: 'exponential', delay: o.backoffMs ?? NOTIFY_DEFAULTS.backoffMs },
            removeOnComplete: keep,
            removeOnFail: keep,
          },
        );
      }
    }
    await store.notifications.ackEvents(
      GROUP,
      events.map((e) => e.id),
    );
  };
  const staleMs = o.staleMs ?? NOTIFY_DEFAULTS.staleMs;
  const loop = (async () => {
    let pending = true;
    let claimedAt = 0;
    while (!stopped) {
      try {
        // What a dispatcher that died took and left (checked at start and
        // every staleMs: another dispatcher may die while this one runs),
        // then its own unacknowledged entries, then new ones.
        if (Date.now() - claimedAt >= staleMs) {
          await store.notifications.claimStale(GROUP, consumer, staleMs);
          claimedAt = Date.now();
          pending = true;
        }
        const blockMs = o.blockMs ?? NOTIFY_DEFAULTS.blockMs;
        const events = await store.notifications.readEvents(
          reader,
          GROUP,
          consumer,
          blockMs,
          pending,
        );
        if (pending && events.length === 0) pending = false;
        await dispatch(events);
      } catch (e) {
        if (stopped) break;
        o.log?.warn({ err: e }, 'reading the notification outbox failed; again in a second');
        pending = true;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();

  return {
    async close() {
      stopped = true;
      reader.disconnect();
      await loop;
      await worker.close();
      await queue.close();
    },
  };
}
