// cron:list|run|report|suspend|resume|logs — app.json's scheduled tasks, Dokku's grammar.

import { BerthError, EXIT } from '../../services/core/errors.ts';
import type { App } from '../../services/core/store/index.ts';
import { authorizeApp, mayAccess } from '../../services/platform/apps/access.ts';
import {
  type CronListing,
  cronIdOf,
  cronOutput,
  enqueueCronRun,
  listCron,
  recordedRun,
  setSuspended,
  taskOf,
} from '../../services/platform/release/cron.ts';
import { runCommand } from '../../services/platform/release/one-off.ts';
import type { Command, CommandContext } from '../command.ts';
import { formatOf, json, report, table } from '../output.ts';
import { schedulerDeps } from '../release-run.ts';

const when = (iso: string | undefined) => (iso ? iso.replace(/\.\d{3}Z$/, 'Z') : '-');

/** The last run in a few words: `succeeded 2026-…Z`, `failed (exit 3) …`, with `late` said. */
function lastRun(t: CronListing): string {
  const r = t.last;
  if (!r) return 'never';
  const how =
    r.status === 'running'
      ? 'running'
      : r.status === 'failed' && r.exitCode !== undefined
        ? `failed (exit ${r.exitCode})`
        : r.status;
  const late = r.late ? ` late: due ${when(r.dueAt)}, Berth was not running` : '';
  const note = r.note ? `; ${r.note}` : '';
  return `${how} ${when(r.startedAt)}${late}${note}`;
}

const suspend = (verb: 'suspend' | 'resume'): Command => ({
  name: `cron:${verb}`,
  usage: 'APP ID',
  summary:
    verb === 'suspend'
      ? 'stop a cron task from running on its schedule (it stays listed; cron:run still runs it)'
      : 'let a suspended cron task run on its schedule again',
  access: { app: 'push' },
  arity: [1, 1],
  async run({ ctx, app, args }) {
    if (!app) return EXIT.failed;
    const id = cronIdOf(app.name, args[0] ?? '');
    await setSuspended(await ctx.store(), app.name, id, verb === 'suspend');
    ctx.stdout.write(
      `-----> cron task ${id} of ${app.name} ${verb === 'suspend' ? 'suspended' : 'resumed'}\n`,
    );
    return EXIT.ok;
  },
});

/** The report's fields, as `--cron-<name>` flags select them. */
async function reportOf(ctx: CommandContext, app: App): Promise<[string, string, string][]> {
  const tasks = await listCron(await ctx.store(), app.name);
  const next = tasks
    .map((t) => t.next)
    .filter((n): n is string => n !== undefined)
    .sort()[0];
  return [
    ['task-count', 'Cron task count', String(tasks.length)],
    [
      'suspended-count',
      'Cron suspended count',
      String(tasks.filter((t) => t.suspended || t.maintenance).length),
    ],
    ['next-run', 'Cron next run', when(next)],
  ];
}

const REPORT_FLAGS = ['task-count', 'suspended-count', 'next-run'] as const;

export const cronCommands: readonly Command[] = [
  {
    name: 'cron:list',
    usage: 'APP [--format json]',
    summary:
      "the app's cron tasks (app.json `cron`): id, schedule, command, last run and how it went (late: it ran when Berth came back), next run",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const tasks = await listCron(await ctx.store(), app.name);
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(tasks.map((t) => ({ app: app.name, ...t }))));
        return EXIT.ok;
      }
      if (tasks.length === 0) {
        ctx.stdout.write(`${app.name} has no cron tasks (app.json "cron" adds them)\n`);
        return EXIT.ok;
      }
      ctx.stdout.write(
        table([
          ['ID', 'SCHEDULE', 'COMMAND', 'NEXT', 'LAST'],
          ...tasks.map((t) => [
            t.id,
            t.schedule,
            t.command.length > 60 ? `${t.command.slice(0, 60)}…` : t.command,
            t.suspended ? 'suspended' : t.maintenance ? 'maintenance' : when(t.next),
            lastRun(t),
          ]),
        ]),
      );
      return EXIT.ok;
    },
  },
  {
    name: 'cron:run',
    usage: 'APP ID [--detach]',
    summary:
      'run a cron task now in a new container of the current release, attached like run; --detach: the builder runs it under its concurrency_policy (cron:list shows how it went)',
    access: { app: 'push' },
    options: { detach: { type: 'boolean' } },
    arity: [1, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      const store = await ctx.store();
      const id = cronIdOf(app.name, args[0] ?? '');
      if (options.detach === true) {
        await enqueueCronRun(store, app.name, id);
        ctx.stdout.write(
          `-----> cron task ${id} of ${app.name} queued; cron:list ${app.name} shows how it went, cron:logs ${app.name} ${id} its output\n`,
        );
        return EXIT.ok;
      }
      const task = await taskOf(store, app.name, id);
      const deps = await schedulerDeps(ctx);
      return recordedRun(store, app.name, id, () =>
        runCommand(
          store,
          deps,
          app,
          task.command,
          { stdin: ctx.stdin, stdout: ctx.stdout, stderr: ctx.stderr },
          ctx.signal,
        ),
      );
    },
  },
  {
    name: 'cron:logs',
    usage: 'APP ID',
    summary: "the last lines (up to 100) a cron task's last scheduled or detached run wrote",
    access: { app: 'read' },
    arity: [1, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const store = await ctx.store();
      const id = cronIdOf(app.name, args[0] ?? '');
      await taskOf(store, app.name, id);
      for (const line of await cronOutput(store, app.name, id)) ctx.stdout.write(`${line}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'cron:report',
    usage: '[APP] [--cron-FLAG] [--format json]',
    summary: `cron tasks of an app, or of every app you may see: how many, suspended, the next run; one of them alone with ${REPORT_FLAGS.map((f) => `--cron-${f}`).join(', ')}`,
    access: 'anyone',
    json: true,
    options: Object.fromEntries(
      REPORT_FLAGS.map((f) => [`cron-${f}`, { type: 'boolean' as const }]),
    ),
    arity: [0, 1],
    async run({ ctx, args, options }) {
      const store = await ctx.store();
      const apps = args[0]
        ? [await authorizeApp(store, ctx.actor, args[0], 'read')]
        : (await store.apps.list()).filter((a) => mayAccess(ctx.actor, a, 'read'));
      const flags = REPORT_FLAGS.filter((f) => options[`cron-${f}`] === true);
      if (flags.length > 1) {
        throw new BerthError('BERTH_E_USAGE', { reason: 'give one --cron-* flag at most' });
      }
      const flag = flags[0];
      if (flag && apps.length !== 1) {
        throw new BerthError('BERTH_E_USAGE', { reason: `--cron-${flag} needs an app` });
      }
      const reports = [];
      for (const app of apps) reports.push([app, await reportOf(ctx, app)] as const);
      if (flag) {
        const value = reports[0]?.[1].find(([f]) => f === flag)?.[2] ?? '';
        ctx.stdout.write(`${value}\n`);
      } else if (formatOf(options) === 'json') {
        ctx.stdout.write(
          json(
            Object.fromEntries(
              reports.map(([app, r]) => [
                app.name,
                Object.fromEntries(r.map(([f, , v]) => [f, v])),
              ]),
            ),
          ),
        );
      } else {
        for (const [app, r] of reports) {
          ctx.stdout.write(
            report(
              `${app.name} cron information`,
              r.map(([, k, v]) => [k, v]),
            ),
          );
        }
      }
      return EXIT.ok;
    },
  },
  suspend('suspend'),
  suspend('resume'),
];
