// git:* — how pushes to an app deploy.

import { EXIT } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { deployFromImage } from '../../services/platform/build/command-build.ts';
import { GIT_SETTINGS, setGitSetting } from '../../services/platform/git/settings.ts';
import type { Command } from '../command.ts';
import { buildExit, buildRun } from '../release-run.ts';
import { writeReport } from '../report.ts';

export const gitCommands: readonly Command[] = [
  {
    name: 'git:set',
    usage: `APP ${GIT_SETTINGS.join('|')} [VALUE]`,
    summary: 'change a git setting (no VALUE: back to the default)',
    access: { app: 'push' },
    arity: [1, 2],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const [key = '', value] = args;
      await setGitSetting(await ctx.store(), dataPaths(ctx.config().dataDir), app, key, value);
      ctx.stdout.write(`-----> Set ${key} to ${value ?? 'main'} for ${app.name}\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'git:from-image',
    usage: 'APP IMAGE',
    summary: 'deploy an image already on the Docker Engine (or pullable) instead of a push',
    access: { app: 'push' },
    arity: [1, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const result = await deployFromImage({
        ...(await buildRun(ctx, app.name)),
        image: args[0] ?? '',
      });
      return buildExit(ctx, result, 'the deploy failed');
    },
  },
  {
    name: 'git:report',
    usage: 'APP [--format json | --git-KEY]',
    summary:
      "show the app's git settings; --git-deploy-branch (or another key) prints that value alone",
    access: { app: 'read' },
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      if (!app) return EXIT.failed;
      const c = ctx.config();
      const data = {
        deployBranch: app.deployBranch,
        url: `ssh://berth@${c.domain}:${c.sshPort}/${app.name}`,
      };
      return writeReport(call, {
        namespace: 'git',
        title: `${app.name} git information`,
        rows: [
          // Berth has no platform-wide deploy branch setting: main is the default.
          ['Git computed deploy branch', app.deployBranch],
          ['Git deploy branch', app.deployBranch],
          ['Git global deploy branch', 'main'],
          ['Git URL', data.url],
        ],
        data,
      });
    },
  },
];
