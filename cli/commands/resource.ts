// resource:limit|limit-clear|report — memory, CPUs and processes of an app's
// instances; where the app sets none, BERTH_DEFAULT_MEMORY and _PIDS apply.

import { BerthError, EXIT } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';
import {
  clearLimits,
  describeLimits,
  setLimits,
} from '../../services/platform/apps/instance-settings.ts';
import type { Command } from '../command.ts';
import { formatOf, json, table } from '../output.ts';
import { settingChange } from './storage.ts';

export const resourceCommands: readonly Command[] = [
  {
    name: 'resource:limit',
    usage: 'APP|--global [--memory 512m|512MB] [--cpus 1] [--pids 512] [TYPE] [--no-restart]',
    summary:
      'limit the memory (k, m, g or KB, MB, GB; a bare number is MB), CPUs and processes of a process type (no TYPE: every type without its own); --global (admins): of every app that sets none, over BERTH_DEFAULT_*, from its next deploy or restart',
    access: { app: 'push' },
    global: 'admin',
    options: {
      memory: { type: 'string' },
      cpus: { type: 'string' },
      pids: { type: 'string' },
      'no-restart': { type: 'boolean' },
    },
    arity: [0, 1],
    async run({ ctx, app, args, options }) {
      if (
        options.memory === undefined &&
        options.cpus === undefined &&
        options.pids === undefined
      ) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `give --memory, --cpus, --pids or several (resource:limit-clear ${app?.name ?? '--global'} removes limits)`,
        });
      }
      const limits = {
        ...(typeof options.memory === 'string'
          ? { memory: validate.memorySize(options.memory) }
          : {}),
        ...(typeof options.cpus === 'string' ? { cpus: validate.cpuCount(options.cpus) } : {}),
        ...(typeof options.pids === 'string' ? { pids: validate.pidsLimit(options.pids) } : {}),
      };
      if (!app) {
        // Every type of every app without limits of its own: a type has no meaning here.
        if (args.length > 0) {
          throw new BerthError('BERTH_E_USAGE', {
            reason: '--global limits apply to every process type; give no TYPE',
          });
        }
        const store = await ctx.store();
        const next = { ...(await store.platform.get()).resources, ...limits };
        await store.platform.set('resources', next);
        ctx.stdout.write(
          `-----> Limited every app without limits of its own to ${describeLimits(next)}, from its next deploy or ps:restart\n`,
        );
        return EXIT.ok;
      }
      await setLimits(await settingChange(ctx, app.name, options), args[0], limits);
      return EXIT.ok;
    },
  },
  {
    name: 'resource:limit-clear',
    usage: 'APP|--global [TYPE] [--no-restart]',
    summary:
      "remove a process type's limits (no TYPE: every limit of the app); the defaults apply; --global (admins): the global limits",
    access: { app: 'push' },
    global: 'admin',
    options: { 'no-restart': { type: 'boolean' } },
    arity: [0, 1],
    async run({ ctx, app, args, options }) {
      if (!app) {
        if (args.length > 0) {
          throw new BerthError('BERTH_E_USAGE', { reason: '--global limits have no TYPE' });
        }
        await (await ctx.store()).platform.set('resources', null);
        ctx.stdout.write('-----> Cleared the global limits; BERTH_DEFAULT_* apply\n');
        return EXIT.ok;
      }
      await clearLimits(await settingChange(ctx, app.name, options), args[0]);
      return EXIT.ok;
    },
  },
  {
    name: 'resource:report',
    usage: 'APP|--global [--format json]',
    summary: "the app's limits by process type, and the defaults for types without their own",
    access: { app: 'read' },
    global: 'read',
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      const store = await ctx.store();
      const { memory, pids } = ctx.config().defaultLimits;
      const envDefaults = { ...(memory > 0 ? { memory } : {}), ...(pids > 0 ? { pids } : {}) };
      if (!app) {
        const global = (await store.platform.get()).resources;
        if (formatOf(options) === 'json') {
          ctx.stdout.write(json({ global, environment: envDefaults }));
          return EXIT.ok;
        }
        ctx.stdout.write(
          `=====> Global resource limits\n${table([
            ['(global)', global ? describeLimits(global) : 'none'],
            ['(BERTH_DEFAULT_*)', describeLimits(envDefaults)],
          ])}`,
        );
        return EXIT.ok;
      }
      const { resources, global } = await store.apps.deploySettings(app.name);
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(resources));
        return EXIT.ok;
      }
      ctx.stdout.write(`=====> ${app.name} resource limits\n`);
      const rows = Object.entries(resources).map(([type, l]) => [
        type === '_all_' ? '(every type)' : type,
        describeLimits(l),
      ]);
      // What a type gets where the app sets nothing: resource:limit --global's, else the operator's.
      if (global.resources) rows.push(['(global)', describeLimits(global.resources)]);
      rows.push(['(default)', describeLimits(envDefaults)]);
      rows.push(['(one-off runs)', 'half the CPU weight of an instance when the CPU is busy']);
      ctx.stdout.write(table(rows));
      return EXIT.ok;
    },
  },
];
