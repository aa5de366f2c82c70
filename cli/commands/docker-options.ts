// docker-options:add|remove|clear|report — Docker options of an app's
// containers (admins), as Dokku's, from a safe allow-list
// (services/core/docker-options.ts); applied from the next deploy or restart.

import { ACCEPTED_OPTIONS, DOCKER_OPTION_PHASES } from '../../services/core/docker-options.ts';
import { EXIT } from '../../services/core/errors.ts';
import { requireAdmin } from '../../services/platform/apps/access.ts';
import {
  addDockerOptions,
  bindPolicy,
  clearDockerOptions,
  parsePhases,
  removeDockerOptions,
} from '../../services/platform/apps/docker-options.ts';
import type { Command } from '../command.ts';
import { writeReport } from '../report.ts';

const PHASES = DOCKER_OPTION_PHASES.join(',');

export const dockerOptionsCommands: readonly Command[] = [
  {
    name: 'docker-options:add',
    usage: `APP ${PHASES} OPTION...`,
    summary: `add Docker options to the app's containers (admins): ${ACCEPTED_OPTIONS.join(' ')}; -v only for host paths under $BERTH_DATA_DIR/storage or BERTH_STORAGE_ALLOWED_PATHS; options that give the host away are refused. From the next deploy or ps:restart`,
    // The app is checked as for its owner (it must exist and be visible), then admins only.
    access: { app: 'read' },
    // `docker-options:add APP deploy --shm-size 256m`: the option's words are the command's.
    passThrough: true,
    arity: [2, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      requireAdmin(ctx.actor, 'docker-options:add');
      const [phaseArg = '', ...words] = args;
      const phases = parsePhases(phaseArg);
      const config = ctx.config();
      const added = await addDockerOptions(
        await ctx.store(),
        app,
        phases,
        words.join(' '),
        bindPolicy(config.dataDir, config.storageAllowedPaths),
      );
      ctx.stdout.write(
        `-----> Added ${added.join(' ')} to ${app.name} (${phases.join(', ')}); applied from the next deploy or ps:restart\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'docker-options:remove',
    usage: `APP ${PHASES} OPTION...`,
    summary: "remove Docker options of the app's containers (admins)",
    access: { app: 'read' },
    // `docker-options:add APP deploy --shm-size 256m`: the option's words are the command's.
    passThrough: true,
    arity: [2, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      requireAdmin(ctx.actor, 'docker-options:remove');
      const [phaseArg = '', ...words] = args;
      const phases = parsePhases(phaseArg);
      const n = await removeDockerOptions(await ctx.store(), app, phases, words.join(' '));
      ctx.stdout.write(
        n === 0
          ? `-----> ${app.name} had none of these options; nothing changed\n`
          : `-----> Removed ${n} options of ${app.name}; applied from the next deploy or ps:restart\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'docker-options:clear',
    usage: `APP [${PHASES}]`,
    summary: "remove every Docker option of the app's containers (of the phases given) (admins)",
    access: { app: 'read' },
    arity: [0, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      requireAdmin(ctx.actor, 'docker-options:clear');
      const phases = args[0] === undefined ? [...DOCKER_OPTION_PHASES] : parsePhases(args[0]);
      await clearDockerOptions(await ctx.store(), app, phases);
      ctx.stdout.write(`-----> Cleared the ${phases.join(', ')} options of ${app.name}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'docker-options:report',
    usage: '[APP] [--format json | --docker-options-KEY]',
    summary: "the app's Docker options by phase",
    access: { app: 'read' },
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      if (!app) return EXIT.failed;
      const { dockerOptions } = await (await ctx.store()).apps.deploySettings(app.name);
      return writeReport(call, {
        namespace: 'docker-options',
        app: app.name,
        rows: [
          // Builds take none (docker-options:add refuses the build phase).
          ['Docker options build', ''],
          ['Docker options deploy', dockerOptions.deploy.join(' ')],
          ['Docker options run', dockerOptions.run.join(' ')],
        ],
      });
    },
  },
];
