// A build's log on its own page, /apps/:app/builds/:id: the lines
// as they stood when the page loaded (so it works without JavaScript), then,
// with the small script below, every new line as the builder writes it, by
// Server-Sent Events from /apps/:app/builds/:id/stream. The stream follows the
// build's Redis Stream exactly as `builds:output` does (followBuild: a
// connection of its own, XREAD BLOCK), and closes that connection the moment
// the browser goes away. /api/v1/apps/:app/builds/:id/stream is the same stream.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { html, Safe } from '../core/html.ts';
import type { Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp } from '../platform/apps/access.ts';
import {
  type BuildEnd,
  type BuildInfo,
  buildInfo,
  buildLogSoFar,
  type HistoryOptions,
} from '../platform/build/history.ts';
import { type BuildQueue, buildLogKey, followBuild } from '../platform/build/queue.ts';
import { ansiHtml } from './ansi.ts';
import { buildParams } from './api-schemas.ts';
import { actorOf } from './auth.ts';
import { page, signedInHeader, time } from './layout.ts';
import { LIVE_SCRIPT } from './live-script.ts';
import { signOutForm } from './sign-in-routes.ts';
import { EventStream, type LiveStreams, resumeAfter } from './sse.ts';

export interface BuildPageOptions {
  store: Store;
  /** The build queue (for the build's state, and to notice a builder that died). */
  queue: BuildQueue;
  history: HistoryOptions;
  /** The web app's live streams, counted per user (sse.ts). */
  streams: LiveStreams;
}

const ended = (b: Pick<BuildInfo, 'status'>) => b.status !== 'queued' && b.status !== 'running';

/** The Redis connection name of one stream's follower (CLIENT LIST shows it). */
export const followerName = (id: string) => `berth-web-build-${id}`;

/** How a build ended, as the `end` event's data and the page's last line. */
export const endLine = (e: BuildEnd) =>
  e.status === 'succeeded' ? '-----> Build succeeded' : ` !     ${e.error ?? 'the build failed'}`;

export function buildPageRoutes(server: FastifyInstance, o: BuildPageOptions) {
  const { store } = o;
  const prefix = store.keys.prefix;
  const { streams } = o;

  /** The app (404 unless the actor may see it) and its build (404 unless it is the app's). */
  async function find(actorReq: Parameters<typeof actorOf>[0], appName: string, id: string) {
    const name = validate.appName(appName);
    const found = await authorizeApp(store, actorOf(actorReq), name, 'read');
    const build = await buildInfo(store.redis, prefix, o.queue, found, id, o.history);
    return { name: found.name, build };
  }

  server.get<{ Params: { app: string; id: string } }>(
    '/apps/:app/builds/:id',
    { config: { auth: 'page' } },
    async (req, reply) => {
      const { name, build } = await find(req, req.params.app, req.params.id);
      const log = await buildLogSoFar(store.redis, prefix, name, build.id, o.history);
      const done = log.end !== undefined || (ended(build) && log.from !== 'stream');
      const status = log.end?.status ?? build.status;
      const text = new Safe(
        [...log.lines, ...(log.end ? [endLine(log.end)] : [])]
          .map((l) => ansiHtml(l).text)
          .join('\n'),
      );
      const header = signedInHeader(req, signOutForm, 'apps');
      const body = html`<div class="page-head"><h1><a href="/apps/${name}">${name}</a> build ${build.id} <span id="build-state" class="status s-${status}">${status}</span></h1></div>
<p>Commit ${build.rev?.slice(0, 7) ?? '—'}${build.ref ? html` on ${build.ref.replace(/^refs\/heads\//, '')}` : ''}, pushed by ${build.pusher ?? '—'}, ${time(build.requestedAt)}.</p>
${log.from === 'gone' ? html`<p class="note">The output of this build is no longer kept.</p>` : ''}
<pre id="log" data-stream="/apps/${name}/builds/${build.id}/stream" data-lines="${log.lines.length}" data-ended="${done}">${text}${text.text ? '\n' : ''}</pre>
${done ? '' : html`<noscript><p>Reload the page for newer lines.</p></noscript>`}
${LIVE_SCRIPT}`;
      return reply
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(page(`${name} build ${build.id} · Berth`, body, header));
    },
  );

  // The log as events: `line` (id = its number from 1), then one `end` with
  // {status, error?, line}; the lines up to ?after=N or Last-Event-ID are skipped.
  const stream = async (
    req: FastifyRequest<{ Params: { app: string; id: string } }>,
    reply: FastifyReply,
  ) => {
    const { name, build } = await find(req, req.params.app, req.params.id);

    const after = resumeAfter(req);
    // Before the follower: each live build log holds a Redis connection of its own.
    streams.admit(actorOf(req), reply);
    const sendEnd = (s: EventStream, end: BuildEnd) =>
      s.send(
        'end',
        JSON.stringify({
          status: end.status,
          ...(end.error === undefined ? {} : { error: end.error }),
          line: endLine(end),
        }),
      );
    // Only the durable file is left: it is complete, so no follower is needed.
    const streamGone = (await store.redis.exists(buildLogKey(prefix, build.id))) === 0;
    if (ended(build) && streamGone) {
      const log = await buildLogSoFar(store.redis, prefix, name, build.id, o.history);
      const s = new EventStream(reply, streams);
      log.lines.forEach((line, i) => {
        if (i + 1 > after) s.send('line', line, i + 1);
      });
      sendEnd(
        s,
        log.end ??
          (build.status === 'succeeded'
            ? { status: 'succeeded' }
            : {
                status: 'failed',
                error: build.error ?? 'how the build ended is no longer known',
              }),
      );
      s.end();
      return reply;
    }
    const s = new EventStream(reply, streams);
    let n = 0;
    try {
      const result = await followBuild(
        store.redis,
        prefix,
        build.id,
        (line) => {
          n += 1;
          if (n > after) s.send('line', line, n);
        },
        s.signal,
        { queue: o.queue, connectionName: followerName(build.id) },
      );
      sendEnd(s, result);
    } catch (e) {
      // The client went away: followBuild has closed its connection; nothing to answer.
      if (!s.signal.aborted) {
        req.log.warn({ err: e, build: build.id }, 'build log stream failed');
        s.send('failure', 'the log could not be read; reload the page');
      }
    } finally {
      s.end();
    }
    return reply;
  };
  server.get('/apps/:app/builds/:id/stream', { config: { auth: 'page' } }, stream);
  server.get(
    '/api/v1/apps/:app/builds/:id/stream',
    {
      schema: { params: buildParams },
      config: {
        doc: {
          summary: "A build's log, live (builds:output)",
          eventStream:
            'Server-Sent Events: each line as a `line` event numbered by its id, then one `end` event with {status, error?, line}; Last-Event-ID or ?after=N resumes after that line.',
        },
      },
    },
    stream,
  );
}
