// apps:* — create, list, inspect and destroy apps.
import { createInterface } from 'node:readline';
import type Docker from 'dockerode';
import { createDockerClient } from '../../services/core/docker.ts';
import { BerthError, EXIT, errorLine } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { APP_HOOKS } from '../../services/platform/app-hooks.ts';
import {
  appInfo,
  createApp,
  destroyApp,
  listApps,
  renameApp,
} from '../../services/platform/apps/apps.ts';
import { appStorage } from '../../services/platform/apps/storage.ts';
import { repoDir } from '../../services/platform/git/repos.ts';
import { moveInstances } from '../../services/platform/release/release-change.ts';
import { schedulerFor } from '../../services/platform/scheduler/schedulers.ts';
import type { Command, CommandContext, OptionValues } from '../command.ts';
import { formatOf, json, report } from '../output.ts';
import { releaseRun } from '../release-run.ts';
import { writeReport } from '../report.ts';

const sshUrl = (ctx: CommandContext) => {
  const c = ctx.config();
  return `ssh://berth@${c.domain}:${c.sshPort}`;
};

/**
 * Answers a person types, one line per question, for confirmations. One
 * reader for all of a command's questions: a reader per question would lose
 * answers typed (or piped) ahead, which arrive in one chunk.
 */
export function answers(ctx: CommandContext) {
  const rl = createInterface({ input: ctx.stdin });
  const queued: string[] = [];
  let waiting: ((line: string | undefined) => void) | undefined;
  let ended = false;
  rl.on('line', (line) => {
    if (waiting) waiting(line.trim());
    else queued.push(line.trim());
  });
  rl.on('close', () => {
    ended = true;
    waiting?.(undefined);
  });
  return {
    /** The next line; undefined when stdin ends or nobody answers in time. */
    next(timeoutMs = 120_000): Promise<string | undefined> {
      if (queued.length > 0) return Promise.resolve(queued.shift());
      if (ended) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        const timer = setTimeout(() => settle(undefined), timeoutMs);
        const settle = (line: string | undefined) => {
          clearTimeout(timer);
          waiting = undefined;
          resolve(line);
        };
        waiting = settle;
      });
    },
    close: () => rl.close(),
  };
}

/**
 * apps:destroy's questions: the app's name (unless --force or --confirm),
 * then, separately, whether its storage volumes go with their data (unless
 * --remove-storage; never removed without one of the two).
 */
async function destroyQuestions(
  ctx: CommandContext,
  app: string,
  options: OptionValues,
  confirmed: boolean,
): Promise<{ engine: Docker | undefined; removeStorage: boolean }> {
  const typing = answers(ctx);
  try {
    if (!confirmed) {
      ctx.stderr.write(
        ` !     This destroys ${app}: its releases, config, domains and git repository.\n` +
          ` !     Type the app name to confirm, or run again with --confirm ${app}: `,
      );
      const typed = await typing.next();
      ctx.stderr.write('\n');
      if (typed !== app) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `confirmation ${typed === undefined ? 'not given' : `"${typed}" does not match`}; nothing was destroyed (use --confirm ${app})`,
        });
      }
    }
    const engine = await createDockerClient(ctx.config()).catch((e: unknown) => {
      ctx.stderr.write(
        ` !     ${errorLine(e)}\n !     The app's images stay until "berth builds:prune".\n`,
      );
      return undefined;
    });
    let removeStorage = options['remove-storage'] === true;
    const store = await ctx.store();
    const record = await store.apps.get(app);
    const storage =
      engine && record
        ? (
            await appStorage(
              store,
              await schedulerFor(store, app, {
                docker: engine,
                swarm: ctx.config().swarm,
              }),
              record,
            )
          ).own
        : [];
    if (storage.length > 0 && !removeStorage && !confirmed) {
      ctx.stderr.write(
        ` !     ${app} has ${storage.length} storage ${storage.length === 1 ? 'volume' : 'volumes'} (${storage.map((v) => v.name).join(', ')}).\n` +
          ' !     Type yes to remove them with their data; anything else keeps them: ',
      );
      removeStorage = (await typing.next()) === 'yes';
      ctx.stderr.write('\n');
    }
    return { engine, removeStorage };
  } finally {
    typing.close();
  }
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
    summary:
      'list the apps you may see (--format json: their names, as Dokku prints them; apps:info APP --format json has the details)',
    access: 'anyone',
    json: true,
    arity: [0, 0],
    async run({ ctx, options }) {
      const apps = await listApps(await ctx.store(), ctx.actor);
      if (formatOf(options) === 'json') {
        // Dokku's shape: ["node-js-app","python-app"], [] when there are none.
        ctx.stdout.write(`${JSON.stringify(apps.map((a) => a.name))}\n`);
        return EXIT.ok;
      }
      ctx.stdout.write('=====> My Apps\n');
      // Dokku's words, on stderr as its warning, exit 0: scripts match on them.
      if (apps.length === 0) ctx.stderr.write(" !     You haven't deployed any applications yet\n");
      else ctx.stdout.write(apps.map((a) => `${a.name}\n`).join(''));
      return EXIT.ok;
    },
  },
  {
    name: 'apps:exists',
    usage: 'APP',
    summary: 'exit 0 if the app exists (and you may see it), else 1: for scripts',
    access: { app: 'read' },
    arity: [0, 0],
    async run() {
      // The dispatcher has found the app and checked it is yours to see.
      return EXIT.ok;
    },
  },
  {
    name: 'apps:report',
    usage: '[APP] [--format json | --app-KEY]',
    summary:
      "Dokku's app report: created at, dir, deploy source, locked; --app-locked (or another key) prints that value alone",
    access: { app: 'read' },
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      if (!app) return EXIT.failed;
      const store = await ctx.store();
      const current = await store.releases.current(app.name);
      const deployed = current?.image ? current : undefined;
      return writeReport(call, {
        namespace: 'app',
        app: app.name,
        rows: [
          ['App created at', String(Math.floor(Date.parse(app.createdAt) / 1000))],
          ['App dir', repoDir(dataPaths(ctx.config().dataDir), app.name)],
          ['App deploy source', deployed ? 'berth' : ''],
          ['App deploy source metadata', deployed ? deployed.description : ''],
          ['App locked', String(await store.apps.isLocked(app.name))],
        ],
      });
    },
  },
  {
    name: 'apps:lock',
    usage: 'APP',
    summary: 'refuse pushes and deploys of the app until apps:unlock (running instances stay)',
    access: { app: 'manage' },
    arity: [0, 0],
    async run({ ctx, app }) {
      if (!app) return EXIT.failed;
      await (await ctx.store()).apps.setLocked(app.name, true);
      ctx.stdout.write('-----> Deploy lock created\n');
      return EXIT.ok;
    },
  },
  {
    name: 'apps:unlock',
    usage: 'APP',
    summary: 'allow pushes and deploys of the app again',
    access: { app: 'manage' },
    arity: [0, 0],
    async run({ ctx, app }) {
      if (!app) return EXIT.failed;
      const store = await ctx.store();
      if (!(await store.apps.isLocked(app.name))) {
        ctx.stdout.write(`       ${app.name} was not locked; nothing changed\n`);
        return EXIT.ok;
      }
      await store.apps.setLocked(app.name, false);
      ctx.stdout.write('-----> Deploy lock removed\n');
      return EXIT.ok;
    },
  },
  {
    name: 'apps:locked',
    usage: 'APP',
    summary: 'exit 0 if the app is locked (apps:lock), else 1: for scripts',
    access: { app: 'read' },
    arity: [0, 0],
    async run({ ctx, app }) {
      if (!app) return EXIT.failed;
      const locked = await (await ctx.store()).apps.isLocked(app.name);
      ctx.stdout.write(locked ? 'Deploy lock exists\n' : 'Deploy lock does not exist\n');
      return locked ? EXIT.ok : EXIT.failed;
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
      await renameApp(app, to, {
        store: await ctx.store(),
        files: dataPaths(ctx.config().dataDir),
        // A linked datastore moves to the new name's network (datastores/links.ts).
        docker: await createDockerClient(ctx.config()).catch(() => undefined),
        base: ctx.config().domain,
        hooks: APP_HOOKS,
      });
      ctx.stdout.write(`-----> Renamed ${app.name} to ${to}\n`);
      await moveInstances({ ...(await releaseRun(ctx)), app: to, from: app.name });
      ctx.stdout.write(`       git remote set-url deploy ${sshUrl(ctx)}/${to}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'apps:destroy',
    usage: 'APP [--force | --confirm APP] [--remove-storage]',
    summary:
      'destroy an app and everything Berth keeps for it (asks for the name, and before removing its storage)',
    access: { app: 'destroy' },
    arity: [0, 0],
    options: {
      force: { type: 'boolean' },
      confirm: { type: 'string' },
      'remove-storage': { type: 'boolean' },
    },
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const confirmed = options.force === true || options.confirm === app.name;
      if (!confirmed && options.confirm !== undefined) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `--confirm ${String(options.confirm)} does not match the app name ${app.name}`,
        });
      }
      const { engine, removeStorage } = await destroyQuestions(ctx, app.name, options, confirmed);
      const removed = await destroyApp(
        ctx.actor,
        app.name,
        {
          store: await ctx.store(),
          files: dataPaths(ctx.config().dataDir),
          docker: engine,
          base: ctx.config().domain,
          hooks: APP_HOOKS,
        },
        { removeStorage },
      );
      ctx.stdout.write(`-----> Destroyed ${app.name}\n`);
      if (removed && removed.removed.length > 0) {
        ctx.stdout.write(
          `       Removed ${removed.removed.length} images, volumes and networks from the Docker Engine\n`,
        );
      }
      const kept = removed?.kept.filter((k) => k.startsWith('volume ')) ?? [];
      if (kept.length > 0) {
        ctx.stdout.write(
          `       Kept its storage with the data: ${kept.map((k) => k.slice(7)).join(', ')} (docker volume rm removes it)\n`,
        );
      }
      return EXIT.ok;
    },
  },
];
