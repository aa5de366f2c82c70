// registry:login|logout|report|set — where an app's images go for the
// swarm, in Dokku's grammar (docs/advanced-usage/registry-management.md):
// an external registry per app or for all (server, image-repo,
// push-on-release, push-extra-tags) with its credentials, instead of
// Berth's own (BERTH_SWARM_REGISTRY). Settings and credentials are kept by
// services/platform/registry/settings.ts; no command prints a password.
// What differs from Dokku: docs/dokku-differences.md.
import { isAdmin } from '../../services/core/actor.ts';
import { BerthError, EXIT } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';
import { ensureCa } from '../../services/platform/registry/ca.ts';
import {
  APP_KEYS,
  changeSettings,
  computed,
  GLOBAL_KEYS,
  type Properties,
  type RegistryKey,
  readSettings,
} from '../../services/platform/registry/settings.ts';
import type { Command, CommandContext } from '../command.ts';
import { writeReport } from '../report.ts';
import { answers } from './apps.ts';

const usage = (reason: string) => new BerthError('BERTH_E_USAGE', { reason });

function registryDir(ctx: CommandContext): string {
  const dir = ctx.config().swarm.registryDir;
  if (dir === undefined) throw new Error('no registry directory in the configuration');
  return dir;
}

/** A value as registry:set keeps it, validated for its key ('' resets). */
function checkValue(key: RegistryKey, value: string): string {
  if (value === '') return '';
  switch (key) {
    case 'server':
      // Docker Hub is the default registry, as Dokku computes it: no server.
      return /^(docker\.io|hub\.docker\.com)\/?$/.test(value) ? '' : validate.registryServer(value);
    case 'image-repo':
      return validate.imageRepo(value);
    case 'push-on-release':
      if (value !== 'true' && value !== 'false') throw usage('push-on-release is true or false');
      return value;
    case 'push-extra-tags':
      return value
        .split(',')
        .map((t) => validate.imageTag(t.trim()))
        .join(',');
  }
}

export const registryCommands: readonly Command[] = [
  {
    name: 'registry:login',
    usage: 'APP|--global [--password-stdin] SERVER USERNAME [PASSWORD]',
    summary:
      "keep credentials for a registry (the app's, or with --global all apps'): its images are pushed and pulled with them; --password-stdin reads the password from stdin; the password is never shown again",
    access: { app: 'manage' },
    global: 'admin',
    options: { 'password-stdin': { type: 'boolean' } },
    arity: [2, 3],
    async run({ ctx, app, args, options }) {
      const [serverArg = '', username = '', given] = args;
      const server = validate.registryServer(serverArg);
      if (!/^[^\s:]{1,200}$/.test(username)) {
        throw usage('USERNAME: 1 to 200 characters, no spaces or colons');
      }
      let password = given;
      if (options['password-stdin'] === true) {
        if (given !== undefined)
          throw usage('give the password on stdin or as an argument, not both');
        password = await answers(ctx).next(30_000);
      }
      if (password === undefined || password === '' || password.length > 4096) {
        throw usage('give a PASSWORD (or --password-stdin and the password on stdin)');
      }
      const secret = password;
      await changeSettings(registryDir(ctx), (s) => {
        if (app === undefined) s.logins.global[server] = { username, password: secret };
        else
          s.logins.apps[app.name] = {
            ...s.logins.apps[app.name],
            [server]: { username, password: secret },
          };
      });
      ctx.stdout.write(
        `-----> Credentials for ${server} kept for ${app === undefined ? 'every app' : app.name} (user ${username})\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'registry:logout',
    usage: 'APP|--global SERVER',
    summary: "forget the credentials for a registry (the app's, or with --global all apps')",
    access: { app: 'manage' },
    global: 'admin',
    arity: [1, 1],
    async run({ ctx, app, args }) {
      const server = validate.registryServer(args[0] ?? '');
      let had = false;
      await changeSettings(registryDir(ctx), (s) => {
        const logins = app === undefined ? s.logins.global : (s.logins.apps[app.name] ?? {});
        had = server in logins;
        delete logins[server];
        if (app !== undefined && Object.keys(logins).length === 0) delete s.logins.apps[app.name];
      });
      ctx.stdout.write(
        had
          ? `-----> Credentials for ${server} removed\n`
          : `-----> No credentials for ${server} were kept; nothing changed\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'registry:set',
    usage: 'APP|--global KEY [VALUE]',
    summary:
      "server (HOST[:PORT] of an external registry; none: Berth's own for swarm apps), image-repo (app only; default berth/APP), push-on-release (true|false), push-extra-tags (TAG,TAG): where and how the app's images are pushed; --global (admins) for apps that set none; no VALUE: the default",
    access: { app: 'manage' },
    global: 'admin',
    arity: [1, 2],
    async run({ ctx, app, args }) {
      const [key = '', value = ''] = args;
      const keys: readonly string[] = app === undefined ? GLOBAL_KEYS : APP_KEYS;
      if (!keys.includes(key)) {
        throw usage(
          `${key || 'KEY'} is not a registry property${app === undefined ? ' with --global' : ''}; they are ${keys.join(', ')}`,
        );
      }
      const k = key as RegistryKey;
      const kept = checkValue(k, value);
      await changeSettings(registryDir(ctx), (s) => {
        if (app !== undefined) s.apps[app.name] ??= {};
        const props = app === undefined ? s.global : (s.apps[app.name] as Properties);
        if (kept === '') delete props[k];
        else props[k] = kept;
        if (app !== undefined && Object.keys(props).length === 0) delete s.apps[app.name];
      });
      ctx.stdout.write(
        `-----> ${key} of ${app === undefined ? 'every app without its own' : app.name}: ${kept === '' ? '(the default)' : kept}; used from the next deploy\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'registry:report',
    usage: '[APP|--global] [--format json | --registry-KEY]',
    summary:
      "(no APP: each app you can see) where the app's images are pushed (server, image-repo, push-on-release, push-extra-tags: the app's, the global, the one used) and which servers it has credentials for; --global adds Berth's own registry and its CA's file, which every node trusts",
    access: { app: 'read' },
    global: 'read',
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      const config = ctx.config();
      const s = await readSettings(registryDir(ctx));
      const own = config.swarm.registry;
      if (app === undefined) {
        // The CA is made here when missing, so an operator installs it on the nodes before the first deploy.
        const ca = own && isAdmin(ctx.actor) ? await ensureCa(registryDir(ctx)) : '';
        return writeReport(call, {
          namespace: 'registry',
          app: undefined,
          rows: [
            ['Registry global server', s.global.server ?? ''],
            ['Registry global push on release', s.global['push-on-release'] ?? 'false'],
            ['Registry global push extra tags', s.global['push-extra-tags'] ?? ''],
            ['Registry global logins', Object.keys(s.logins.global).sort().join(' ')],
            ['Registry own server', own ?? ''],
            ['Registry own ca file', ca],
          ],
        });
      }
      const name = app.name;
      const server = computed(s, name, 'server');
      return writeReport(call, {
        namespace: 'registry',
        app: name,
        rows: [
          ['Registry computed image repo', computed(s, name, 'image-repo') || `berth/${name}`],
          ['Registry image repo', s.apps[name]?.['image-repo'] ?? ''],
          ['Registry computed push on release', computed(s, name, 'push-on-release') || 'false'],
          ['Registry global push on release', s.global['push-on-release'] ?? 'false'],
          ['Registry push on release', s.apps[name]?.['push-on-release'] ?? ''],
          ['Registry computed server', server || (own ?? '')],
          ['Registry global server', s.global.server ?? ''],
          ['Registry server', s.apps[name]?.server ?? ''],
          ['Registry computed push extra tags', computed(s, name, 'push-extra-tags')],
          ['Registry global push extra tags', s.global['push-extra-tags'] ?? ''],
          ['Registry push extra tags', s.apps[name]?.['push-extra-tags'] ?? ''],
          [
            'Registry logins',
            Object.keys(s.logins.apps[name] ?? {})
              .sort()
              .join(' '),
          ],
        ],
      });
    },
  },
];
