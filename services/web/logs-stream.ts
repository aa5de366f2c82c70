// The app's runtime log live, /apps/:app/logs/stream, by
// Server-Sent Events: the last lines (`logs -n`), then every running
// instance's new lines as `logs -t` follows them (followAppLogs), until the
// browser goes away (the Engine's log streams are destroyed then) or the
// followed instances stop, when an `end` event says to ask again.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError } from '../core/errors.ts';
import type { Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp } from '../platform/apps/access.ts';
import { appLogs, followAppLogs, formatLine } from '../platform/scheduler/app-logs.ts';
import { type SchedulerDeps, schedulerFor } from '../platform/scheduler/schedulers.ts';
import { appParams } from './api-schemas.ts';
import type { EngineClient } from './app-page.ts';
import { actorOf } from './auth.ts';
import { EventStream, type LiveStreams } from './sse.ts';

/** ?n=: the lines sent before the live ones (default 100, as `logs`). */
export function recentCount(value: unknown): number {
  if (value === undefined) return 100;
  const text = String(value);
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 10_000)
    throw new BerthError('BERTH_E_USAGE', { reason: 'n= takes a number of lines from 1 to 10000' });
  return Number(text);
}

export function logsStreamRoutes(
  server: FastifyInstance,
  o: {
    store: Store;
    streams: LiveStreams;
    engine?: EngineClient;
    logArchive?: string;
    /** What the schedulers are made with besides the Engine (the swarm's manager for swarm apps). */
    schedulerDeps?: Omit<SchedulerDeps, 'docker'>;
  },
) {
  const { streams } = o;
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const params = req.params as { app: string };
    const query = req.query as { n?: string; ps?: string };
    const name = validate.appName(params.app);
    const actor = actorOf(req);
    const found = await authorizeApp(o.store, actor, name, 'read');
    const count = recentCount(query.n);
    const type = query.ps === undefined ? undefined : validate.processType(query.ps);
    if (!o.engine)
      throw new BerthError('BERTH_E_USAGE', {
        reason: 'the web app has no Docker Engine configured; `logs -t` over SSH follows the log',
      });
    // Before the first Engine request: each followed instance holds a dockerd connection.
    streams.admit(actor, reply);
    const scheduler = await schedulerFor(o.store, found.name, {
      ...o.schedulerDeps,
      docker: await o.engine(),
    });
    const instances = await scheduler.list(found.name);
    const since = Math.floor(Date.now() / 1000);
    const recent = o.logArchive
      ? await appLogs(scheduler, o.logArchive, found.name, instances, {
          count,
          ...(type ? { type } : {}),
        })
      : [];
    const s = new EventStream(reply, streams);
    for (const l of recent) s.send('line', formatLine(l));
    await followAppLogs(
      scheduler,
      instances,
      { since, after: recent.at(-1)?.time, signal: s.signal, ...(type ? { type } : {}) },
      (l) => s.send('line', formatLine(l)),
    );
    s.send(
      'end',
      JSON.stringify({ reason: 'the instances followed have stopped; reload for the new ones' }),
    );
    s.end();
    return reply;
  };
  server.get('/apps/:app/logs/stream', { config: { auth: 'page' } }, handler);
  server.get(
    '/api/v1/apps/:app/logs/stream',
    {
      schema: {
        params: appParams,
        querystring: {
          type: 'object',
          properties: {
            n: { type: 'string', description: 'Lines sent before the live ones, 1-10000 (100)' },
            ps: { type: 'string', description: 'Only this process type' },
          },
        },
      },
      config: {
        doc: {
          summary: "The app's runtime log, live (logs -t)",
          eventStream:
            "Server-Sent Events: the last lines, then each running instance's new lines, each as a `line` event as `logs -t` prints them; an `end` event when the followed instances stop.",
        },
      },
    },
    handler,
  );
}
