// apps:* — create, list, inspect and destroy apps.
import { createInterface } from 'node:readline';
import { appInfo, createApp, destroyApp, listApps, renameApp } from '../../services/apps/apps.ts';
import { createDockerClient } from '../../services/core/docker.ts';
import { BerthError, EXIT, errorLine } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import type { Command, CommandContext } from '../command.ts';
import { formatOf, json, report } from '../output.ts';

const sshUrl = (ctx: CommandContext) => {
  const c = ctx.config();
  return `ssh://berth@${c.domain}:${c.sshPort}`;
};

/** Reads one line a person types, for confirmations; undefined when stdin ends first. */
function readLine(ctx: CommandContext, timeoutMs = 120_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: ctx.stdin });
    let settled = false;
    const done = (line: string | undefined) => {
      if (settled) return;
      // Settled before close(): closing emits 'close', which calls done again.
      settled = true;
      clearTimeout(timer);
      resolve(line);
      rl.close();
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    rl.once('line', (line) => done(line.trim()));
    rl.once('close', () => done(undefined));
  });
}

export const appsCommands: readonly Command[] = [
  {
    name: 'apps:create',
    usage: 'APP [--owner USER]',
    summary: 'create an app (a first git push by an admin creates it too)',
    access: 'anyone',
    takesApp: true,
    arity: [1, 1],
    options: { owner: { type: 'string' } },
    async run({ ctx, args, options }) {
      const [name = ''] = args;
      const owner = typeof options.owner === 'string' ? options.owner : undefined;
      const app = await createApp(await ctx.store(), ctx.actor, name, owner ? { owner } : {});
      ctx.stdout.write(`-----> Created ${app.name} (owner ${app.owner})\n`);
      ctx.stdout.write(`       git remote add deploy ${sshUrl(ctx)}/${app.name}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'apps:list',
    usage: '[--format json]',
    summary: 'list the apps you may see',
    access: 'anyone',
    json: true,
    arity: [0, 0],
    async run({ ctx, options }) {
      const apps = await listApps(await ctx.store(), ctx.actor);
      if (formatOf(options) === 'json') ctx.stdout.write(json(apps));
      else if (apps.length === 0) ctx.stdout.write('You have no apps.\n');
      else ctx.stdout.write(`=====> My Apps\n${apps.map((a) => `${a.name}\n`).join('')}`);
      return EXIT.ok;
    },
  },
  {
    name: 'apps:info',
    usage: 'APP [--format json]',
    summary: "show an app's owner, collaborators, git URL, domains and current release",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const info = await appInfo(await ctx.store(), app, sshUrl(ctx));
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(info));
        return EXIT.ok;
      }
      const current = info.current;
      ctx.stdout.write(
        report(`${app.name} app information`, [
          ['Owner', app.owner],
          ['Collaborators', app.collaborators.join(' ') || '(none)'],
          ['Created', app.createdAt],
          ['Git URL', info.gitUrl],
          ['Deploy branch', app.deployBranch],
          ['Domains', info.domains.join(' ') || '(none)'],
          [
            'Release',
            current
              ? `v${current.version} ${current.description} (${current.createdAt})`
              : '(none)',
          ],
        ]),
      );
      return EXIT.ok;
    },
  },
  {
    name: 'apps:rename',
    usage: 'APP NEW-NAME',
    summary: 'rename an app, with its config, releases, domains and git repository',
    access: { app: 'manage' },
    arity: [1, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const [to = ''] = args;
      await renameApp(await ctx.store(), app, to, dataPaths(ctx.config().dataDir));
      ctx.stdout.write(`-----> Renamed ${app.name} to ${to}\n`);
      ctx.stdout.write(`       git remote set-url deploy ${sshUrl(ctx)}/${to}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'apps:destroy',
    usage: 'APP [--force | --confirm APP]',
    summary: 'destroy an app and everything Berth keeps for it (asks for the name)',
    access: { app: 'destroy' },
    arity: [0, 0],
    options: { force: { type: 'boolean' }, confirm: { type: 'string' } },
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      let confirmed = options.force === true || options.confirm === app.name;
      if (!confirmed && options.confirm !== undefined) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `--confirm ${String(options.confirm)} does not match the app name ${app.name}`,
        });
      }
      if (!confirmed) {
        ctx.stderr.write(
          ` !     This destroys ${app.name}: its releases, config, domains and git repository.\n` +
            ` !     Type the app name to confirm, or run again with --confirm ${app.name}: `,
        );
        const typed = await readLine(ctx);
        ctx.stderr.write('\n');
        confirmed = typed === app.name;
        if (!confirmed) {
          throw new BerthError('BERTH_E_USAGE', {
            reason: `confirmation ${typed === undefined ? 'not given' : `"${typed}" does not match`}; nothing was destroyed (use --confirm ${app.name})`,
          });
        }
      }
      const engine = await createDockerClient(ctx.config()).catch((e: unknown) => {
        ctx.stderr.write(
          ` !     ${errorLine(e)}\n !     The app's images stay until "berth builds:prune".\n`,
        );
        return undefined;
      });
      const removed = await destroyApp(
        await ctx.store(),
        ctx.actor,
        app.name,
        dataPaths(ctx.config().dataDir),
        engine,
      );
      ctx.stdout.write(`-----> Destroyed ${app.name}\n`);
      if (removed && removed.removed.length > 0) {
        ctx.stdout.write(
          `       Removed ${removed.removed.length} images and volumes from the Docker Engine\n`,
        );
      }
      return EXIT.ok;
    },
  },
];
