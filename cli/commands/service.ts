// Berth as a systemd service on the server: install, uninstall, status.
// Root on the server only (access 'local'); over SSH they do not exist.
import {
  DEFAULT_UNIT_DIR,
  DEFAULT_UNIT_NAME,
  installService,
  type Outcome,
  serviceStatus,
  uninstallService,
} from '../../infra/systemd/install.ts';
import { EXIT } from '../../services/core/errors.ts';
import type { Command, CommandContext, OptionValues } from '../command.ts';
import { formatOf, json, report } from '../output.ts';
import { localHost } from './system.ts';

const OPTIONS = {
  name: { type: 'string' },
  'unit-dir': { type: 'string' },
} as const;
const USAGE = '[--name NAME] [--unit-dir DIR]';
const DEFAULTS_NOTE = `(--name ${DEFAULT_UNIT_NAME}, --unit-dir ${DEFAULT_UNIT_DIR} by default)`;

function target(ctx: CommandContext, options: OptionValues) {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    name: str(options.name),
    unitDir: str(options['unit-dir']),
    searchPath: localHost(ctx).searchPath,
  };
}

function print(ctx: CommandContext, out: Outcome): number {
  for (const line of out.done) ctx.stdout.write(`${line}\n`);
  for (const line of out.warnings) ctx.stderr.write(`warning: ${line}\n`);
  return EXIT.ok;
}

export const serviceCommands: readonly Command[] = [
  {
    name: 'service:install',
    usage: USAGE,
    summary: `write Berth's systemd unit and its environment file (the BERTH_*, REDIS_URL and DOCKER_HOST set now; mode 0600) and enable it to start at boot ${DEFAULTS_NOTE}`,
    access: 'local',
    options: OPTIONS,
    arity: [0, 0],
    async run({ ctx, options }) {
      const host = localHost(ctx);
      // Reading them validates them: a setting Berth would refuse at start is refused here.
      ctx.config();
      return print(
        ctx,
        await installService({
          ...target(ctx, options),
          env: host.baseEnv,
          node: process.execPath,
        }),
      );
    },
  },
  {
    name: 'service:uninstall',
    usage: USAGE,
    summary: 'disable and stop the systemd service, and remove its unit and environment file',
    access: 'local',
    options: OPTIONS,
    arity: [0, 0],
    async run({ ctx, options }) {
      return print(ctx, await uninstallService(target(ctx, options)));
    },
  },
  {
    name: 'service:status',
    usage: USAGE,
    summary:
      'whether the systemd service is installed, enabled and running, and where its files are',
    access: 'local',
    options: OPTIONS,
    json: true,
    arity: [0, 0],
    async run({ ctx, options }) {
      const format = formatOf(options);
      const s = await serviceStatus(target(ctx, options));
      if (format === 'json') {
        ctx.stdout.write(json(s));
        return EXIT.ok;
      }
      const installed = !s.installed
        ? 'not installed'
        : s.writtenByBerth
          ? 'installed'
          : 'a file not written by "berth service:install"';
      ctx.stdout.write(
        report(s.unit, [
          ['unit file', `${s.unitFile} (${installed})`],
          ['env file', `${s.envFile} (${s.envFileInstalled ? 'present' : 'none'})`],
          ['enabled', s.enabled],
          ['active', s.active],
        ]),
      );
      return EXIT.ok;
    },
  },
];
