// Server-Sent Events for the live pages: the build log now, the
// runtime log later. One EventStream per request: it takes the response over
// from fastify, says when the client has gone (its signal aborts, so a
// follower's Redis connection is closed at once), and ends every stream when
// the web app closes, so that closing it never waits on a browser.
// The format is the WHATWG HTML "server-sent events" section: `event:`,
// `id:` and one `data:` line per line of data, a blank line after each event.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError } from '../core/errors.ts';

/** How often a comment line goes out, so idle proxies and dead clients are noticed. */
export const KEEPALIVE_MS = 15_000;

export class EventStream {
  readonly signal: AbortSignal;
  private readonly closed = new AbortController();
  private readonly keepalive: NodeJS.Timeout;

  constructor(
    private readonly reply: FastifyReply,
    streams: Set<EventStream>,
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
    streams.add(this);
    // 'close' on the response: the client went away, or end() ran.
    res.once('close', () => {
      streams.delete(this);
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

/** The set of open streams of one web app, all ended when the app closes. */
export function eventStreams(server: FastifyInstance): Set<EventStream> {
  const streams = new Set<EventStream>();
  server.addHook('onClose', async () => {
    for (const s of streams) s.end();
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
