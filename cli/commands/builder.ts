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
import { settingRows, writeReport } from '../report.ts';

/** The stack Dokku's buildpacks:report names: Berth's one. */
const STACK = 'berth (Debian 12)';

const pinned = (list: readonly string[]) => (list.length > 0 ? list.join(', ') : 'none (detected)');

export const builderCommands: readonly Command[] = [
  {
    name: 'builder:set',
    usage: `APP|--global selected [${BUILDERS.join('|')}]`,
    summary:
      'choose how pushes are built (no value: the --global choice, else detect it at each build); --global (admins): for apps that choose none',
    access: { app: 'push' },
    global: 'admin',
    arity: [1, 2],
    async run({ ctx, app, args }) {
      const [key = '', value] = args;
      await setBuilder(await ctx.store(), app, key, value);
      // Dokku's words.
      ctx.stdout.write(value ? `=====> Setting ${key} to ${value}\n` : `=====> Unsetting ${key}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'builder:report',
    usage: '[APP|--global] [--format json | --builder-KEY]',
    summary:
      'how the app is built, and what the last build chose and why (no APP: each app you can see); --builder-selected (or another key) prints that value alone',
    access: { app: 'read' },
    global: 'read',
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      const store = await ctx.store();
      if (!app) {
        const global = await store.platform.get();
        return writeReport(call, {
          namespace: 'builder',
          app: undefined,
          rows: settingRows('Builder', 'selected', false, null, global.builder, ''),
        });
      }
      const r = await builderReport(store, app);
      const last = r.detected;
      return writeReport(call, {
        namespace: 'builder',
        app: app.name,
        rows: [
          // No choice anywhere: detected at each build; the last build's is shown.
          ...settingRows(
            'Builder',
            'selected',
            true,
            r.selected,
            r.globalSelected,
            last?.builder ?? '',
          ),
          ['Builder detected', last?.builder ?? ''],
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
    usage: `APP|--global ${DOCKERFILE_SETTINGS.join('|')} [VALUE...]`,
    summary:
      'the Dockerfile path, or the config vars passed as build args (no value: reset); --global (admins): the Dockerfile path of apps that set none',
    access: { app: 'push' },
    global: 'admin',
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args }) {
      const [key = '', ...values] = args;
      await setDockerfileSetting(await ctx.store(), app, key, values);
      const given = values.filter((v) => v !== '');
      ctx.stdout.write(
        given.length > 0
          ? `=====> Setting ${key} to ${given.join(' ')}\n`
          : `=====> Unsetting ${key}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'builder-dockerfile:report',
    usage: '[APP|--global] [--format json | --builder-dockerfile-KEY]',
    summary:
      "the app's Dockerfile path: its own, the --global one and the one builds use (no APP: each app you can see)",
    access: { app: 'read' },
    global: 'read',
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      const store = await ctx.store();
      const global = (await store.platform.get()).dockerfilePath;
      const own = app ? (await store.apps.buildSettings(app.name)).dockerfilePath : null;
      return writeReport(call, {
        namespace: 'builder-dockerfile',
        app: app?.name,
        rows: settingRows(
          'Builder dockerfile',
          'dockerfile path',
          app !== undefined,
          own,
          global,
          'Dockerfile',
        ),
      });
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
    name: 'buildpacks:set-property',
    usage: 'APP|--global stack [IMAGE]',
    summary:
      "Dokku's build stack: every build runs on Berth's one Debian 12 stack (stack:rebuild), so a stack is refused with what to do instead",
    access: { app: 'push' },
    global: 'admin',
    arity: [1, 2],
    async run({ args }) {
      const [key = '', value] = args;
      if (key !== 'stack') {
        throw new BerthError('BERTH_E_UNKNOWN_SETTING', {
          command: 'buildpacks:set-property',
          key: key.slice(0, 40),
          settings: 'stack',
        });
      }
      // No value: back to the default stack, which is the only one.
      if (value === undefined || value === '') return EXIT.ok;
      throw new BerthError('BERTH_E_DOKKU_DIFFERENT', {
        what: 'buildpacks:set-property stack',
        why: "builds run on Berth's one Debian 12 stack, kept up to date by stack:rebuild",
        instead:
          'use a Dockerfile (builder:set APP selected dockerfile) to build on another base image',
      });
    },
  },
  {
    name: 'buildpacks:report',
    usage: '[APP|--global] [--format json | --buildpacks-KEY]',
    summary:
      "the app's pinned buildpacks, and the ones Berth ships (no APP: each app you can see); --buildpacks-list prints the pinned ones alone",
    access: { app: 'read' },
    global: 'read',
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      // Builds run on Berth's one stack (stack:rebuild): no stack is set, per app or globally.
      const stack = settingRows('Buildpacks', 'stack', app !== undefined, null, null, STACK);
      if (!app) {
        return writeReport(call, { namespace: 'buildpacks', app: undefined, rows: stack });
      }
      const r = await builderReport(await ctx.store(), app);
      const available = await shippedBuildpacks();
      return writeReport(call, {
        namespace: 'buildpacks',
        app: app.name,
        rows: [
          ...stack,
          ['Buildpacks list', r.buildpacks.join(',')],
          ['Pinned', pinned(r.buildpacks)],
          ['Available', available.join(', ')],
        ],
        data: { pinned: r.buildpacks, available },
      });
    },
  },
];
