// resource:limit|limit-clear|report — memory and CPUs of an app's instances.

import { BerthError, EXIT } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';
import { describeLimits, setLimits } from '../../services/platform/apps/instance-settings.ts';
import type { Command } from '../command.ts';
import { formatOf, json, table } from '../output.ts';
import { settingChange } from './storage.ts';

export const resourceCommands: readonly Command[] = [
  {
    name: 'resource:limit',
    usage: 'APP [--memory 512m] [--cpus 1] [TYPE] [--no-restart]',
    summary: 'limit the memory and CPUs of a process type (no TYPE: every type without its own)',
    access: { app: 'push' },
    options: {
      memory: { type: 'string' },
      cpus: { type: 'string' },
      'no-restart': { type: 'boolean' },
    },
    arity: [0, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      if (options.memory === undefined && options.cpus === undefined) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `give --memory, --cpus or both (resource:limit-clear ${app.name} removes limits)`,
        });
      }
      await setLimits(await settingChange(ctx, app.name, options), args[0], {
        ...(typeof options.memory === 'string'
          ? { memory: validate.memorySize(options.memory) }
          : {}),
        ...(typeof options.cpus === 'string' ? { cpus: validate.cpuCount(options.cpus) } : {}),
      });
      return EXIT.ok;
    },
  },
  {
    name: 'resource:limit-clear',
    usage: 'APP [TYPE] [--no-restart]',
    summary: 'remove the limits of a process type (no TYPE: the default for every type)',
    access: { app: 'push' },
    options: { 'no-restart': { type: 'boolean' } },
    arity: [0, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      await setLimits(await settingChange(ctx, app.name, options), args[0], {});
      return EXIT.ok;
    },
  },
  {
    name: 'resource:report',
    usage: 'APP [--format json]',
    summary: "the app's limits by process type",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const { resources } = await (await ctx.store()).apps.deploySettings(app.name);
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(resources));
        return EXIT.ok;
      }
      ctx.stdout.write(`=====> ${app.name} resource limits\n`);
      const rows = Object.entries(resources).map(([type, l]) => [
        type === '_all_' ? '(every type)' : type,
        describeLimits(l),
      ]);
      ctx.stdout.write(rows.length > 0 ? table(rows) : '       none\n');
      return EXIT.ok;
    },
  },
];
