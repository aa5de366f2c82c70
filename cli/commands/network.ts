// network:* — links between apps, as Dokku's commands. Each app has a network
// of its own; admins make shared networks, and an app's owner attaches the
// app to one where it should reach, and be reached by, the other apps on it.

import { BerthError, EXIT } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';
import {
  appsOn,
  attachNetworks,
  createNetwork,
  destroyNetwork,
  requireNetwork,
} from '../../services/platform/apps/networks.ts';
import { everyScheduler } from '../../services/platform/scheduler/schedulers.ts';
import type { Command } from '../command.ts';
import { formatOf, json, table } from '../output.ts';
import { appScheduler, schedulerDeps } from '../release-run.ts';
import { type ReportRow, settingRows, writeReport } from '../report.ts';
import { settingChange } from './storage.ts';

const ATTACH = 'attach-post-deploy';

export const networkCommands: readonly Command[] = [
  {
    name: 'network:create',
    usage: 'NAME',
    summary: 'make a shared network apps can be attached to (admins: it joins tenants)',
    access: 'admin',
    arity: [1, 1],
    async run({ ctx, args }) {
      const network = await createNetwork(await ctx.store(), ctx.actor, args[0] ?? '');
      ctx.stdout.write(
        `-----> Created network ${network.name}; "network:set APP ${ATTACH} ${network.name}" attaches an app\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'network:destroy',
    usage: 'NAME',
    summary: 'remove a shared network no app is attached to (admins)',
    access: 'admin',
    arity: [1, 1],
    async run({ ctx, args }) {
      const name = args[0] ?? '';
      await destroyNetwork(await ctx.store(), everyScheduler(await schedulerDeps(ctx)), name);
      ctx.stdout.write(`-----> Destroyed network ${name}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'network:list',
    usage: '[--format json]',
    summary: 'the shared networks an app can be attached to',
    access: 'anyone',
    json: true,
    arity: [0, 0],
    async run({ ctx, options }) {
      const networks = await (await ctx.store()).networks.list();
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(networks.map(({ name, createdAt }) => ({ name, createdAt }))));
        return EXIT.ok;
      }
      ctx.stdout.write('=====> Networks\n');
      if (networks.length === 0) {
        ctx.stdout.write('       none; an admin makes one with network:create NAME\n');
      }
      for (const n of networks) ctx.stdout.write(`${n.name}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'network:info',
    usage: 'NAME [--format json]',
    summary:
      'a shared network: who made it, its address range, the apps attached and on it now (admins)',
    access: 'admin',
    json: true,
    arity: [1, 1],
    async run({ ctx, args, options }) {
      const store = await ctx.store();
      const network = await requireNetwork(store, args[0] ?? '');
      const apps = await appsOn(store, network.name);
      const schedulers = everyScheduler(await schedulerDeps(ctx));
      const found = (await Promise.all(schedulers.map((s) => s.sharedNetwork(network.name)))).find(
        (n) => n !== undefined,
      );
      const info = {
        ...network,
        apps,
        engineName: found?.name ?? null,
        subnet: found?.subnet ?? null,
        members: found?.members ?? [],
      };
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(info));
        return EXIT.ok;
      }
      ctx.stdout.write(`=====> ${network.name} network information\n`);
      ctx.stdout.write(
        table([
          ['Created:', `${info.createdAt} by ${info.by}`],
          ['Attached apps:', apps.join(' ') || '(none)'],
          ['Engine name:', info.engineName ?? '(made when an attached app starts)'],
          ['Subnet:', info.subnet ?? '-'],
          ['Containers on it:', info.members.join(' ') || '(none)'],
        ]).replace(/^/gm, '       '),
      );
      return EXIT.ok;
    },
  },
  {
    name: 'network:report',
    usage: '[APP|--global] [--format json | --network-KEY]',
    summary:
      "an app's network and the shared networks it is attached to (no APP: every app you can see); --network-attach-post-deploy (or another key) prints that value alone",
    access: { app: 'read' },
    global: 'read',
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      // Berth has no platform-wide network setting: each app starts on a
      // network of its own (Dokku's initial network), and an owner attaches
      // it to shared ones (network:set APP attach-post-deploy).
      const computed = (property: string, builtin: string): ReportRow[] =>
        settingRows('Network', property, app !== undefined, null, null, builtin);
      if (!app) {
        return writeReport(call, {
          namespace: 'network',
          app: undefined,
          rows: [...computed('attach post deploy', ''), ...computed('initial network', '')],
        });
      }
      const { networks } = await (await ctx.store()).apps.deploySettings(app.name);
      const own = await (await appScheduler(ctx, app.name)).appNetwork(app.name);
      const data = {
        app: app.name,
        network: own?.name ?? null,
        subnet: own?.subnet ?? null,
        attachPostDeploy: networks,
      };
      return writeReport(call, {
        namespace: 'network',
        app: app.name,
        rows: [
          ...settingRows(
            'Network',
            'attach post deploy',
            true,
            networks.length > 0 ? networks.join(' ') : null,
            null,
            '',
          ),
          ...computed('initial network', own?.name ?? ''),
          ['Network subnet', own?.subnet ?? ''],
        ],
        data,
      });
    },
  },
  {
    name: 'network:set',
    usage: `APP|--global ${ATTACH} [NAME...] [--no-restart]`,
    summary:
      'attach the app to shared networks an admin made, where it reaches and is reached by the other apps attached (as APP for web, TYPE.APP); no NAME: detach it from all. Its instances join when they start; restarts the app unless --no-restart (owners and admins). --global: refused (attach each app)',
    // Attaching opens the app to every other app on the network: the owner's call.
    access: { app: 'manage' },
    global: 'admin',
    options: { 'no-restart': { type: 'boolean' } },
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args, options }) {
      const [key = '', ...names] = args;
      if (!app) {
        throw new BerthError('BERTH_E_DOKKU_DIFFERENT', {
          what: `network:set --global ${key.slice(0, 40)}`,
          why: "a network every app joins would join every tenant's apps; each app starts on a network of its own",
          instead: `attach the apps that should meet to a shared network: network:create NAME, then network:set APP ${ATTACH} NAME`,
        });
      }
      if (key !== ATTACH) {
        throw new BerthError('BERTH_E_UNKNOWN_SETTING', {
          command: 'network:set',
          key: key.slice(0, 40),
          settings: ATTACH,
        });
      }
      // Checked before anything is saved, each with its own line.
      for (const n of names) validate.networkName(n);
      await attachNetworks(await settingChange(ctx, app.name, options), names);
      return EXIT.ok;
    },
  },
];
