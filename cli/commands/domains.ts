// domains:* — the names an app is served at besides <app>.<BERTH_DOMAIN>, as
// Dokku's commands. Every change is all-or-nothing and reaches every router
// at once (the store publishes it).

import { EXIT } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import type { App } from '../../services/core/store/index.ts';
import * as validate from '../../services/core/validate.ts';
import {
  addGlobalDomains,
  type ChangeMode,
  changeDomains,
  type DomainEntry,
  type DomainsSetting,
  domainsReport,
} from '../../services/platform/apps/domains.ts';
import type { Command, CommandContext } from '../command.ts';
import { formatOf, json, table } from '../output.ts';
import { writeReport } from '../report.ts';

const settingOf = (ctx: CommandContext): DomainsSetting => {
  const config = ctx.config();
  return {
    base: config.domain,
    statusHost: config.statusHost,
    paths: dataPaths(config.dataDir),
  };
};

const list = (names: readonly string[]) => names.join(', ');

/** Lines of a table under a report's ===== title. */
const indent = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => `       ${line}\n`)
    .join('');

const change = (
  name: string,
  mode: ChangeMode | 'clear',
  usage: string,
  summary: string,
  print: (app: string, r: { current: string[]; added: string[]; removed: string[] }) => string,
): Command => ({
  name,
  usage,
  summary,
  access: { app: 'push' },
  arity: mode === 'clear' ? [0, 0] : [1, Number.POSITIVE_INFINITY],
  async run({ ctx, app, args }) {
    if (!app) return EXIT.failed;
    const store = await ctx.store();
    const { added, removed } = await changeDomains(
      store,
      ctx.actor,
      settingOf(ctx),
      app,
      mode === 'clear' ? 'set' : mode,
      args,
    );
    const current = await store.domains.list(app.name);
    ctx.stdout.write(print(app.name, { current, added, removed }));
    return EXIT.ok;
  },
});

/** One line about a domain's certificate, as domains:report shows it. */
function certificateLine(entry: DomainEntry, now: Date): string {
  const c = entry.certificate;
  if (c === null) return 'no certificate';
  const failed = c.lastError === null ? '' : `; last attempt failed: ${c.lastError}`;
  if (c.notAfter === null) return `certificate pending (${c.source})${failed}`;
  const day = c.notAfter.slice(0, 10);
  const state = new Date(c.notAfter) <= now ? `expired ${day}` : `valid until ${day}`;
  return `certificate (${c.source}) ${state}${failed}`;
}

export const domainsCommands: readonly Command[] = [
  change(
    'domains:add',
    'add',
    'APP DOMAIN...',
    'serve the app at these domains too (all or none); *.example.com: every name one label under it',
    (app, { added }) =>
      added.length > 0
        ? `-----> Added ${list(added)} to ${app}\n`
        : `       ${app} already had these domains; nothing changed\n`,
  ),
  change(
    'domains:remove',
    'remove',
    'APP DOMAIN...',
    'stop serving the app at these domains (all or none)',
    (app, { removed }) => `-----> Removed ${list(removed)} from ${app}\n`,
  ),
  change(
    'domains:set',
    'set',
    'APP DOMAIN...',
    "make these exactly the app's custom domains (all or none)",
    (app, { current, added, removed }) =>
      `-----> ${app}'s custom domains: ${list(current)}\n` +
      (added.length + removed.length === 0
        ? '       (unchanged)\n'
        : `       ${[
            added.length > 0 ? `added ${list(added)}` : '',
            removed.length > 0 ? `removed ${list(removed)}` : '',
          ]
            .filter(Boolean)
            .join('; ')}\n`),
  ),
  change(
    'domains:clear',
    'clear',
    'APP',
    'remove every custom domain of the app (its default host stays)',
    (app, { removed }) =>
      removed.length > 0
        ? `-----> Removed every custom domain of ${app}: ${list(removed)}\n`
        : `       ${app} had no custom domains\n`,
  ),
  // Dokku's reset puts back the global domains' hosts; in Berth those are
  // always served (APP.<BERTH_DOMAIN> and APP.<each global>), so what it
  // takes away is the custom domains.
  change(
    'domains:reset',
    'clear',
    'APP',
    "back to the app's default hosts (APP.<BERTH_DOMAIN> and APP.<each global domain>): its custom domains are removed",
    (app, { removed }) =>
      `-----> ${app} is served at its default hosts only${removed.length > 0 ? `; removed ${list(removed)}` : ''}\n`,
  ),
  {
    name: 'domains:report',
    usage: '[APP|--global] [--format json] [--domains-KEY]',
    summary:
      "the app's default and global hosts and custom domains, each with its certificate (no APP: each app you can see); or the global domains",
    access: { app: 'read' },
    global: 'read',
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app, options } = call;
      const store = await ctx.store();
      const format = formatOf(options);
      const { base } = settingOf(ctx);
      if (!app) {
        const globals = await store.domains.globals();
        if (format === 'json') ctx.stdout.write(json({ base, globals }));
        else {
          const rows = [[base, 'BERTH_DOMAIN'], ...globals.map((g) => [g, 'global'])];
          ctx.stdout.write(
            `=====> global domains (every app at APP.DOMAIN)\n${indent(table(rows))}`,
          );
        }
        return EXIT.ok;
      }
      const entries = await domainsReport(store, app, { base });
      if (call.reportFlag !== undefined) {
        // Dokku's keys, for scripts: vhosts space-separated, as Dokku prints them.
        const hosts = (kinds: readonly DomainEntry['kind'][]) =>
          entries
            .filter((e) => kinds.includes(e.kind))
            .map((e) => e.domain)
            .join(' ');
        return writeReport(call, {
          namespace: 'domains',
          app: app.name,
          rows: [
            ['Domains app enabled', 'true'],
            ['Domains app vhosts', hosts(['default', 'custom'])],
            ['Domains global enabled', 'true'],
            ['Domains global vhosts', (await store.domains.globals()).join(' ')],
          ],
        });
      }
      if (format === 'json') {
        ctx.stdout.write(json({ app: app.name, domains: entries }));
        return EXIT.ok;
      }
      const now = new Date();
      const rows = entries.map((e) => [e.domain, e.kind, certificateLine(e, now)]);
      ctx.stdout.write(`=====> ${app.name} domains\n${indent(table(rows))}`);
      return EXIT.ok;
    },
  },
  {
    name: 'domains:add-global',
    usage: 'DOMAIN...',
    summary: 'serve every app at APP.DOMAIN too (admins; all or none)',
    access: 'admin',
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, args }) {
      const added = await addGlobalDomains(await ctx.store(), settingOf(ctx).base, args);
      ctx.stdout.write(
        added.length > 0
          ? `-----> Added global ${list(added)}: every app is also served at ${list(added.map((g) => `APP.${g}`))}\n`
          : '       these were global domains already; nothing changed\n',
      );
      return EXIT.ok;
    },
  },
  {
    name: 'domains:remove-global',
    usage: 'DOMAIN...',
    summary: 'stop serving every app under these global domains (admins)',
    access: 'admin',
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, args }) {
      const removed = await (await ctx.store()).domains.removeGlobals(args);
      ctx.stdout.write(
        removed.length > 0
          ? `-----> Removed global ${list(removed)}\n`
          : '       none of these was a global domain; nothing changed\n',
      );
      return EXIT.ok;
    },
  },
  {
    name: 'domains:set-global',
    usage: 'DOMAIN...',
    summary:
      'make these exactly the global domains: every app is served at APP.DOMAIN for each (admins; checked before any change)',
    access: 'admin',
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, args }) {
      const store = await ctx.store();
      // Added first: a name refused there leaves the old globals as they were.
      const added = await addGlobalDomains(store, settingOf(ctx).base, args);
      const wanted = new Set(args.map((d) => validate.domain(d)));
      const gone = (await store.domains.globals()).filter((g) => !wanted.has(g));
      const removed = gone.length > 0 ? await store.domains.removeGlobals(gone) : [];
      ctx.stdout.write(
        `-----> Global domains: ${list([...wanted])}\n` +
          (added.length + removed.length === 0
            ? '       (unchanged)\n'
            : `       ${[added.length > 0 ? `added ${list(added)}` : '', removed.length > 0 ? `removed ${list(removed)}` : ''].filter(Boolean).join('; ')}\n`),
      );
      return EXIT.ok;
    },
  },
  {
    name: 'domains:clear-global',
    usage: '',
    summary: 'remove every global domain (admins): apps keep their default host and custom domains',
    access: 'admin',
    arity: [0, 0],
    async run({ ctx }) {
      const store = await ctx.store();
      const all = await store.domains.globals();
      const removed = all.length > 0 ? await store.domains.removeGlobals(all) : [];
      ctx.stdout.write(
        removed.length > 0
          ? `-----> Removed every global domain: ${list(removed)}\n`
          : '       there were no global domains; nothing changed\n',
      );
      return EXIT.ok;
    },
  },
  {
    name: 'urls',
    usage: 'APP',
    summary:
      "the app's URLs, one a line: https:// for hosts with a certificate, else http:// (Dokku's urls)",
    access: { app: 'read' },
    arity: [0, 0],
    async run({ ctx, app }) {
      if (!app) return EXIT.failed;
      ctx.stdout.write((await appUrls(ctx, app)).map((u) => `${u}\n`).join(''));
      return EXIT.ok;
    },
  },
  {
    name: 'url',
    usage: 'APP',
    summary: "the app's first URL (its default host), for scripts",
    access: { app: 'read' },
    arity: [0, 0],
    async run({ ctx, app }) {
      if (!app) return EXIT.failed;
      ctx.stdout.write(`${(await appUrls(ctx, app))[0] ?? ''}\n`);
      return EXIT.ok;
    },
  },
];

/** Each host of the app as a URL, with the router's port when it is not the scheme's own. */
async function appUrls(ctx: CommandContext, app: App): Promise<string[]> {
  const c = ctx.config();
  const entries = await domainsReport(await ctx.store(), app, { base: settingOf(ctx).base });
  return entries.map((e) =>
    e.certificate
      ? `https://${e.domain}${c.httpsPort === 443 ? '' : `:${c.httpsPort}`}`
      : `http://${e.domain}${c.httpPort === 80 ? '' : `:${c.httpPort}`}`,
  );
}
