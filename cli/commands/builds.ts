// builds:* — an app's builds: the list, one build, its output (live while it
// runs) and cancelling one. The queue contract is in services/platform/build/queue.ts.
import { readFile } from 'node:fs/promises';
import { actorName } from '../../services/core/actor.ts';
import { createDockerClient } from '../../services/core/docker.ts';
import { EXIT } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import type { App, Store } from '../../services/core/store/index.ts';
import { authorizeApp, requireAdmin } from '../../services/platform/apps/access.ts';
import { buildLogFile } from '../../services/platform/build/build-log.ts';
import {
  type BuildInfo,
  buildInfo,
  type HistoryOptions,
  latestBuild,
  listBuilds,
} from '../../services/platform/build/history.ts';
import {
  type BuildQueue,
  buildLogKey,
  finishBuild,
  followBuild,
  printable,
  requestCancel,
} from '../../services/platform/build/queue.ts';
import { pruneAll, pruneApp } from '../../services/platform/build/retention.ts';
import type { Command, CommandContext } from '../command.ts';
import { formatOf, json, report, table } from '../output.ts';

/** How long builds:cancel waits for a running build to stop before it returns. */
const CANCEL_WAIT_MS = 15_000;

interface Builds {
  store: Store;
  prefix: string;
  queue: BuildQueue;
  options: HistoryOptions;
}

/** Runs `f` with the store's connection and a build queue on it, closed afterwards. */
async function withBuilds<T>(ctx: CommandContext, f: (b: Builds) => Promise<T>): Promise<T> {
  const store = await ctx.store();
  const prefix = store.keys.prefix;
  const { createBuildQueue } = await import('../../services/platform/build/queue-open.ts');
  const queue = createBuildQueue(store.redis, prefix);
  const dataDir = ctx.config().dataDir;
  const options = dataDir ? { buildLogs: dataPaths(dataDir).buildLogs } : {};
  try {
    return await f({ store, prefix, queue, options });
  } finally {
    await queue.close();
  }
}

/** "5s ago", "3m ago", "2h ago", "4d ago". */
export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(s)) return '-';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

const statusText = (b: BuildInfo) =>
  b.status === 'queued' && b.position !== undefined ? `queued (#${b.position})` : b.status;

const ended = (b: BuildInfo) => b.status !== 'queued' && b.status !== 'running';

/** The build `id`, or the newest one; undefined (after saying so) when the app has none. */
async function pick(
  ctx: CommandContext,
  b: Builds,
  app: App,
  id: string | undefined,
): Promise<BuildInfo | undefined> {
  if (id !== undefined) return buildInfo(b.store.redis, b.prefix, b.queue, app, id, b.options);
  const latest = await latestBuild(b.store.redis, b.prefix, b.queue, app.name, b.options);
  if (!latest) ctx.stdout.write(`=====> ${app.name} has no builds yet\n`);
  return latest;
}

export const buildsCommands: readonly Command[] = [
  {
    name: 'builds:list',
    usage: 'APP [--format json]',
    summary: "list the app's builds, newest first",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const format = formatOf(options);
      const builds = await withBuilds(ctx, (b) =>
        listBuilds(b.store.redis, b.prefix, b.queue, app.name, { ...b.options, limit: 100 }),
      );
      if (format === 'json') ctx.stdout.write(json(builds));
      else if (builds.length === 0) ctx.stdout.write(`=====> ${app.name} has no builds yet\n`);
      else {
        const rows = builds.map((x) => [
          x.id,
          statusText(x),
          x.rev?.slice(0, 7) ?? '-',
          x.pusher ?? '-',
          age(x.requestedAt),
        ]);
        ctx.stdout.write(table([['ID', 'STATUS', 'REV', 'PUSHER', 'AGE'], ...rows]));
      }
      return EXIT.ok;
    },
  },
  {
    name: 'builds:info',
    usage: 'APP ID [--format json]',
    summary: 'show one build: its commit, who pushed it, its status',
    access: { app: 'read' },
    json: true,
    arity: [1, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      const format = formatOf(options);
      const x = await withBuilds(ctx, (b) =>
        buildInfo(b.store.redis, b.prefix, b.queue, app, args[0] ?? '', b.options),
      );
      if (format === 'json') ctx.stdout.write(json(x));
      else {
        const rows: [string, string][] = [
          ['Status', statusText(x)],
          ['Commit', x.rev ?? '-'],
          ['Branch', x.ref?.replace(/^refs\/heads\//, '') ?? '-'],
          ['Pushed by', x.pusher ?? '-'],
          ['Requested at', `${x.requestedAt} (${age(x.requestedAt)})`],
        ];
        if (x.error !== undefined) rows.push(['Error', x.error]);
        if (x.image !== undefined) rows.push(['Image', x.image]);
        ctx.stdout.write(report(`${app.name} build ${x.id}`, rows));
      }
      return EXIT.ok;
    },
  },
  {
    name: 'builds:output',
    usage: 'APP [ID]',
    summary: "print a build's output (default: the newest), following it live while it runs",
    access: { app: 'read' },
    arity: [0, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      return withBuilds(ctx, async (b) => {
        const x = await pick(ctx, b, app, args[0]);
        if (!x) return EXIT.failed;
        const redis = b.store.redis;
        const streamGone = (await redis.exists(buildLogKey(b.prefix, x.id))) === 0;
        if (ended(x) && streamGone) {
          // Only the durable copy is left (it ends with the result line).
          const file = b.options.buildLogs
            ? await readLogFile(b.options.buildLogs, app.name, x.id)
            : undefined;
          if (file === undefined)
            ctx.stdout.write(`=====> the output of build ${x.id} is no longer kept\n`);
          else ctx.stdout.write(file);
          return x.status === 'succeeded' ? EXIT.ok : EXIT.failed;
        }
        let result: Awaited<ReturnType<typeof followBuild>>;
        try {
          result = await followBuild(
            redis,
            b.prefix,
            x.id,
            (line) => ctx.stdout.write(`${line}\n`),
            ctx.signal,
            { queue: b.queue },
          );
        } catch (e) {
          if (ctx.signal.aborted) return EXIT.failed; // the client went away
          throw e;
        }
        if (result.status === 'succeeded') {
          ctx.stdout.write('-----> Build succeeded\n');
          return EXIT.ok;
        }
        ctx.stdout.write(` !     ${result.error ?? 'the build failed'}\n`);
        return EXIT.failed;
      });
    },
  },
  {
    name: 'builds:cancel',
    usage: 'APP [ID]',
    summary: "stop a build (default: the app's running or queued build)",
    access: { app: 'push' },
    arity: [0, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      return withBuilds(ctx, async (b) => {
        const redis = b.store.redis;
        let x: BuildInfo | undefined;
        if (args[0] !== undefined) {
          x = await buildInfo(redis, b.prefix, b.queue, app, args[0], b.options);
        } else {
          const recent = await listBuilds(redis, b.prefix, b.queue, app.name, {
            ...b.options,
            limit: 100,
          });
          x = recent.find((r) => r.status === 'running') ?? recent.find((r) => !ended(r));
        }
        if (!x || ended(x)) {
          ctx.stdout.write(
            x
              ? `=====> build ${x.id} has already ended (${x.status}); nothing to cancel\n`
              : `=====> ${app.name} has no running or queued build; nothing to cancel\n`,
          );
          return EXIT.ok;
        }
        const reason = `by ${actorName(ctx.actor)}`;
        await requestCancel(redis, b.prefix, x.id, reason);
        if (x.status === 'queued' && (await removeWaiting(b.queue, x.id))) {
          // No worker will ever write its end: do it, so that followers stop.
          await finishBuild(redis, b.prefix, x.id, {
            status: 'failed',
            error: `cancelled: ${reason}`,
          });
          ctx.stdout.write(`-----> Cancelled build ${x.id} (removed from the queue)\n`);
          return EXIT.ok;
        }
        // Running (or it started meanwhile): the worker stops it; wait a little for the end.
        const wait = AbortSignal.any([ctx.signal, AbortSignal.timeout(CANCEL_WAIT_MS)]);
        const result = await followBuild(redis, b.prefix, x.id, () => {}, wait, {
          queue: b.queue,
        }).catch(() => undefined);
        if (result)
          ctx.stdout.write(
            `-----> Cancelled build ${x.id} (${result.status}${result.error ? `: ${result.error}` : ''})\n`,
          );
        else
          ctx.stdout.write(
            `-----> Asked build ${x.id} to stop; "berth builds:info ${app.name} ${x.id}" shows when it has\n`,
          );
        return EXIT.ok;
      });
    },
  },
  {
    name: 'builds:prune',
    usage: '[APP]',
    summary:
      "remove an app's older images and failed builds' layers (no APP: every app's, and what destroyed apps left; admins)",
    access: 'anyone',
    arity: [0, 1],
    async run({ ctx, args }) {
      const store = await ctx.store();
      const config = ctx.config();
      const name = args[0];
      if (name === undefined) requireAdmin(ctx.actor, 'builds:prune without an app');
      else await authorizeApp(store, ctx.actor, name, 'push');
      const docker = await createDockerClient(config);
      const r =
        name === undefined
          ? await pruneAll(docker, store, config.imageRetention)
          : await pruneApp(docker, store, name, config.imageRetention);
      ctx.stdout.write(
        `-----> Removed ${r.removed.length} ${r.removed.length === 1 ? 'image' : 'images and volumes'}, kept ${r.kept.length} (the newest ${config.imageRetention} per app, and those in use)\n`,
      );
      for (const ref of r.removed) ctx.stdout.write(`       removed ${ref}\n`);
      return EXIT.ok;
    },
  },
];

/** Removes a job still waiting; false when a worker holds it (it started meanwhile). */
async function removeWaiting(queue: BuildQueue, id: string): Promise<boolean> {
  const job = await queue.getJob(id);
  if (!job) return false;
  try {
    await job.remove();
    return true;
  } catch {
    return false;
  }
}

/** The durable copy of a build's log, made printable, or undefined when it is gone. */
async function readLogFile(
  buildLogs: string,
  app: string,
  id: string,
): Promise<string | undefined> {
  try {
    const text = await readFile(buildLogFile(buildLogs, app, id), 'utf8');
    return `${text.replace(/\n$/, '').split('\n').map(printable).join('\n')}\n`;
  } catch {
    return undefined;
  }
}
