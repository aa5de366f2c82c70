// config:* — an app's environment (config vars).

import { BerthError, EXIT } from '../../services/core/errors.ts';
import type { App } from '../../services/core/store/index.ts';
import * as validate from '../../services/core/validate.ts';
import {
  configOf,
  parseAssignments,
  setConfig,
  unsetConfig,
} from '../../services/platform/apps/config.ts';
import { releaseConfig } from '../../services/platform/release/releases.ts';
import type { Command, CommandContext, OptionValues } from '../command.ts';
import { formatOf, json, report } from '../output.ts';
import { releaseRun } from '../release-run.ts';

/** A value as a POSIX shell word: single quotes, with ' written as '\''. */
const shellQuote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;

/**
 * A config change goes live as a new release when the app runs one (unless
 * --no-restart: then at the next deploy); builds use it from the next one on.
 */
async function apply(ctx: CommandContext, app: App, options: OptionValues, what: string) {
  if (options['no-restart'] === true) {
    ctx.stdout.write('       Not restarted (--no-restart): the next deploy uses them.\n');
    return;
  }
  const store = await ctx.store();
  if (!(await store.releases.current(app.name))?.image) {
    ctx.stdout.write('       The app has not been deployed yet: its first deploy uses them.\n');
    return;
  }
  await releaseConfig(await releaseRun(ctx), app, what);
}

export const configCommands: readonly Command[] = [
  {
    name: 'config:set',
    usage: 'APP KEY=VALUE... [--encoded] [--no-restart]',
    summary:
      'set config vars and release them (--encoded: base64 values; --no-restart: at the next deploy)',
    access: { app: 'push' },
    options: { encoded: { type: 'boolean' }, 'no-restart': { type: 'boolean' } },
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      const vars = parseAssignments(args, options.encoded === true);
      const keys = await setConfig(await ctx.store(), app, vars);
      // Keys only: values are often secrets, and terminals are shared and recorded.
      ctx.stdout.write(`-----> Set ${keys.join(', ')} for ${app.name}\n`);
      await apply(ctx, app, options, `Set ${keys.join(', ')} config vars`);
      return EXIT.ok;
    },
  },
  {
    name: 'config:unset',
    usage: 'APP KEY... [--no-restart]',
    summary: 'remove config vars',
    access: { app: 'push' },
    options: { 'no-restart': { type: 'boolean' } },
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      const removed = await unsetConfig(await ctx.store(), app, args);
      if (removed.length === 0) {
        ctx.stdout.write(`-----> None of ${args.join(', ')} was set for ${app.name}\n`);
        return EXIT.ok;
      }
      ctx.stdout.write(`-----> Unset ${removed.join(', ')} for ${app.name}\n`);
      await apply(ctx, app, options, `Unset ${removed.join(', ')} config vars`);
      return EXIT.ok;
    },
  },
  {
    name: 'config:get',
    usage: 'APP KEY',
    summary: 'print one config var (exit 1 when it is not set)',
    access: { app: 'config' },
    arity: [1, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const key = validate.envKey(args[0] ?? '');
      const value = (await configOf(await ctx.store(), app))[key];
      if (value === undefined) {
        throw new BerthError('BERTH_E_CONFIG_NOT_SET', { app: app.name, key });
      }
      ctx.stdout.write(`${value}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'config:show',
    usage: 'APP [--format json] [--shell]',
    summary: "the app's config vars with their values (--shell: KEY='value' lines)",
    access: { app: 'config' },
    json: true,
    options: { shell: { type: 'boolean' } },
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const vars = await configOf(await ctx.store(), app);
      const keys = Object.keys(vars).sort();
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(Object.fromEntries(keys.map((k) => [k, vars[k]]))));
      } else if (options.shell === true) {
        ctx.stdout.write(keys.map((k) => `${k}=${shellQuote(vars[k] ?? '')}\n`).join(''));
      } else if (keys.length === 0) {
        ctx.stdout.write(`=====> ${app.name} has no config vars\n`);
      } else {
        // One line per var: a value's own newlines are shown as \n.
        const shown = (v: string) => v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
        ctx.stdout.write(
          report(
            `${app.name} config vars`,
            keys.map((k) => [k, shown(vars[k] ?? '')] as const),
          ),
        );
      }
      return EXIT.ok;
    },
  },
  {
    name: 'config:keys',
    usage: 'APP [--format json]',
    summary: "the names of the app's config vars, without values",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const keys = Object.keys(await configOf(await ctx.store(), app)).sort();
      ctx.stdout.write(
        formatOf(options) === 'json' ? json(keys) : keys.map((k) => `${k}\n`).join(''),
      );
      return EXIT.ok;
    },
  },
];
