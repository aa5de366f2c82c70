// releases, releases:info, releases:rollback — an app's release history.

import { BerthError, EXIT } from '../../services/core/errors.ts';
import type { Release } from '../../services/core/store/index.ts';
import { releaseVersion, rollback } from '../../services/platform/release/releases.ts';
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
  error: r.error,
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
            ['Status', r.error ? `${r.status}: ${r.error}` : r.status],
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
];
