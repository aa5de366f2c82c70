// Dokku commands that only make sense inside Dokku: its plugins, its trace
// switch, its other builders and schedulers, its event log, and the git
// credentials Berth never stores. Each answers in one line with what Berth
// does instead (cli/dokku-only.ts); nginx's are in nginx.ts.
import type { Command } from '../command.ts';
import { dokkuOnly } from '../dokku-only.ts';

const PLUGINS = {
  why: "Berth has no plugins: its features are built in, and a tenant's code never runs on the host",
  instead:
    'every feature is a command (berth help lists them); datastores are the postgres, redis and mysql commands; Berth is upgraded with git pull and berth reload',
};

const plugin = (verb: string, usage = '', options?: Command['options']) =>
  dokkuOnly({ name: `plugin:${verb}`, usage, ...PLUGINS, options });

/** Dokku's other builders: Berth has its own buildpack builder, Dockerfile builds and images. */
const builder = (kind: string, why: string, instead: string) => [
  dokkuOnly({ name: `builder-${kind}:set`, usage: 'APP KEY [VALUE]', why, instead }),
  dokkuOnly({ name: `builder-${kind}:report`, usage: '[APP]', why, instead }),
];

const NO_BUILDER = (kind: string) =>
  builder(
    kind,
    `Berth has no ${kind} builder`,
    "builder:set APP dockerfile|buildpacks|image chooses among Berth's builders",
  );

const GIT_AUTH = {
  why: 'git:sync fetches public https repositories only, and Berth stores no git credentials or deploy keys',
  instead:
    'git:sync APP https://HOST/REPO [REF] for a public repository; push a private one (git push berth@HOST:APP main)',
};

const EVENTS = {
  why: 'Berth keeps no Dokku event log',
  instead:
    'releases APP lists every deploy, config change and rollback with who and when; notifications:add APP URL sends them to a webhook',
};

const VECTOR = {
  why: 'Berth ships no vector log shipper',
  instead: "logs APP -t follows an app's output; Docker keeps it, rotated (logs:set APP max-size)",
};

const BACKUP_AUTH = (kind: string) => ({
  why: "a datastore's S3 credentials are the operator's, not stored per service",
  instead: `the operator sets BERTH_DATASTORE_S3_*; ${kind}:backup NAME BUCKET uses them`,
});

export const insteadCommands: readonly Command[] = [
  plugin('list', '', { format: { type: 'string' } }),
  plugin('installed', 'NAME'),
  plugin('install', '[URL] [--committish REF] [--name NAME]', {
    core: { type: 'boolean' },
    committish: { type: 'string' },
    name: { type: 'string' },
    'skip-install-trigger': { type: 'boolean' },
  }),
  plugin('install-dependencies', '[--core]', { core: { type: 'boolean' } }),
  plugin('update', '[NAME [REF]]'),
  plugin('uninstall', 'NAME'),
  plugin('enable', 'NAME'),
  plugin('disable', 'NAME'),
  plugin('trigger', 'TRIGGER [ARGS...]'),
  dokkuOnly({
    name: 'trace:on',
    usage: '',
    why: 'Berth runs no plugin shell scripts to trace',
    instead:
      'put --trace before one command (berth --trace config:get APP KEY); berth start logs its services',
  }),
  dokkuOnly({
    name: 'trace:off',
    usage: '',
    why: 'Berth runs no plugin shell scripts to trace',
    instead:
      'put --trace before one command (berth --trace config:get APP KEY); berth start logs its services',
  }),
  ...builder(
    'herokuish',
    'Berth builds buildpack apps with its own builder on its Debian 12 stack, not herokuish',
    'builder:set APP buildpacks, then buildpacks:set|add APP pin the buildpacks; stack:rebuild updates the build image',
  ),
  ...builder(
    'pack',
    'Berth builds buildpack apps with its own builder on its Debian 12 stack, not pack',
    'builder:set APP buildpacks, then buildpacks:set|add APP pin the buildpacks; stack:rebuild updates the build image',
  ),
  ...NO_BUILDER('lambda'),
  ...NO_BUILDER('nixpacks'),
  ...NO_BUILDER('railpack'),
  dokkuOnly({
    name: 'scheduler-docker-local:set',
    usage: 'APP KEY [VALUE]',
    why: "docker-local's properties (init-process, parallel-schedule-count) are Berth's own choices",
    instead:
      'scheduler:set APP docker-local|swarm picks the scheduler; ps:set APP restart-policy|stop-timeout-seconds tunes the instances',
  }),
  dokkuOnly({
    name: 'scheduler-docker-local:report',
    usage: '[APP]',
    why: "docker-local's properties (init-process, parallel-schedule-count) are Berth's own choices",
    instead: 'scheduler:report APP and ps:report APP',
  }),
  dokkuOnly({
    name: 'events',
    usage: '[-t]',
    ...EVENTS,
    options: { tail: { type: 'boolean', short: 't' } },
  }),
  dokkuOnly({ name: 'events:list', usage: '', ...EVENTS }),
  dokkuOnly({ name: 'events:on', usage: '', ...EVENTS }),
  dokkuOnly({ name: 'events:off', usage: '', ...EVENTS }),
  dokkuOnly({
    name: 'logs:vector-logs',
    usage: '[--num N] [--tail]',
    ...VECTOR,
    options: { num: { type: 'string', short: 'n' }, tail: { type: 'boolean', short: 't' } },
  }),
  dokkuOnly({ name: 'logs:vector-start', usage: '', ...VECTOR }),
  dokkuOnly({ name: 'logs:vector-stop', usage: '', ...VECTOR }),
  dokkuOnly({ name: 'git:allow-host', usage: 'HOST', ...GIT_AUTH }),
  dokkuOnly({ name: 'git:auth', usage: 'HOST [USER PASSWORD]', ...GIT_AUTH }),
  dokkuOnly({ name: 'git:auth-status', usage: 'HOST [USER PASSWORD]', ...GIT_AUTH }),
  dokkuOnly({ name: 'git:generate-deploy-key', usage: '', ...GIT_AUTH }),
  dokkuOnly({ name: 'git:public-key', usage: '', ...GIT_AUTH }),
  dokkuOnly({
    name: 'git:initialize',
    usage: 'APP',
    why: "an app's repository is made by apps:create and its first push",
    instead: "git push berth@HOST:APP main (apps:create APP first, or an admin's push creates it)",
  }),
  dokkuOnly({
    name: 'git:unlock',
    usage: 'APP [--force]',
    why: "Berth holds no deploy lock directory: an app's pushes queue behind each other",
    instead:
      'builds:cancel APP stops the build that holds the queue; apps:unlock APP undoes apps:lock',
    options: { force: { type: 'boolean' } },
  }),
  dokkuOnly({
    name: 'ps:restore',
    usage: '[APP]',
    why: 'Berth brings every app back on its release, with its scale, by itself when it starts',
    instead: 'ps:start APP starts what ps:stop stopped',
  }),
  dokkuOnly({
    name: 'proxy:clear-config',
    usage: 'APP | --all',
    why: "Berth's router keeps no per-app config file",
    instead:
      'nothing to clear: the router serves each change of routes, domains and certificates from the next request',
    options: { all: { type: 'boolean' } },
  }),
  dokkuOnly({
    name: 'domains:enable',
    usage: 'APP',
    why: 'an app is always served at its default host APP.<BERTH_DOMAIN>',
    instead: 'domains:add APP DOMAIN serves it at more names; ps:scale APP web=0 stops serving it',
  }),
  dokkuOnly({
    name: 'domains:disable',
    usage: 'APP',
    why: 'an app is always served at its default host APP.<BERTH_DOMAIN>',
    instead: 'domains:clear APP removes its custom domains; ps:scale APP web=0 stops serving it',
  }),
  dokkuOnly({
    name: 'letsencrypt:cron-job',
    usage: '--add | --remove',
    why: 'certificates renew inside Berth, not from a cron job',
    instead:
      'each renews by itself a third of its lifetime before it expires; letsencrypt:auto-renew renews the due ones now',
    options: { add: { type: 'boolean' }, remove: { type: 'boolean' } },
  }),
  dokkuOnly({
    name: 'letsencrypt:cleanup',
    usage: 'APP',
    why: "Berth keeps only each domain's current certificate",
    instead: 'nothing to clean up: letsencrypt:list shows what is kept',
  }),
  dokkuOnly({
    name: 'checks:run',
    usage: 'APP [TYPES]',
    why: 'Berth checks each new instance during a rollout and watches them after',
    instead:
      "ps:report APP shows each instance's state; the status page and notifications report crashes",
  }),
  dokkuOnly({
    name: 'cron:set',
    usage: 'APP|--global KEY VALUE',
    why: 'Berth sends no cron mail (mailto, mailfrom)',
    instead: "cron:list APP shows each task's last status, cron:logs APP ID its output",
    options: { global: { type: 'boolean' } },
  }),
  dokkuOnly({
    name: 'postgres:backup-auth',
    usage: 'NAME KEY SECRET...',
    ...BACKUP_AUTH('postgres'),
  }),
  dokkuOnly({ name: 'postgres:backup-deauth', usage: 'NAME', ...BACKUP_AUTH('postgres') }),
  dokkuOnly({ name: 'redis:backup-auth', usage: 'NAME KEY SECRET...', ...BACKUP_AUTH('redis') }),
  dokkuOnly({ name: 'redis:backup-deauth', usage: 'NAME', ...BACKUP_AUTH('redis') }),
];
