// releases, releases:info, releases:rollback, ps:scale, ps:report — an app's
// release history and what runs of it.
import { parseScale, releaseVersion, rollback, scale } from '../../services/apps/releases.ts';
import { createDockerClient } from '../../services/core/docker.ts';
import { BerthError, EXIT } from '../../services/core/errors.ts';
import type { Release } from '../../services/core/store/index.ts';
import * as validate from '../../services/core/validate.ts';
import { DockerLocal } from '../../services/deployer/docker-local.ts';
import { restart } from '../../services/deployer/release-change.ts';
import type { Command } from '../command.ts';
import { formatOf, json, report, table } from '../output.ts';
import { releaseRun } from '../release-run.ts';

const summary = (r: Release) => ({
  version: r.version,
  description: r.description,
  by: r.by,
  createdAt: r.createdAt,
  image: r.image,
  status: r.status,
  formation: r.formation,
});

export const releasesCommands: readonly Command[] = [
  {
    name: 'releases',
    usage: 'APP [--format json]',
    summary: "the app's releases, newest first: what changed, who, when, image, status",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const list = await (await ctx.store()).releases.list(app.name, { limit: 50 });
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(list.map(summary)));
        return EXIT.ok;
      }
      if (list.length === 0) {
        ctx.stdout.write(`=====> ${app.name} has no releases yet\n`);
        return EXIT.ok;
      }
      ctx.stdout.write(`=====> ${app.name} releases\n`);
      ctx.stdout.write(
        table(
          list.map((r) => [
            `v${r.version}`,
            r.status,
            r.description,
            r.by,
            r.createdAt.replace(/\.\d+Z$/, 'Z'),
            r.image ?? '-',
          ]),
        ),
      );
      return EXIT.ok;
    },
  },
  {
    name: 'releases:info',
    usage: 'APP vN [--format json]',
    summary: 'one release: its image, process types, formation and config keys',
    access: { app: 'read' },
    json: true,
    arity: [1, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      const version = releaseVersion(args[0] ?? '');
      const r = await (await ctx.store()).releases.get(app.name, version);
      if (!r)
        throw new BerthError('BERTH_E_RELEASE_NOT_FOUND', {
          app: app.name,
          version: `v${version}`,
        });
      // Config values stay out: config:show is where they are shown.
      const data = {
        ...summary(r),
        processes: r.processes,
        configKeys: Object.keys(r.config).sort(),
      };
      if (formatOf(options) === 'json') ctx.stdout.write(json(data));
      else {
        ctx.stdout.write(
          report(`${app.name} v${r.version}`, [
            ['Status', r.status],
            ['Change', r.description],
            ['By', r.by],
            ['Created', r.createdAt],
            ['Image', r.image ?? '-'],
            [
              'Formation',
              Object.entries(r.formation)
                .map(([t, n]) => `${t}=${n}`)
                .join(' ') || '-',
            ],
            [
              'Processes',
              Object.entries(r.processes)
                .map(([t, c]) => `${t}: ${c ?? "(the image's CMD)"}`)
                .join('; ') || '-',
            ],
            ['Config keys', data.configKeys.join(', ') || '-'],
          ]),
        );
      }
      return EXIT.ok;
    },
  },
  {
    name: 'releases:rollback',
    usage: 'APP [vN]',
    summary:
      "a new release with vN's image and config (default: the one before the current), rolled out",
    access: { app: 'push' },
    arity: [0, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const target = args[0] === undefined ? undefined : releaseVersion(args[0]);
      await rollback(await releaseRun(ctx), app, target);
      return EXIT.ok;
    },
  },
  {
    name: 'ps:scale',
    usage: 'APP [TYPE=COUNT...]',
    summary: 'how many instances of each process type run (no counts: show them)',
    access: { app: 'push' },
    arity: [0, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      if (args.length === 0) {
        const current = await (await ctx.store()).releases.current(app.name);
        const rows = Object.keys(current?.processes ?? {}).map((t) => [
          t,
          String(current?.formation[t] ?? 0),
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
      await restart({
        ...(await releaseRun(ctx)),
        app: app.name,
        ...(args[0] === undefined ? {} : { type: validate.processType(args[0]) }),
      });
      ctx.stdout.write(`-----> Restarted ${args[0] ?? 'every process'} of ${app.name}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'ps:report',
    usage: 'APP [--format json]',
    summary: "each of the app's instances: state, release, uptime, restarts, last exit code",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const instances = await new DockerLocal(await createDockerClient(ctx.config())).list(
        app.name,
      );
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(instances));
        return EXIT.ok;
      }
      const uptime = (since: string | undefined) => {
        if (!since) return '-';
        const s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
        return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
      };
      ctx.stdout.write(`=====> ${app.name} processes\n`);
      ctx.stdout.write(
        table([
          ['INSTANCE', 'RELEASE', 'STATE', 'UP', 'RESTARTS', 'EXIT'],
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
          ]),
        ]),
      );
      return EXIT.ok;
    },
  },
];
