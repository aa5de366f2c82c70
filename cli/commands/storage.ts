// storage:mount|unmount|list|hand-over — an app's named volumes, kept across deploys and rollbacks.

import { actorName } from '../../services/core/actor.ts';
import { BerthError, EXIT } from '../../services/core/errors.ts';
import { requireAdmin } from '../../services/platform/apps/access.ts';
import { bindPolicy } from '../../services/platform/apps/docker-options.ts';
import {
  appsMounting,
  createStorageEntry,
  destroyStorageEntry,
  hostMountOf,
  mountHostDir,
  unmountHostDir,
} from '../../services/platform/apps/host-storage.ts';
import type { SettingChange } from '../../services/platform/apps/instance-settings.ts';
import {
  appStorage,
  handOverStorage,
  mountStorage,
  unmountStorage,
} from '../../services/platform/apps/storage.ts';
import type { Command, CommandContext, OptionValues } from '../command.ts';
import { formatOf, json, report, table } from '../output.ts';
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
    usage:
      'APP NAME:/path [--no-restart] | APP /host/dir:/path[:ro] | APP ENTRY --container-dir /path',
    summary:
      "mount the app's volume NAME (made when missing) at /path; kept across deploys. Admins: a host directory (under $BERTH_DATA_DIR/storage or BERTH_STORAGE_ALLOWED_PATHS) or a storage:create entry, from the next deploy or ps:restart",
    access: { app: 'push' },
    options: { 'no-restart': { type: 'boolean' }, 'container-dir': { type: 'string' } },
    arity: [1, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      const arg = args[0] ?? '';
      const containerDir = options['container-dir'];
      if (arg.startsWith('/') || typeof containerDir === 'string') {
        requireAdmin(ctx.actor, 'storage:mount of a host directory');
        const store = await ctx.store();
        const policy = policyOf(ctx);
        const bind = await hostMountOf(store, arg, containerDir as string | undefined, policy);
        await mountHostDir(store, app, bind, policy);
        ctx.stdout.write(
          `-----> Mounted ${bind} into ${app.name}; applied from the next deploy or ps:restart\n`,
        );
        return EXIT.ok;
      }
      await mountStorage(await settingChange(ctx, app.name, options), arg);
      return EXIT.ok;
    },
  },
  {
    name: 'storage:unmount',
    usage:
      'APP NAME:/path [--no-restart] | APP /host/dir:/path[:ro] | APP ENTRY --container-dir /path',
    summary: 'unmount it; the volume (or host directory) and its data are kept',
    access: { app: 'push' },
    options: { 'no-restart': { type: 'boolean' }, 'container-dir': { type: 'string' } },
    arity: [1, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      const arg = args[0] ?? '';
      const containerDir = options['container-dir'];
      if (arg.startsWith('/') || typeof containerDir === 'string') {
        requireAdmin(ctx.actor, 'storage:unmount of a host directory');
        const store = await ctx.store();
        // No allow-list here: unmounting what is no longer allowed must work.
        const bind = await hostMountOf(store, arg, containerDir as string | undefined, undefined);
        const was = await unmountHostDir(store, app, bind);
        ctx.stdout.write(
          was
            ? `-----> Unmounted ${bind} from ${app.name}; applied from the next deploy or ps:restart\n`
            : `-----> ${bind} was not mounted in ${app.name}; nothing changed\n`,
        );
        return EXIT.ok;
      }
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
    usage: '[APP] [--format json | --storage-KEY]',
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
      const { storage, dockerOptions } = await store.apps.deploySettings(app.name);
      const mounts = storage.map(
        (s) => `-v ${volumes.find((v) => v.name === s.name)?.volume ?? s.name}:${s.path}`,
      );
      // Host directories (admins' storage:mount, docker-options -v), by phase.
      const binds = (phase: readonly string[]) =>
        phase.filter((o) => o.startsWith('--volume=')).map((o) => `-v ${o.slice(9)}`);
      return writeReport(call, {
        namespace: 'storage',
        app: app.name,
        rows: [
          // Builds never see an app's volumes; instances and one-off runs all do.
          ['Storage build mounts', ''],
          ['Storage deploy mounts', [...mounts, ...binds(dockerOptions.deploy)].join(' ')],
          ['Storage run mounts', [...mounts, ...binds(dockerOptions.run)].join(' ')],
          // On a swarm: the node the volumes live on, where the app's instances are pinned.
          ...(volumes.some((v) => v.node !== undefined)
            ? [
                ['Storage node', [...new Set(volumes.map((v) => v.node ?? '-'))].join(' ')] as [
                  string,
                  string,
                ],
              ]
            : []),
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
  {
    name: 'storage:create',
    usage: 'NAME [/host/dir]',
    summary:
      'register a host directory apps can mount (admins): $BERTH_DATA_DIR/storage/NAME (made, owned by the app user), or an existing directory under BERTH_STORAGE_ALLOWED_PATHS',
    access: 'admin',
    arity: [1, 2],
    async run({ ctx, args }) {
      const [name = '', dir] = args;
      const entry = await createStorageEntry(
        await ctx.store(),
        name,
        dir,
        policyOf(ctx),
        actorName(ctx.actor),
      );
      ctx.stdout.write(
        `-----> Storage entry ${entry.name}: ${entry.path}; "storage:mount APP ${entry.name} --container-dir /path" mounts it\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'storage:destroy',
    usage: 'NAME',
    summary:
      'forget a storage entry no app mounts (admins); the directory and its files stay on disk',
    access: 'admin',
    arity: [1, 1],
    async run({ ctx, args }) {
      const entry = await destroyStorageEntry(await ctx.store(), args[0] ?? '');
      ctx.stdout.write(
        `-----> Removed storage entry ${entry.name}; ${entry.path} is left on disk\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'storage:list-entries',
    usage: '[--format json]',
    summary: 'the storage entries admins registered (admins)',
    access: 'admin',
    json: true,
    arity: [0, 0],
    async run({ ctx, options }) {
      const entries = await (await ctx.store()).platform.storageEntries();
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(entries));
        return EXIT.ok;
      }
      ctx.stdout.write(
        `=====> Storage entries\n${table([['NAME', 'PATH', 'BY'], ...entries.map((e) => [e.name, e.path, e.by])])}`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'storage:info',
    usage: 'NAME [--format json]',
    summary: 'one storage entry and the apps that mount it (admins)',
    access: 'admin',
    json: true,
    arity: [1, 1],
    async run({ ctx, args, options }) {
      const store = await ctx.store();
      const entry = await store.platform.storageEntry(args[0] ?? '');
      if (!entry) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `no storage entry ${args[0]} (storage:list-entries)`,
        });
      }
      const apps = await appsMounting(store, entry.path);
      if (formatOf(options) === 'json') ctx.stdout.write(json({ ...entry, apps }));
      else {
        ctx.stdout.write(
          report(`${entry.name} storage entry`, [
            ['Path', entry.path],
            ['Created', entry.createdAt],
            ['By', entry.by],
            ['Mounted by', apps.join(' ')],
          ]),
        );
      }
      return EXIT.ok;
    },
  },
];

/** Where host directories may come from: the storage directory and BERTH_STORAGE_ALLOWED_PATHS. */
const policyOf = (ctx: CommandContext) =>
  bindPolicy(ctx.config().dataDir, ctx.config().storageAllowedPaths);
