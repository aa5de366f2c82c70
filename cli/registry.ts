// Every Berth command, and the help text made from them.
import type { Command } from './command.ts';
import { namespaceOf } from './command.ts';
import { accessCommands } from './commands/access.ts';
import { appsCommands } from './commands/apps.ts';
import { appsCloneCommands } from './commands/apps-clone.ts';
import { authCommands } from './commands/auth.ts';
import { backupCommands } from './commands/backup.ts';
import { builderCommands } from './commands/builder.ts';
import { buildsCommands } from './commands/builds.ts';
import { certsCommands } from './commands/certs.ts';
import { checksCommands } from './commands/checks.ts';
import { configCommands } from './commands/config.ts';
import { cronCommands } from './commands/cron.ts';
import { datastoreBackupCommands } from './commands/datastore-backups.ts';
import { datastoreCommands } from './commands/datastores.ts';
import { dockerOptionsCommands } from './commands/docker-options.ts';
import { domainsCommands } from './commands/domains.ts';
import { gitCommands } from './commands/git.ts';
import { insteadCommands } from './commands/instead.ts';
import { letsencryptCommands } from './commands/letsencrypt.ts';
import { logsCommands } from './commands/logs.ts';
import { networkCommands } from './commands/network.ts';
import { nginxCommands } from './commands/nginx.ts';
import { nodesCommands } from './commands/nodes.ts';
import { notificationsCommands } from './commands/notifications.ts';
import { portsCommands } from './commands/ports.ts';
import { proxyCommands } from './commands/proxy.ts';
import { psCommands } from './commands/ps.ts';
import { quotaCommands } from './commands/quota.ts';
import { registryCommands } from './commands/registry.ts';
import { releasesCommands } from './commands/releases.ts';
import { reloadCommands } from './commands/reload.ts';
import { repoCommands } from './commands/repo.ts';
import { resourceCommands } from './commands/resource.ts';
import { runCommands } from './commands/run.ts';
import { schedulerCommands } from './commands/scheduler.ts';
import { schedulerSwarmCommands } from './commands/scheduler-swarm.ts';
import { serviceCommands } from './commands/service.ts';
import { sshKeysCommands } from './commands/ssh-keys.ts';
import { storageCommands } from './commands/storage.ts';
import { systemCommands } from './commands/system.ts';

/** What each namespace is for, in the order `help` lists them. */
export const NAMESPACES: Readonly<Record<string, string>> = {
  apps: 'create, list, inspect and destroy apps',
  access: 'let other users push to an app',
  git: 'how a push deploys',
  config: "an app's config vars (its environment)",
  domains: 'the names an app is served at besides APP.<BERTH_DOMAIN>',
  releases: "an app's release history, and rolling back",
  ps: "an app's processes: scale, restart, stop, start, rebuild, report",
  logs: "an app's output, across instances and deploys",
  run: 'one-off processes from the current release',
  storage:
    "an app's volumes, kept across deploys and rollbacks; admins: host directories (storage:create, storage:mount APP /host:/path)",
  network:
    'links between apps: each app has a network of its own; admins make shared ones, owners attach apps to them',
  resource: "memory and CPU limits of an app's processes",
  checks: 'how a rollout checks new instances before traffic moves to them',
  certs: "an app's certificates for its hosts, HTTPS redirect and HSTS; --platform: BERTH_DOMAIN's",
  letsencrypt:
    "certificates from Let's Encrypt (ACME HTTP-01) for an app's hosts or, with --platform, BERTH_DOMAIN",
  proxy: "how the router treats an app's traffic: the request body limit",
  builds: "an app's builds: list, inspect, follow and cancel them",
  builder: 'how pushes are built: a Dockerfile, buildpacks or a prebuilt image',
  'builder-dockerfile': "a Dockerfile build's path and build args",
  buildpacks: 'pin the buildpacks an app builds with',
  'ssh-keys': 'users and their SSH keys (admins)',
  quota:
    "per-user caps on apps, instances, process types, build minutes, push size and disk: yours, or (admins) anyone's",
  auth: 'sign in to the web app, and API tokens for scripts',
  stack: 'the Debian 12 image builds run on (root on the server)',
  backup: 'the whole platform as one archive on stdout (admins; berth backup > FILE)',
  restore: 'a backup brought back on a fresh Berth (root on the server; berth restore < FILE)',
  version: "Berth's version",
  start: 'run Berth in the foreground (root on the server)',
  service: 'run Berth as a systemd service that starts at boot (root on the server)',
  help: 'this help; "help NAMESPACE" for one namespace',
  ports: "which port of an app's instances the router forwards to (Dokku's http:80:5000 mappings)",
  cron: "an app's scheduled tasks (app.json cron): list, run now, suspend, resume, their last output",
  postgres:
    'PostgreSQL services: a server in a container of its own, its data on a volume, linked to apps by DATABASE_URL',
  notifications:
    "an app's webhooks: signed JSON, Slack or Discord messages when a deploy starts, succeeds, fails or is rolled back, a certificate is not renewed or an instance keeps crashing",
  scheduler: 'where an app runs: docker-local (this machine) or swarm (a Docker Swarm)',
  'scheduler-swarm':
    "which of the swarm's nodes an app's tasks run on: placement constraints and preferences",
  nodes: "the swarm's nodes: list, report, add, remove, drain, label (admins)",
  registry:
    "where an app's images are pushed for the swarm: Berth's own registry or an external one (server, image-repo, credentials)",
  urls: "an app's URLs, one a line (urls APP)",
  url: "an app's first URL (url APP)",
  'docker-options':
    "Docker options of an app's containers (admins): a safe allow-list (--shm-size, --ulimit, --add-host, -v of allowed host paths...)",
  repo: "an app's git repository and build cache: repo:gc, repo:purge-cache",
  nginx:
    "Dokku's nginx properties that are router settings (client-max-body-size, hsts); the rest say what Berth does instead",
};

export const helpCommand: Command = {
  name: 'help',
  usage: '[NAMESPACE|COMMAND]',
  summary: 'list the namespaces, or the commands of one',
  access: 'anyone',
  arity: [0, 1],
  async run({ ctx, args }) {
    ctx.stdout.write(helpText(args[0]));
    return 0;
  },
};

export const COMMANDS: readonly Command[] = [
  ...appsCommands,
  ...accessCommands,
  ...gitCommands,
  ...configCommands,
  ...domainsCommands,
  ...releasesCommands,
  ...psCommands,
  ...resourceCommands,
  ...storageCommands,
  ...networkCommands,
  ...letsencryptCommands,
  ...logsCommands,
  ...runCommands,
  ...checksCommands,
  ...certsCommands,
  ...proxyCommands,
  ...buildsCommands,
  ...builderCommands,
  ...sshKeysCommands,
  ...quotaCommands,
  ...authCommands,
  ...systemCommands,
  ...serviceCommands,
  ...backupCommands,
  ...reloadCommands,
  ...portsCommands,
  ...cronCommands,
  ...datastoreCommands,
  ...notificationsCommands,
  ...datastoreBackupCommands,
  ...schedulerCommands,
  ...schedulerSwarmCommands,
  ...registryCommands,
  ...dockerOptionsCommands,
  ...nginxCommands,
  ...appsCloneCommands,
  ...nodesCommands,
  ...repoCommands,
  ...insteadCommands,
  helpCommand,
];

/** A namespace with commands (`dokku config` is `help config`). */
export const isNamespace = (name: string): boolean =>
  COMMANDS.some((c) => namespaceOf(c.name) === name && c.name !== name);

export const findCommand = (name: string): Command | undefined =>
  COMMANDS.find((c) => c.name === name);

const line = (c: Command, width: number) =>
  `    ${`${c.name} ${c.usage}`.trimEnd().padEnd(width)}  ${c.summary}\n`;

export function commandUsage(c: Command): string {
  return `Usage: berth ${`${c.name} ${c.usage}`.trimEnd()}\n\n${c.summary}\n`;
}

/** `help`, `help NAMESPACE` or `help COMMAND`; an unknown topic lists the namespaces. */
export function helpText(topic?: string): string {
  const command = topic === undefined ? undefined : findCommand(topic);
  if (command) return commandUsage(command);
  const inNamespace = COMMANDS.filter((c) => namespaceOf(c.name) === topic);
  if (topic !== undefined && inNamespace.length > 0) {
    const width = Math.max(...inNamespace.map((c) => `${c.name} ${c.usage}`.trimEnd().length));
    return `Usage: berth ${topic}:COMMAND [APP] [ARGS...]\n\n${NAMESPACES[topic] ?? ''}\n\n${inNamespace.map((c) => line(c, width)).join('')}`;
  }
  const width = Math.max(...Object.keys(NAMESPACES).map((n) => n.length));
  const rows = Object.entries(NAMESPACES).map(([n, what]) => `    ${n.padEnd(width)}  ${what}\n`);
  return (
    'Usage: berth COMMAND [APP] [ARGS...]\n' +
    '       ssh -p PORT berth@HOST COMMAND [APP] [ARGS...]\n' +
    "       Dokku's global flags go before COMMAND: --app APP (then no APP after it), --quiet,\n" +
    '       --force, --trace; -v / --version. A report flag prints one value: checks:report APP --checks-disabled-list\n\n' +
    `Namespaces ("berth help NAMESPACE" lists its commands):\n${rows.join('')}`
  );
}
