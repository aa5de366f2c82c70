// config:* — an app's environment (config vars).

import { BerthError, EXIT } from '../../services/core/errors.ts';
import type { App } from '../../services/core/store/index.ts';
import * as validate from '../../services/core/validate.ts';
import {
  configOf,
  parseAssignments,
  setConfig,
  setGlobalConfig,
  unsetConfig,
} from '../../services/platform/apps/config.ts';
import {
  EXPORT_FORMATS,
  exportConfig,
  IMPORT_FORMATS,
  parseConfigFile,
} from '../../services/platform/apps/config-files.ts';
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
    usage: 'APP|--global KEY=VALUE... [--encoded] [--no-restart]',
    summary:
      "set config vars and release them (--encoded: base64 values; --no-restart: at the next deploy); --global (admins): every app's, under its own, from its next deploy or restart",
    access: { app: 'push' },
    global: 'admin',
    options: { encoded: { type: 'boolean' }, 'no-restart': { type: 'boolean' } },
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args, options }) {
      const vars = parseAssignments(args, options.encoded === true);
      if (!app) {
        const keys = await setGlobalConfig(await ctx.store(), vars);
        ctx.stdout.write(
          `-----> Set ${keys.join(', ')} globally: every app without its own gets them from its next deploy or restart\n`,
        );
        return EXIT.ok;
      }
      const keys = await setConfig(await ctx.store(), app, vars);
      // Keys only: values are often secrets, and terminals are shared and recorded.
      ctx.stdout.write(`-----> Set ${keys.join(', ')} for ${app.name}\n`);
      await apply(ctx, app, options, `Set ${keys.join(', ')} config vars`);
      return EXIT.ok;
    },
  },
  {
    name: 'config:unset',
    usage: 'APP|--global KEY... [--no-restart]',
    summary: 'remove config vars (--global, admins: global ones)',
    access: { app: 'push' },
    global: 'admin',
    options: { 'no-restart': { type: 'boolean' } },
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args, options }) {
      if (!app) {
        const n = await (await ctx.store()).platform.unsetConfig(args);
        ctx.stdout.write(
          n === 0
            ? `-----> None of ${args.join(', ')} was set globally\n`
            : `-----> Unset ${n} global config vars; apps get it from their next deploy or restart\n`,
        );
        return EXIT.ok;
      }
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
    usage: 'APP|--global KEY',
    summary: 'print one config var (not set: nothing printed, exit 1, as on Dokku)',
    access: { app: 'config' },
    global: 'admin',
    arity: [1, 1],
    async run({ ctx, app, args }) {
      const key = validate.envKey(args[0] ?? '');
      const store = await ctx.store();
      const value = (app ? await configOf(store, app) : await store.platform.config())[key];
      // As Dokku: nothing printed, exit 1, so `VALUE=$(berth config:get APP K) || ...` works.
      if (value === undefined) return EXIT.failed;
      ctx.stdout.write(`${value}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'config:show',
    usage: 'APP|--global [--format json] [--shell] [--merged]',
    summary:
      "the app's config vars with their values (--shell: KEY='value' lines; --merged: with the global ones under them); --global (admins): the global ones",
    access: { app: 'config' },
    global: 'admin',
    json: true,
    options: { shell: { type: 'boolean' }, merged: { type: 'boolean' } },
    arity: [0, 0],
    async run({ ctx, app, options }) {
      const vars = await shownConfig(ctx, app, options);
      const title = app ? `${app.name} config vars` : 'global config vars';
      const keys = Object.keys(vars).sort();
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(Object.fromEntries(keys.map((k) => [k, vars[k]]))));
      } else if (options.shell === true) {
        ctx.stdout.write(keys.map((k) => `${k}=${shellQuote(vars[k] ?? '')}\n`).join(''));
      } else if (keys.length === 0) {
        ctx.stdout.write(
          `=====> ${app ? app.name : 'the platform'} has no ${app ? '' : 'global '}config vars\n`,
        );
      } else {
        // One line per var: a value's own newlines are shown as \n.
        const shown = (v: string) => v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
        ctx.stdout.write(
          report(
            title,
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
  {
    name: 'config:clear',
    usage: 'APP [--no-restart]',
    summary: 'remove every config var of the app, and release that',
    access: { app: 'push' },
    options: { 'no-restart': { type: 'boolean' } },
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const keys = Object.keys(await configOf(await ctx.store(), app));
      if (keys.length === 0) {
        ctx.stdout.write(`-----> ${app.name} has no config vars; nothing changed\n`);
        return EXIT.ok;
      }
      const removed = await unsetConfig(await ctx.store(), app, keys);
      ctx.stdout.write(`-----> Cleared ${removed.length} config vars of ${app.name}\n`);
      await apply(ctx, app, options, 'Cleared config vars');
      return EXIT.ok;
    },
  },
  {
    name: 'config:export',
    usage: `APP|--global [--format ${EXPORT_FORMATS.join('|')}] [--merged]`,
    summary:
      'the app\'s config vars for a shell or a file (default exports: eval "$(berth config:export APP)"; --merged: with the global ones under them; --global, admins: the global ones)',
    access: { app: 'config' },
    global: 'admin',
    options: { format: { type: 'string' }, merged: { type: 'boolean' } },
    arity: [0, 0],
    async run({ ctx, app, options }) {
      const format = String(options.format ?? 'exports');
      const text = exportConfig(await shownConfig(ctx, app, options), format);
      ctx.stdout.write(text === '' ? '' : `${text}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'config:import',
    usage: `APP [-] [--format ${IMPORT_FORMATS.join('|')}] [--replace] [--no-restart] < FILE`,
    summary:
      'set the config vars of an envfile or JSON object read from stdin (up to 1 MB; all or none; --replace: unset the others)',
    access: { app: 'push' },
    options: {
      format: { type: 'string' },
      replace: { type: 'boolean' },
      'no-restart': { type: 'boolean' },
    },
    arity: [0, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      if (args[0] !== undefined && args[0] !== '-') {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `Berth reads the file from stdin, not from the server: berth config:import ${app.name} < ${args[0].slice(0, 60)}`,
        });
      }
      const format = String(options.format ?? 'envfile');
      if (!(IMPORT_FORMATS as readonly string[]).includes(format))
        throw new BerthError('BERTH_E_USAGE', {
          reason: `--format must be one of ${IMPORT_FORMATS.join(', ')}`,
        });
      const vars = parseConfigFile(await readBounded(ctx, IMPORT_LIMIT), format);
      const store = await ctx.store();
      const keys = await setConfig(store, app, vars);
      const others =
        options.replace === true
          ? Object.keys(await configOf(store, app)).filter((k) => !(k in vars))
          : [];
      if (others.length > 0) await unsetConfig(store, app, others);
      ctx.stdout.write(
        `-----> Set ${keys.join(', ')} for ${app.name}${others.length > 0 ? `; unset ${others.sort().join(', ')}` : ''}\n`,
      );
      await apply(ctx, app, options, `Imported ${keys.length} config vars`);
      return EXIT.ok;
    },
  },
];

/**
 * The vars config:show and config:export print: the app's own; with
 * --merged, what its instances see (the global ones under its own); with
 * --global (no app), the global ones.
 */
async function shownConfig(
  ctx: CommandContext,
  app: App | undefined,
  options: OptionValues,
): Promise<Record<string, string>> {
  const store = await ctx.store();
  if (!app) return store.platform.config();
  return options.merged === true ? store.config.merged(app.name) : configOf(store, app);
}

/** config:import's input: a config file, not a dump. */
const IMPORT_LIMIT = 1024 * 1024;

async function readBounded(ctx: CommandContext, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.stdin) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > limit)
      throw new BerthError('BERTH_E_USAGE', {
        reason: `the input is larger than ${limit / 1024 / 1024} MB; nothing was set`,
      });
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
