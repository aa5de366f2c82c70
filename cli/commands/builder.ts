// builder:*, builder-dockerfile:*, buildpacks:* — how an app's pushes are built.

import { BerthError, EXIT } from '../../services/core/errors.ts';
import { BUILDERS } from '../../services/core/store/index.ts';
import {
  addBuildpack,
  builderReport,
  clearBuildpacks,
  DOCKERFILE_SETTINGS,
  removeBuildpack,
  setBuilder,
  setBuildpacks,
  setDockerfileSetting,
} from '../../services/platform/apps/build-settings.ts';
import { shippedBuildpacks } from '../../services/platform/build/shipped-buildpacks.ts';
import type { Command } from '../command.ts';
import { formatOf, json, report } from '../output.ts';
import { writeReport } from '../report.ts';

const pinned = (list: readonly string[]) => (list.length > 0 ? list.join(', ') : 'none (detected)');

export const builderCommands: readonly Command[] = [
  {
    name: 'builder:set',
    usage: `APP selected [${BUILDERS.join('|')}]`,
    summary: 'choose how pushes are built (no value: detect it at each build)',
    access: { app: 'push' },
    arity: [1, 2],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const [key = '', value] = args;
      await setBuilder(await ctx.store(), app, key, value);
      ctx.stdout.write(
        `-----> ${app.name} ${value ? `builds with ${value}` : 'detects its builder at each build'}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'builder:report',
    usage: 'APP [--format json | --builder-KEY]',
    summary:
      'how the app is built, and what the last build chose and why; --builder-selected (or another key) prints that value alone',
    access: { app: 'read' },
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      if (!app) return EXIT.failed;
      const r = await builderReport(await ctx.store(), app);
      const last = r.detected;
      return writeReport(call, {
        namespace: 'builder',
        title: `${app.name} builder information`,
        rows: [
          ['Builder computed selected', r.selected ?? last?.builder ?? ''],
          // Berth detects the builder at each build unless the app pins one.
          ['Builder global selected', ''],
          ['Builder selected', r.selected ?? ''],
          ['Builder dockerfile path', r.dockerfilePath],
          ['Builder build args', r.buildArgs.length > 0 ? r.buildArgs.join(', ') : 'none'],
          ['Builder pinned buildpacks', pinned(r.buildpacks)],
          [
            'Builder last build',
            last
              ? `${last.builder}${last.buildpacks ? ` (${last.buildpacks.join(', ')})` : ''} — ${last.reason} [build ${last.build}, ${last.at}]`
              : 'none yet',
          ],
        ],
        data: r,
      });
    },
  },
  {
    name: 'builder-dockerfile:set',
    usage: `APP ${DOCKERFILE_SETTINGS.join('|')} [VALUE...]`,
    summary: 'the Dockerfile path, or the config vars passed as build args (no value: reset)',
    access: { app: 'push' },
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const [key = '', ...values] = args;
      await setDockerfileSetting(await ctx.store(), app, key, values);
      const shown = values.length > 0 ? values.join(' ') : 'the default';
      ctx.stdout.write(`-----> Set ${key} to ${shown} for ${app.name}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'buildpacks:set',
    usage: 'APP NAME...',
    summary: 'pin the buildpacks to run, in order',
    access: { app: 'push' },
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const list = await setBuildpacks(await ctx.store(), app, args, ctx.config().buildpackUrls);
      ctx.stdout.write(`-----> ${app.name} builds with ${list.join(', ')}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'buildpacks:add',
    usage: 'APP NAME|URL[#REF] [--index N]',
    summary: 'pin one more buildpack (last, or at position N): a name, or a git URL',
    access: { app: 'push' },
    options: { index: { type: 'string' } },
    arity: [1, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      const index = options.index === undefined ? undefined : Number(options.index);
      if (index !== undefined && !(Number.isInteger(index) && index >= 1)) {
        throw new BerthError('BERTH_E_USAGE', { reason: '--index must be a position from 1' });
      }
      const list = await addBuildpack(
        await ctx.store(),
        app,
        args[0] ?? '',
        index,
        ctx.config().buildpackUrls,
      );
      ctx.stdout.write(`-----> ${app.name} builds with ${list.join(', ')}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'buildpacks:remove',
    usage: 'APP NAME',
    summary: 'unpin one buildpack',
    access: { app: 'push' },
    arity: [1, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const list = await removeBuildpack(await ctx.store(), app, args[0] ?? '');
      ctx.stdout.write(`-----> ${app.name} builds with ${pinned(list)}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'buildpacks:clear',
    usage: 'APP',
    summary: 'unpin every buildpack: detect them again',
    access: { app: 'push' },
    arity: [0, 0],
    async run({ ctx, app }) {
      if (!app) return EXIT.failed;
      await clearBuildpacks(await ctx.store(), app);
      ctx.stdout.write(`-----> ${app.name} detects its buildpack at each build\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'buildpacks:list',
    usage: 'APP [--format json]',
    summary: "the app's pinned buildpacks, and the ones Berth ships",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const r = await builderReport(await ctx.store(), app);
      const available = await shippedBuildpacks();
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json({ pinned: r.buildpacks, available }));
        return EXIT.ok;
      }
      ctx.stdout.write(
        report(`${app.name} buildpacks`, [
          ['Pinned', pinned(r.buildpacks)],
          ['Available', available.join(', ')],
        ]),
      );
      return EXIT.ok;
    },
  },
  {
    name: 'buildpacks:report',
    usage: 'APP [--format json | --buildpacks-KEY]',
    summary:
      "the app's pinned buildpacks, and the ones Berth ships; --buildpacks-list prints the pinned ones alone",
    access: { app: 'read' },
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      if (!app) return EXIT.failed;
      const r = await builderReport(await ctx.store(), app);
      const available = await shippedBuildpacks();
      return writeReport(call, {
        namespace: 'buildpacks',
        title: `${app.name} buildpacks information`,
        rows: [
          // Builds run on Berth's one stack (stack:rebuild), not a per-app one.
          ['Buildpacks computed stack', 'berth (Debian 12)'],
          ['Buildpacks global stack', ''],
          ['Buildpacks list', r.buildpacks.join(',')],
          ['Buildpacks stack', ''],
          ['Pinned', pinned(r.buildpacks)],
          ['Available', available.join(', ')],
        ],
        data: { pinned: r.buildpacks, available },
      });
    },
  },
];
