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
    usage: 'APP [--memory 512m] [--cpus 1] [--pids 512] [TYPE] [--no-restart]',
    summary:
      'limit the memory, CPUs and processes of a process type (no TYPE: every type without its own)',
    access: { app: 'push' },
    options: {
      memory: { type: 'string' },
      cpus: { type: 'string' },
      pids: { type: 'string' },
      'no-restart': { type: 'boolean' },
    },
    arity: [0, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      if (
        options.memory === undefined &&
        options.cpus === undefined &&
        options.pids === undefined
      ) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `give --memory, --cpus, --pids or several (resource:limit-clear ${app.name} removes limits)`,
        });
      }
      await setLimits(await settingChange(ctx, app.name, options), args[0], {
        ...(typeof options.memory === 'string'
          ? { memory: validate.memorySize(options.memory) }
          : {}),
        ...(typeof options.cpus === 'string' ? { cpus: validate.cpuCount(options.cpus) } : {}),
        ...(typeof options.pids === 'string' ? { pids: validate.pidsLimit(options.pids) } : {}),
      });
      return EXIT.ok;
    },
  },
  {
    name: 'resource:limit-clear',
    usage: 'APP [TYPE] [--no-restart]',
    summary: "remove a process type's limits (no TYPE: every limit of the app); the defaults apply",
    access: { app: 'push' },
    options: { 'no-restart': { type: 'boolean' } },
    arity: [0, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      await clearLimits(await settingChange(ctx, app.name, options), args[0]);
      return EXIT.ok;
    },
  },
  {
    name: 'resource:report',
    usage: 'APP [--format json]',
    summary: "the app's limits by process type, and the defaults for types without their own",
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
      // What a type gets where the app sets nothing: the operator's defaults.
      const { memory, pids } = ctx.config().defaultLimits;
      rows.push([
        '(default)',
        describeLimits({ ...(memory > 0 ? { memory } : {}), ...(pids > 0 ? { pids } : {}) }),
      ]);
      rows.push(['(one-off runs)', 'half the CPU weight of an instance when the CPU is busy']);
      ctx.stdout.write(table(rows));
      return EXIT.ok;
    },
  },
];
