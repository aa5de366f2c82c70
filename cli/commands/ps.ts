// ps:* — what runs of an app: scale, restart, stop, start, rebuild, report.

import { isAdmin } from '../../services/core/actor.ts';
import { EXIT } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import * as validate from '../../services/core/validate.ts';
import {
  PS_PROPERTIES,
  propertyRows,
  setProperty,
} from '../../services/platform/apps/process-settings.ts';
import { rebuild } from '../../services/platform/build/rebuild.ts';
import {
  restart,
  startProcesses,
  stopProcesses,
} from '../../services/platform/release/release-change.ts';
import {
  parseScale,
  recordFirstFormation,
  scale,
} from '../../services/platform/release/releases.ts';
import type { Command } from '../command.ts';
import { table } from '../output.ts';
import { appScheduler, buildExit, buildRun, releaseRun } from '../release-run.ts';
import { writeReport } from '../report.ts';

/** The optional TYPE argument, checked. */
const typeArg = (args: string[]) =>
  args[0] === undefined ? {} : { type: validate.processType(args[0]) };

export const psCommands: readonly Command[] = [
  {
    name: 'ps:scale',
    usage: 'APP [TYPE=COUNT...]',
    summary: 'how many instances of each process type run (no counts: show them)',
    access: { app: 'push' },
    arity: [0, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const store = await ctx.store();
      const current = await store.releases.current(app.name);
      if (!current?.image) {
        // Before the first deploy the counts are recorded for it, as on Dokku.
        const recorded =
          args.length === 0
            ? (await store.apps.deploySettings(app.name)).firstFormation
            : await recordFirstFormation(store, app, parseScale(args));
        if (args.length > 0)
          ctx.stdout.write(
            `-----> Recorded ${Object.entries(recorded)
              .map(([t, n]) => `${t}=${n}`)
              .join(' ')} for ${app.name}: its first deploy starts these\n`,
          );
        else
          ctx.stdout.write(
            `=====> ${app.name} formation (not deployed yet)\n${table(Object.entries(recorded).map(([t, n]) => [t, String(n)]))}`,
          );
        return EXIT.ok;
      }
      if (args.length === 0) {
        const rows = Object.keys(current.processes).map((t) => [
          t,
          String(current.formation[t] ?? 0),
        ]);
        ctx.stdout.write(`=====> ${app.name} formation\n${table(rows)}`);
        return EXIT.ok;
      }
      await scale(await releaseRun(ctx), app, parseScale(args));
      return EXIT.ok;
    },
  },
  {
    name: 'ps:restart',
    usage: 'APP [TYPE]',
    summary: "start the current release's instances again (of one type), rolled out as a deploy",
    access: { app: 'push' },
    arity: [0, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      await restart({ ...(await releaseRun(ctx)), app: app.name, ...typeArg(args) });
      ctx.stdout.write(`-----> Restarted ${args[0] ?? 'every process'} of ${app.name}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'ps:stop',
    usage: 'APP [TYPE]',
    summary:
      "stop the app's instances (of one type); they stay stopped through deploys until ps:start",
    access: { app: 'push' },
    arity: [0, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      await stopProcesses({ ...(await releaseRun(ctx)), app: app.name, ...typeArg(args) });
      ctx.stdout.write(
        `-----> Stopped ${args[0] ?? 'every process'} of ${app.name}; "ps:start ${app.name}" starts it again\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'ps:start',
    usage: 'APP [TYPE]',
    summary: 'start what ps:stop stopped (of one type), rolled out as a deploy',
    access: { app: 'push' },
    arity: [0, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      await startProcesses({ ...(await releaseRun(ctx)), app: app.name, ...typeArg(args) });
      return EXIT.ok;
    },
  },
  {
    name: 'ps:rebuild',
    usage: 'APP',
    summary: 'build the deploy branch as last pushed again and release it',
    access: { app: 'push' },
    arity: [0, 0],
    async run({ ctx, app }) {
      if (!app) return EXIT.failed;
      const result = await rebuild({
        ...(await buildRun(ctx, app.name)),
        paths: dataPaths(ctx.config().dataDir),
      });
      return buildExit(ctx, result, 'the rebuild failed');
    },
  },
  {
    name: 'ps:set',
    usage: `APP|--global ${Object.keys(PS_PROPERTIES).join('|')} [VALUE]`,
    summary:
      'restart-policy (no, always, unless-stopped, on-failure[:N]), stop-timeout-seconds (SIGTERM to SIGKILL) or procfile-path (from the next build) of the app, or (admins) --global for apps that set none; no VALUE: the default. Applied from the next deploy or ps:restart',
    access: { app: 'push' },
    global: 'admin',
    arity: [1, 2],
    async run({ ctx, app, args }) {
      const [key = '', value] = args;
      const store = await ctx.store();
      await setProperty(store, 'ps:set', PS_PROPERTIES, app, key, value, isAdmin(ctx.actor));
      const target = app === undefined ? 'every app without its own' : app.name;
      ctx.stdout.write(
        `-----> ${key} of ${target}: ${value === undefined || value === '' ? '(the default)' : value}; applied from the next ${key === 'procfile-path' ? 'build' : `deploy or ps:restart`}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'ps:report',
    usage: '[APP|--global] [--format json | --ps-KEY | --deployed | --processes | --running]',
    summary:
      "each of the app's instances: state, release, uptime, restarts, last exit code; Dokku's flags (--running, --ps-can-scale...) print one value",
    access: { app: 'read' },
    global: 'read',
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      const store = await ctx.store();
      if (!app) {
        return writeReport(call, {
          namespace: 'ps',
          app: undefined,
          rows: propertyRows('ps', PS_PROPERTIES, undefined, await store.platform.get()),
        });
      }
      const settings = await store.apps.deploySettings(app.name);
      const instances = await (await appScheduler(ctx, app.name)).list(app.name);
      const current = await store.releases.current(app.name);
      const running = instances.filter((i) => i.state === 'running').length;
      const uptime = (since: string | undefined) => {
        if (!since) return '-';
        const s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
        return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
      };
      const rows: [string, string][] = [
        ['Deployed', String(Boolean(current?.image))],
        ['Processes', String(instances.length)],
        // app.json's formation owns the counts: ps:scale is refused then, as on Dokku.
        ['Ps can scale', String(current?.formationFrom !== 'app.json')],
        ...propertyRows('ps', PS_PROPERTIES, settings, settings.global),
        ['Running', running > 0 ? (running === instances.length ? 'true' : 'mixed') : 'false'],
      ];
      // On several machines (swarm), which one each instance runs on.
      const nodes = instances.some((i) => i.node !== undefined);
      return writeReport(call, {
        namespace: 'ps',
        app: app.name,
        rows,
        // Berth's JSON: the instances, as it has always printed them.
        data: instances,
        after: `=====> ${app.name} processes\n${table([
          ['INSTANCE', 'RELEASE', 'STATE', 'UP', 'RESTARTS', 'EXIT', ...(nodes ? ['NODE'] : [])],
          ...instances.map((i) => [
            `${i.type}.${i.instance}`,
            `v${i.release}`,
            // A process that keeps exiting is shown as crashed, with its code.
            i.state === 'restarting' || (i.state === 'exited' && i.restarts > 0)
              ? 'crashed'
              : i.state,
            i.state === 'running' ? uptime(i.startedAt) : '-',
            String(i.restarts),
            i.exitCode === undefined ? '-' : String(i.exitCode),
            ...(nodes ? [i.node ?? '-'] : []),
          ]),
        ])}`,
      });
    },
  },
];
