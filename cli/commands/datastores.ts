// postgres:*, redis:* and mysql:* — backing
// services in Dokku's service-plugin grammar, made for each kind in
// services/platform/datastores/kinds.ts. A datastore is its owner's: others
// are told it does not exist; admins see every one.

import { createDockerClient } from '../../services/core/docker.ts';
import { BerthError, EXIT } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import * as validate from '../../services/core/validate.ts';
import { authorizeApp } from '../../services/platform/apps/access.ts';
import { cloneDatastore } from '../../services/platform/datastores/clone.ts';
import {
  connectDatastore,
  datastoreLogs,
  enterDatastore,
  exportDatastore,
  importDatastore,
} from '../../services/platform/datastores/data.ts';
import {
  controlServer,
  createDatastore,
  type DatastoreDeps,
  datastoreInfo,
  destroyDatastore,
  requireDatastore,
  visibleDatastores,
} from '../../services/platform/datastores/datastores.ts';
import {
  exposeDatastore,
  exposedText,
  unexposeDatastore,
} from '../../services/platform/datastores/expose.ts';
import type { DatastoreKind } from '../../services/platform/datastores/kind.ts';
import { KINDS } from '../../services/platform/datastores/kinds.ts';
import { linkDatastore, unlinkDatastore } from '../../services/platform/datastores/links.ts';
import type { EngineDeps } from '../../services/platform/datastores/server.ts';
import { upgradeDatastore } from '../../services/platform/datastores/upgrade.ts';
import { releaseConfig } from '../../services/platform/release/releases.ts';
import type { Command, CommandContext, OptionValues } from '../command.ts';
import { formatOf, json, report, table } from '../output.ts';
import { appScheduler, releaseRun } from '../release-run.ts';
import { answers } from './apps.ts';

const logTo = (ctx: CommandContext) => ({
  heading: (t: string) => ctx.stdout.write(`-----> ${t}\n`),
  detail: (t: string) => ctx.stdout.write(`       ${t}\n`),
});

async function engine(ctx: CommandContext): Promise<EngineDeps> {
  const config = ctx.config();
  return {
    docker: await createDockerClient(config),
    ...(config.appNetworks ? { appNetworks: config.appNetworks } : {}),
    ...(ctx.dockerLabels ? { labels: ctx.dockerLabels } : {}),
  };
}

async function deps(ctx: CommandContext): Promise<DatastoreDeps> {
  return {
    ...(await engine(ctx)),
    store: await ctx.store(),
    actor: ctx.actor,
    workDir: dataPaths(ctx.config().dataDir).stack,
    log: logTo(ctx),
  };
}

/** The datastore NAME names, when the person may see (read) or change it. */
async function named(
  ctx: CommandContext,
  kind: DatastoreKind,
  name: string | undefined,
  action: 'read' | 'change' = 'read',
) {
  return requireDatastore(await ctx.store(), ctx.actor, kind, name ?? '', action);
}

/** What a link or unlink hands the platform: the app's scheduler and its rollout. */
async function linkDeps(ctx: CommandContext, appName: string, options: OptionValues) {
  const store = await ctx.store();
  const app = await authorizeApp(store, ctx.actor, validate.appName(appName), 'push');
  return {
    app,
    deps: {
      ...(await engine(ctx)),
      store,
      actor: ctx.actor,
      scheduler: await appScheduler(ctx, app.name),
      log: logTo(ctx),
      async release(description: string) {
        if (options['no-restart'] === true) {
          ctx.stdout.write('       Not restarted (--no-restart): the next deploy uses it.\n');
          return;
        }
        const released = await releaseConfig(await releaseRun(ctx), app, description);
        if (!released) {
          ctx.stdout.write('       The app has not been deployed yet: its first deploy uses it.\n');
        }
      },
    },
  };
}

/** info's single-value flags (Dokku's, those that mean something here). */
const INFO_FLAGS = {
  dsn: 'the URL linked apps get, password included',
  status: 'running, exited, restarting, ...',
  version: 'the server version',
  id: "the container's id",
  'internal-ip': 'its address on its own network',
  links: 'the apps linked',
  'data-dir': 'the volume that holds its data',
  health: "the health check's result",
  'exposed-ports': 'where expose publishes it on the host (ADDRESS:PORT->PORT), or -',
} as const;

function commandsFor(kind: DatastoreKind): Command[] {
  const k = kind.name;
  const versions = kind.versions.map((v) => `${v.version} (Debian ${v.suite})`).join(', ');
  return [
    {
      name: `${k}:create`,
      usage: 'NAME [--image-version V] [--password P] [--memory SIZE]',
      summary: `make a ${kind.title} service: its own container and data volume, reachable by no app until linked (versions: ${versions}, default ${kind.versions.at(-1)?.version}; --password: 16 to 128 of A-Z a-z 0-9 -._~, else one is made; --memory: default 512m). The first of a version builds its image from Debian's packages (1–4 min)`,
      access: 'anyone',
      options: {
        'image-version': { type: 'string' },
        password: { type: 'string' },
        memory: { type: 'string' },
      },
      arity: [1, 1],
      async run({ ctx, args, options }) {
        const name = args[0] ?? '';
        const started = Date.now();
        const { datastore } = await createDatastore(await deps(ctx), kind, name, {
          ...(typeof options['image-version'] === 'string'
            ? { version: options['image-version'] }
            : {}),
          ...(typeof options.password === 'string' ? { password: options.password } : {}),
          ...(typeof options.memory === 'string' ? { memory: options.memory } : {}),
        });
        ctx.stdout.write(
          `=====> ${kind.title} ${datastore.version} service ${name} created in ${((Date.now() - started) / 1000).toFixed(1)} s\n` +
            `       "${k}:link ${name} APP" gives APP its ${kind.defaultAlias}_URL\n`,
        );
        return EXIT.ok;
      },
    },
    {
      name: `${k}:upgrade`,
      usage: 'NAME [--image-version V]',
      summary: `move a ${kind.title} service to a newer version (default ${kind.versions.at(-1)?.version}) by a dump and a restore: the new server starts beside the old one, linked apps lose the service while its data is copied (their writes until then are all kept), then reach the new one by the same URL (no app restarts); the old data volume goes once the new one serves. A failure leaves the old one serving; older versions are refused`,
      access: 'anyone',
      options: { 'image-version': { type: 'string' } },
      arity: [1, 1],
      async run({ ctx, args, options }) {
        const ds = await named(ctx, kind, args[0], 'change');
        const started = Date.now();
        const r = await upgradeDatastore(
          await deps(ctx),
          kind,
          ds,
          typeof options['image-version'] === 'string' ? options['image-version'] : undefined,
          ctx.signal,
        );
        ctx.stdout.write(
          r.upgraded
            ? `=====> ${kind.title} service ${ds.name} upgraded from ${ds.version} to ${r.datastore.version} in ${((Date.now() - started) / 1000).toFixed(1)} s (${r.bytes} bytes of dump)\n`
            : `=====> ${kind.title} service ${ds.name} already runs ${ds.version}; nothing done\n`,
        );
        return EXIT.ok;
      },
    },
    {
      name: `${k}:clone`,
      usage: 'NAME NEW [--image-version V] [--password P] [--memory SIZE]',
      summary: `make ${kind.title} service NEW holding a copy of NAME's data (a dump of NAME, which serves on, restored into it): as ${k}:create makes one, on NAME's version and memory unless given, with a password of its own, linked to nothing; a copy that fails leaves nothing`,
      access: 'anyone',
      options: {
        'image-version': { type: 'string' },
        password: { type: 'string' },
        memory: { type: 'string' },
      },
      arity: [2, 2],
      async run({ ctx, args, options }) {
        const source = await named(ctx, kind, args[0], 'read');
        const name = args[1] ?? '';
        const started = Date.now();
        const { datastore, bytes } = await cloneDatastore(
          await deps(ctx),
          kind,
          source,
          name,
          {
            ...(typeof options['image-version'] === 'string'
              ? { version: options['image-version'] }
              : {}),
            ...(typeof options.password === 'string' ? { password: options.password } : {}),
            ...(typeof options.memory === 'string' ? { memory: options.memory } : {}),
          },
          ctx.signal,
        );
        ctx.stdout.write(
          `=====> ${kind.title} ${datastore.version} service ${name} cloned from ${source.name} in ${((Date.now() - started) / 1000).toFixed(1)} s (${bytes} bytes of dump)\n` +
            `       "${k}:link ${name} APP" gives APP its ${kind.defaultAlias}_URL\n`,
        );
        return EXIT.ok;
      },
    },
    {
      name: `${k}:destroy`,
      usage: 'NAME [-f|--force]',
      summary: `destroy a ${kind.title} service with its data (asks for its name unless --force); refused while it is linked to an app`,
      access: 'anyone',
      options: { force: { type: 'boolean', short: 'f' } },
      arity: [1, 1],
      async run({ ctx, args, options }) {
        const d = await deps(ctx);
        const ds = await named(ctx, kind, args[0], 'change');
        const links = await d.store.datastores.links(k, ds.name);
        if (links.length > 0) {
          throw new BerthError('BERTH_E_DATASTORE_LINKED', {
            title: kind.title,
            name: ds.name,
            kind: k,
            apps: links.map((l) => l.app).join(', '),
          });
        }
        if (options.force !== true) {
          ctx.stderr.write(
            ` !     This destroys ${kind.title} service ${ds.name} and its data.\n !     Type its name to confirm, or run again with --force: `,
          );
          const typing = answers(ctx);
          const typed = await typing.next();
          typing.close();
          ctx.stderr.write('\n');
          if (typed !== ds.name) {
            throw new BerthError('BERTH_E_USAGE', {
              reason: `confirmation ${typed === undefined ? 'not given' : `"${typed.slice(0, 40)}" does not match`}; nothing was destroyed (use --force)`,
            });
          }
        }
        await destroyDatastore(d, kind, ds);
        ctx.stdout.write(`-----> Destroyed ${kind.title} service ${ds.name} and its data\n`);
        return EXIT.ok;
      },
    },
    {
      name: `${k}:list`,
      usage: '[--format json]',
      summary: `your ${kind.title} services (admins: every one)`,
      access: 'anyone',
      json: true,
      arity: [0, 0],
      async run({ ctx, options }) {
        const store = await ctx.store();
        const all = await visibleDatastores(store, ctx.actor, kind);
        const rows = [];
        for (const ds of all) {
          rows.push({
            name: ds.name,
            version: ds.version,
            owner: ds.owner,
            links: (await store.datastores.links(k, ds.name)).map((l) => l.app),
          });
        }
        if (formatOf(options) === 'json') {
          ctx.stdout.write(json(rows));
          return EXIT.ok;
        }
        ctx.stdout.write(`=====> ${kind.title} services\n`);
        if (rows.length === 0) ctx.stdout.write(`       none; "${k}:create NAME" makes one\n`);
        else {
          ctx.stdout.write(
            table([
              ['NAME', 'VERSION', 'OWNER', 'LINKS'],
              ...rows.map((r) => [r.name, r.version, r.owner, r.links.join(' ') || '-']),
            ]),
          );
        }
        return EXIT.ok;
      },
    },
    {
      name: `${k}:info`,
      usage: `NAME [${Object.keys(INFO_FLAGS)
        .map((f) => `--${f}`)
        .join('|')}] [--format json]`,
      summary: `a ${kind.title} service: its URL (the password hidden), status, health check, version, volume and links; one flag prints that value alone (--dsn: the URL with its password)`,
      access: 'anyone',
      json: true,
      options: Object.fromEntries(Object.keys(INFO_FLAGS).map((f) => [f, { type: 'boolean' }])),
      arity: [1, 1],
      async run({ ctx, args, options }) {
        const ds = await named(ctx, kind, args[0]);
        const flags = Object.keys(INFO_FLAGS).filter((f) => options[f] === true);
        if (flags.length > 1) {
          throw new BerthError('BERTH_E_USAGE', { reason: 'give at most one single-value flag' });
        }
        const info = await datastoreInfo(
          { ...(await engine(ctx)), store: await ctx.store() },
          kind,
          ds,
          { showPassword: flags[0] === 'dsn' },
        );
        const links = info.links.map((l) => `${l.app} (${l.alias}_URL)`).join(' ');
        const exposedPorts = ds.exposed ? `${exposedText(ds.exposed)}->${kind.port}` : '-';
        const values: Record<string, string> = {
          dsn: info.dsn,
          status: info.status,
          version: info.version,
          id: info.id ?? '',
          'internal-ip': info.internalIp ?? '',
          links,
          'data-dir': info.dataDir,
          health: info.health,
          'exposed-ports': exposedPorts,
        };
        if (flags[0] !== undefined) {
          ctx.stdout.write(`${values[flags[0]] ?? ''}\n`);
          return EXIT.ok;
        }
        if (formatOf(options) === 'json') {
          ctx.stdout.write(json(info));
          return EXIT.ok;
        }
        ctx.stdout.write(
          report(`${ds.name} ${k} service information`, [
            ['Dsn', info.dsn],
            ['Status', info.status],
            ['Health', info.health],
            ['Version', `${kind.title} ${info.version}`],
            ['Image', info.image],
            ['Id', info.id ?? '-'],
            ['Internal ip', info.internalIp ?? '-'],
            ['Data dir', info.dataDir],
            ['Memory', validate.formatSize(info.memory)],
            ['Owner', info.owner],
            ['Created', info.createdAt],
            ['Links', links || '-'],
            ['Exposed ports', exposedPorts],
          ]),
        );
        return EXIT.ok;
      },
    },
    {
      name: `${k}:link`,
      usage: 'NAME APP [-a|--alias ALIAS] [--no-restart]',
      summary: `link a ${kind.title} service to an app: it joins the app's network as host berth-${k}-NAME, the app gets ${kind.defaultAlias}_URL (or ALIAS_URL; a second link gets ${kind.defaultAlias}_<COLOUR>_URL) and rolls out with it, as config:set does (your own services, to apps you may push to)`,
      access: 'anyone',
      options: { alias: { type: 'string', short: 'a' }, 'no-restart': { type: 'boolean' } },
      arity: [2, 2],
      async run({ ctx, args, options }) {
        const ds = await named(ctx, kind, args[0], 'change');
        const { app, deps: d } = await linkDeps(ctx, args[1] ?? '', options);
        await linkDatastore(d, kind, ds, app, {
          ...(typeof options.alias === 'string' ? { alias: options.alias } : {}),
        });
        return EXIT.ok;
      },
    },
    {
      name: `${k}:unlink`,
      usage: 'NAME APP [--no-restart]',
      summary: `unlink a ${kind.title} service from an app: its URL var is unset, the app rolls out without it, then the service leaves the app's network`,
      access: 'anyone',
      options: { 'no-restart': { type: 'boolean' } },
      arity: [2, 2],
      async run({ ctx, args, options }) {
        const ds = await named(ctx, kind, args[0], 'change');
        const { app, deps: d } = await linkDeps(ctx, args[1] ?? '', options);
        await unlinkDatastore(d, kind, ds, app);
        return EXIT.ok;
      },
    },
    {
      name: `${k}:app-links`,
      usage: 'APP',
      summary: `the ${kind.title} services linked to an app, with their vars`,
      access: { app: 'read' },
      arity: [0, 0],
      async run({ ctx, app }) {
        if (!app) return EXIT.failed;
        const links = (await (await ctx.store()).datastores.linksOf(app.name)).filter(
          (l) => l.datastore.kind === k,
        );
        for (const l of links) ctx.stdout.write(`${l.datastore.name} ${l.alias}_URL\n`);
        return EXIT.ok;
      },
    },
    {
      name: `${k}:links`,
      usage: 'NAME',
      summary: `the apps a ${kind.title} service is linked to`,
      access: 'anyone',
      arity: [1, 1],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0]);
        for (const l of await (await ctx.store()).datastores.links(k, ds.name)) {
          ctx.stdout.write(`${l.app}\n`);
        }
        return EXIT.ok;
      },
    },
    {
      name: `${k}:linked`,
      usage: 'NAME APP',
      summary: `exit 0 when the ${kind.title} service is linked to the app, else 1`,
      access: 'anyone',
      arity: [2, 2],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0]);
        const app = await authorizeApp(await ctx.store(), ctx.actor, args[1] ?? '', 'read');
        const links = await (await ctx.store()).datastores.links(k, ds.name);
        const linked = links.some((l) => l.app === app.name);
        ctx.stdout.write(
          `${kind.title} service ${ds.name} is ${linked ? '' : 'not '}linked to ${app.name}\n`,
        );
        return linked ? EXIT.ok : EXIT.failed;
      },
    },
    {
      name: `${k}:exists`,
      usage: 'NAME',
      summary: `exit 0 when you have a ${kind.title} service of that name`,
      access: 'anyone',
      arity: [1, 1],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0]);
        ctx.stdout.write(`${kind.title} service ${ds.name} exists\n`);
        return EXIT.ok;
      },
    },
    {
      name: `${k}:connect`,
      usage: 'NAME',
      summary: `${kind.title}'s own client on the service (ssh -t for a terminal; without one it reads commands from stdin)`,
      access: 'anyone',
      ownsTerminal: true,
      arity: [1, 1],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0], 'change');
        return connectDatastore(
          await engine(ctx),
          kind,
          ds,
          {
            stdin: ctx.stdin,
            stdout: ctx.stdout,
            stderr: ctx.stderr,
            ...(ctx.terminal ? { terminal: ctx.terminal } : {}),
          },
          ctx.signal,
        );
      },
    },
    {
      name: `${k}:enter`,
      usage: 'NAME [COMMAND...]',
      summary: `a shell in the ${kind.title} service's container, as its root (ssh -t for a terminal), or COMMAND run there; the service's owner and admins`,
      access: 'anyone',
      ownsTerminal: true,
      // COMMAND's own options are its own: `enter NAME ls -la`.
      passThrough: true,
      arity: [1, Infinity],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0], 'change');
        return enterDatastore(
          await engine(ctx),
          kind,
          ds,
          args.slice(1),
          {
            stdin: ctx.stdin,
            stdout: ctx.stdout,
            stderr: ctx.stderr,
            ...(ctx.terminal ? { terminal: ctx.terminal } : {}),
          },
          ctx.signal,
        );
      },
    },
    {
      name: `${k}:expose`,
      usage: 'NAME [ADDRESS:]PORT',
      summary: `publish the ${kind.title} service's port ${kind.port} on the host's PORT (1024-65535), on 127.0.0.1 unless ADDRESS is given (another address: admins only, as it opens the service to other hosts); its container is made again with it, linked apps reconnect`,
      access: 'anyone',
      arity: [2, 2],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0], 'change');
        const exposed = await exposeDatastore(
          { ...(await engine(ctx)), store: await ctx.store(), actor: ctx.actor },
          kind,
          ds,
          args[1] ?? '',
        );
        ctx.stdout.write(
          `-----> ${kind.title} service ${ds.name} published on ${exposedText(exposed)}\n`,
        );
        return EXIT.ok;
      },
    },
    {
      name: `${k}:unexpose`,
      usage: 'NAME',
      summary: `stop publishing the ${kind.title} service's port on the host (linked apps still reach it)`,
      access: 'anyone',
      arity: [1, 1],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0], 'change');
        await unexposeDatastore(
          { ...(await engine(ctx)), store: await ctx.store(), actor: ctx.actor },
          kind,
          ds,
        );
        ctx.stdout.write(`-----> ${kind.title} service ${ds.name} no longer published\n`);
        return EXIT.ok;
      },
    },
    {
      name: `${k}:export`,
      usage: 'NAME > FILE',
      summary: `a dump of the ${kind.title} service to stdout (${kind.dumpFormat}), for ${k}:import`,
      access: 'anyone',
      arity: [1, 1],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0]);
        await exportDatastore(await engine(ctx), kind, ds, ctx.stdout, ctx.signal);
        return EXIT.ok;
      },
    },
    {
      name: `${k}:import`,
      usage: 'NAME < FILE',
      summary: `restore a dump ${k}:export made, from stdin: what it holds replaces what the service has; a file that is not one, or is cut short, changes nothing`,
      access: 'anyone',
      arity: [1, 1],
      async run({ ctx, args }) {
        const ds = await named(ctx, kind, args[0], 'change');
        await importDatastore(await engine(ctx), kind, ds, ctx.stdin, ctx.signal);
        ctx.stdout.write(`-----> Imported into ${kind.title} service ${ds.name}\n`);
        return EXIT.ok;
      },
    },
    {
      name: `${k}:logs`,
      usage: 'NAME [-t|--tail] [-n|--num N]',
      summary: `the ${kind.title} server's last lines (100, or N); --tail: then follow them`,
      access: 'anyone',
      options: { tail: { type: 'boolean', short: 't' }, num: { type: 'string', short: 'n' } },
      arity: [1, 1],
      async run({ ctx, args, options }) {
        const ds = await named(ctx, kind, args[0]);
        const num = typeof options.num === 'string' ? options.num : '100';
        if (!/^[1-9][0-9]{0,4}$/.test(num)) {
          throw new BerthError('BERTH_E_USAGE', { reason: '--num takes 1 to 99999 lines' });
        }
        await datastoreLogs(
          await engine(ctx),
          ds,
          { tail: Number(num), follow: options.tail === true, signal: ctx.signal },
          ctx.stdout,
        );
        return EXIT.ok;
      },
    },
    ...(['start', 'stop', 'restart'] as const).map(
      (action): Command => ({
        name: `${k}:${action}`,
        usage: 'NAME',
        summary: {
          start: `start a stopped ${kind.title} service (it starts with Berth and the Engine again by itself)`,
          stop: `stop a ${kind.title} service: linked apps lose it until ${k}:start; it stays stopped across restarts of the Engine`,
          restart: `restart a ${kind.title} service's server (linked apps see their connections drop)`,
        }[action],
        access: 'anyone',
        arity: [1, 1],
        async run({ ctx, args }) {
          const ds = await named(ctx, kind, args[0], 'change');
          await controlServer(await engine(ctx), kind, ds, action);
          const done = { start: 'Started', stop: 'Stopped', restart: 'Restarted' }[action];
          ctx.stdout.write(`-----> ${done} ${kind.title} service ${ds.name}\n`);
          return EXIT.ok;
        },
      }),
    ),
  ];
}

export const datastoreCommands: readonly Command[] = KINDS.flatMap(commandsFor);
