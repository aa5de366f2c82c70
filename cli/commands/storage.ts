// storage:mount|unmount|list|hand-over — an app's named volumes, kept across deploys and rollbacks.

import { EXIT } from '../../services/core/errors.ts';
import type { SettingChange } from '../../services/platform/apps/instance-settings.ts';
import {
  appStorage,
  handOverStorage,
  mountStorage,
  unmountStorage,
} from '../../services/platform/apps/storage.ts';
import type { Command, CommandContext, OptionValues } from '../command.ts';
import { formatOf, json, table } from '../output.ts';
import { appScheduler, releaseRun } from '../release-run.ts';
import { writeReport } from '../report.ts';

/** A setting change of `app` from a command, restarting unless --no-restart. */
export async function settingChange(
  ctx: CommandContext,
  app: string,
  options: OptionValues,
): Promise<SettingChange> {
  return { ...(await releaseRun(ctx)), app, restart: options['no-restart'] !== true };
}

export const storageCommands: readonly Command[] = [
  {
    name: 'storage:mount',
    usage: 'APP NAME:/path [--no-restart]',
    summary: "mount the app's volume NAME (made when missing) at /path; kept across deploys",
    access: { app: 'push' },
    options: { 'no-restart': { type: 'boolean' } },
    arity: [1, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      await mountStorage(await settingChange(ctx, app.name, options), args[0] ?? '');
      return EXIT.ok;
    },
  },
  {
    name: 'storage:unmount',
    usage: 'APP NAME:/path [--no-restart]',
    summary: 'unmount it; the volume and its data are kept',
    access: { app: 'push' },
    options: { 'no-restart': { type: 'boolean' } },
    arity: [1, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      await unmountStorage(await settingChange(ctx, app.name, options), args[0] ?? '');
      return EXIT.ok;
    },
  },
  {
    name: 'storage:list',
    usage: 'APP [--format json]',
    summary: "the app's mounts, and volumes of its that nothing mounts",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const store = await ctx.store();
      const volumes = (await appStorage(store, await appScheduler(ctx, app.name), app)).own;
      const { storage } = await store.apps.deploySettings(app.name);
      const rows = [
        // A mount's volume is made with it; null: removed since, behind Berth's back.
        ...storage.map((s) => ({
          ...s,
          volume: volumes.find((v) => v.name === s.name)?.volume ?? null,
        })),
        ...volumes
          .filter((v) => !storage.some((s) => s.name === v.name))
          .map((v) => ({ name: v.name, path: null, volume: v.volume })),
      ];
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(rows));
        return EXIT.ok;
      }
      ctx.stdout.write(`=====> ${app.name} storage\n`);
      if (rows.length === 0) {
        ctx.stdout.write(`       none; storage:mount ${app.name} NAME:/path adds one\n`);
        return EXIT.ok;
      }
      ctx.stdout.write(
        table([
          ['NAME', 'PATH', 'VOLUME'],
          ...rows.map((r) => [r.name, r.path ?? '(not mounted)', r.volume ?? '(missing)']),
        ]),
      );
      return EXIT.ok;
    },
  },
  {
    name: 'storage:report',
    usage: 'APP [--format json | --storage-KEY]',
    summary:
      "Dokku's storage report: the -v mounts of deploys and runs; --storage-deploy-mounts (or another key) prints that value alone",
    access: { app: 'read' },
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      if (!app) return EXIT.failed;
      const store = await ctx.store();
      const volumes = (await appStorage(store, await appScheduler(ctx, app.name), app)).own;
      const { storage } = await store.apps.deploySettings(app.name);
      const mounts = storage
        .map((s) => `-v ${volumes.find((v) => v.name === s.name)?.volume ?? s.name}:${s.path}`)
        .join(' ');
      return writeReport(call, {
        namespace: 'storage',
        title: `${app.name} storage information`,
        rows: [
          // Builds never see an app's volumes; instances and one-off runs all do.
          ['Storage build mounts', ''],
          ['Storage deploy mounts', mounts],
          ['Storage run mounts', mounts],
        ],
        data: { mounts: storage },
      });
    },
  },
  {
    name: 'storage:hand-over',
    usage: 'APP NAME',
    summary:
      'give APP the volume NAME kept from an earlier app of its name, with its data (admins)',
    access: 'admin',
    takesApp: true,
    arity: [2, 2],
    async run({ ctx, args }) {
      const [app = '', name = ''] = args;
      const store = await ctx.store();
      const volume = await handOverStorage(store, await appScheduler(ctx, app), app, name);
      ctx.stdout.write(
        `-----> ${volume} is now ${app}'s; "storage:mount ${app} ${name}:/path" mounts it\n`,
      );
      return EXIT.ok;
    },
  },
];
