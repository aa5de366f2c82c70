// Server-Sent Events for the live pages: a build's log and an app's
// runtime log. One EventStream per request: it takes the response over
// from fastify, says when the client has gone (its signal aborts, so a
// follower's Redis or Engine connection is closed at once), and ends every
// stream when the web app closes, so that closing it never waits on a
// browser. LiveStreams counts them per user: each holds connections open
// for as long as the client stays, so one user may hold only so many.
// The format is the WHATWG HTML "server-sent events" section: `event:`,
// `id:` and one `data:` line per line of data, a blank line after each event.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Actor, actorName } from '../core/actor.ts';
import { BerthError } from '../core/errors.ts';

/** How often a comment line goes out, so idle proxies and dead clients are noticed. */
export const KEEPALIVE_MS = 15_000;

export class EventStream {
  readonly signal: AbortSignal;
  private readonly closed = new AbortController();
  private readonly keepalive: NodeJS.Timeout;

  constructor(
    private readonly reply: FastifyReply,
    streams: LiveStreams,
  ) {
    this.signal = this.closed.signal;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // The router and any proxy in front must pass each event on at once.
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.flushHeaders();
    streams.open.add(this);
    // 'close' on the response: the client went away, or end() ran.
    res.once('close', () => {
      streams.open.delete(this);
      clearInterval(this.keepalive);
      this.closed.abort(new Error('the client closed the event stream'));
    });
    this.keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  }

  /** One event; `data` may hold several lines (each becomes a data: line). */
  send(event: string, data: string, id?: number): void {
    if (this.signal.aborted) return;
    const lines = data.split(/\r\n|\r|\n/).map((l) => `data: ${l}\n`);
    this.reply.raw.write(
      `event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}${lines.join('')}\n`,
    );
  }

  end(): void {
    clearInterval(this.keepalive);
    if (!this.reply.raw.writableEnded) this.reply.raw.end();
  }
}

/** How many live streams one user may hold open at once where nothing else is said. */
export const DEFAULT_STREAMS_PER_USER = 16;

/** The open streams of one web app, all ended when the app closes, and how many each user holds. */
export class LiveStreams {
  readonly open = new Set<EventStream>();
  private readonly held = new Map<string, number>();

  constructor(readonly perUser: number) {}

  /**
   * Counts a stream against the actor's user from now until its response
   * closes (sent, failed, or the client gone), so call it before the stream
   * opens anything on the Engine or Redis. BERTH_E_TOO_MANY_STREAMS (429)
   * when the user holds perUser already: one user's tabs or script cannot
   * hold a connection to dockerd each without end (issue 16), and other
   * users' streams are not held up by theirs.
   */
  admit(actor: Actor, reply: FastifyReply): void {
    const user = actorName(actor);
    const open = this.held.get(user) ?? 0;
    if (open >= this.perUser) {
      throw new BerthError('BERTH_E_TOO_MANY_STREAMS', { user, open });
    }
    this.held.set(user, open + 1);
    reply.raw.once('close', () => {
      const left = (this.held.get(user) ?? 1) - 1;
      if (left > 0) this.held.set(user, left);
      else this.held.delete(user);
    });
  }

  /** How many streams the user holds now. */
  heldBy(user: string): number {
    return this.held.get(user) ?? 0;
  }
}

/** The web app's live streams: perUser per user, all ended when the app closes. */
export function liveStreams(server: FastifyInstance, perUser: number): LiveStreams {
  const streams = new LiveStreams(perUser);
  server.addHook('onClose', async () => {
    for (const s of streams.open) s.end();
  });
  return streams;
}

/**
 * The number after which a reconnecting client wants the events: the
 * Last-Event-ID header an EventSource sends, or `?after=N` (the page's own
 * count of the lines it rendered); 0 when neither.
 */
export function resumeAfter(req: FastifyRequest): number {
  const header = req.headers['last-event-id'];
  const query = (req.query as Record<string, unknown> | undefined)?.after;
  const text = typeof header === 'string' ? header : typeof query === 'string' ? query : '0';
  if (!/^[0-9]{1,9}$/.test(text))
    throw new BerthError('BERTH_E_USAGE', { reason: 'after= takes a line number such as 120' });
  return Number(text);
}
