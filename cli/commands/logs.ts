// logs — an app's output, across its instances and its deploys.

import { isAdmin } from '../../services/core/actor.ts';
import { BerthError, EXIT } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import * as validate from '../../services/core/validate.ts';
import {
  LOGS_PROPERTIES,
  propertyRows,
  setProperty,
} from '../../services/platform/apps/process-settings.ts';
import {
  appLogs,
  archivedLines,
  followAppLogs,
  formatLine,
  logArchiveOf,
} from '../../services/platform/scheduler/app-logs.ts';
import type { Command } from '../command.ts';
import { appScheduler } from '../release-run.ts';
import { writeReport } from '../report.ts';

/** -n: how many lines (default 100). */
function lineCount(value: string | boolean | undefined): number {
  const count = value === undefined ? 100 : Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 10_000) {
    throw new BerthError('BERTH_E_USAGE', { reason: '-n takes a number of lines from 1 to 10000' });
  }
  return count;
}

export const logsCommands: readonly Command[] = [
  {
    name: 'logs',
    usage: 'APP [-n LINES] [-p TYPE] [-t]',
    summary: "the app's output, newest last (-t: then follow it live; -p: one process type)",
    access: { app: 'read' },
    options: {
      num: { type: 'string', short: 'n' },
      ps: { type: 'string', short: 'p' },
      tail: { type: 'boolean', short: 't' },
    },
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const count = lineCount(options.num);
      const type = typeof options.ps === 'string' ? validate.processType(options.ps) : undefined;
      const scheduler = await appScheduler(ctx, app.name);
      const instances = await scheduler.list(app.name);
      const archive = logArchiveOf(dataPaths(ctx.config().dataDir));
      // Before the recent lines are read, so that a line written meanwhile is followed.
      const since = Math.floor(Date.now() / 1000);
      const lines = await appLogs(scheduler, archive, app.name, instances, {
        count,
        ...(type ? { type } : {}),
      });
      for (const l of lines) ctx.stdout.write(`${formatLine(l)}\n`);
      if (options.tail !== true) return EXIT.ok;

      // Live: every running instance's new lines, until the client goes away.
      await followAppLogs(
        scheduler,
        instances,
        {
          since,
          after: lines.at(-1)?.time,
          signal: ctx.signal,
          ...(type ? { type } : {}),
        },
        (l) => ctx.stdout.write(`${formatLine(l)}\n`),
      );
      return EXIT.ok;
    },
  },
  {
    name: 'logs:failed',
    usage: 'APP [-n LINES]',
    summary: 'the last failed deploy: why it failed, and what its new instances wrote',
    access: { app: 'read' },
    options: { num: { type: 'string', short: 'n' } },
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const count = lineCount(options.num);
      const failed = await (await ctx.store()).releases.lastFailed(app.name);
      if (!failed) {
        ctx.stdout.write(`=====> ${app.name} has no failed deploy\n`);
        return EXIT.ok;
      }
      ctx.stdout.write(
        `=====> v${failed.version} of ${app.name} failed (${failed.description}, by ${failed.by}, ${failed.createdAt})\n`,
      );
      if (failed.error) ctx.stdout.write(` !     ${failed.error}\n`);
      // Its instances were removed when it failed; their last lines were kept.
      const archive = logArchiveOf(dataPaths(ctx.config().dataDir));
      const lines = (await archivedLines(archive, app.name))
        .filter((l) => l.release === failed.version)
        .sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0))
        .slice(-count);
      if (lines.length === 0) ctx.stdout.write('       (its instances wrote nothing)\n');
      for (const l of lines) ctx.stdout.write(`${formatLine(l)}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'logs:set',
    usage: 'APP|--global max-size [SIZE|unlimited]',
    summary:
      'max-size: how much output each instance keeps before Docker rotates it (three files of SIZE, 1m to 1g; default 10m; unlimited: admins); --global (admins): for apps that set none; no SIZE: the default. Applied from the next deploy or ps:restart',
    access: { app: 'push' },
    global: 'admin',
    arity: [1, 2],
    async run({ ctx, app, args }) {
      const [key = '', value] = args;
      const admin = isAdmin(ctx.actor);
      await setProperty(await ctx.store(), 'logs:set', LOGS_PROPERTIES, app, key, value, admin);
      const target = app === undefined ? 'every app without its own' : app.name;
      ctx.stdout.write(
        `-----> ${key} of ${target}: ${value === undefined || value === '' ? '(the default)' : value}; applied from the next deploy or ps:restart\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'logs:report',
    usage: '[APP|--global] [--format json | --logs-KEY]',
    summary:
      "how much of the app's output Docker keeps (max-size: the app's, the global, the one applied)",
    access: { app: 'read' },
    global: 'read',
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      const store = await ctx.store();
      const settings = app === undefined ? undefined : await store.apps.deploySettings(app.name);
      return writeReport(call, {
        namespace: 'logs',
        app: app?.name,
        rows: propertyRows(
          'logs',
          LOGS_PROPERTIES,
          settings,
          settings?.global ?? (await store.platform.get()),
        ),
      });
    },
  },
];
