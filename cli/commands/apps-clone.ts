// apps:clone — Dokku's: a copy of an app (config, deploy branch, git
// repository), deployed unless --skip-deploy (services/platform/apps/clone.ts).

import { EXIT } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import * as validate from '../../services/core/validate.ts';
import { cloneApp } from '../../services/platform/apps/clone.ts';
import { rebuild } from '../../services/platform/build/rebuild.ts';
import type { Command } from '../command.ts';
import { buildExit, buildRun } from '../release-run.ts';

export const appsCloneCommands: readonly Command[] = [
  {
    name: 'apps:clone',
    usage: '[--skip-deploy] [--ignore-existing] APP NEW-APP',
    summary:
      "a new app (yours) with APP's config vars, deploy branch and git repository, deployed from it unless --skip-deploy; domains, certificates, volumes and settings stay APP's",
    // Its config values are copied: who may read them may clone.
    access: { app: 'config' },
    options: { 'skip-deploy': { type: 'boolean' }, 'ignore-existing': { type: 'boolean' } },
    arity: [1, 1],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      const to = validate.appName(args[0] ?? '');
      const store = await ctx.store();
      if (options['ignore-existing'] === true && (await store.apps.exists(to))) {
        ctx.stdout.write(`       ${to} exists already; nothing cloned (--ignore-existing)\n`);
        return EXIT.ok;
      }
      const paths = dataPaths(ctx.config().dataDir);
      const searchPath = systemSearchPath(undefined);
      const cloned = await cloneApp({
        store,
        paths,
        searchPath,
        actor: ctx.actor,
        from: app,
        to,
      });
      ctx.stdout.write(
        `-----> Cloned ${app.name} to ${to} (owner ${cloned.app.owner}): config vars${cloned.hasRepo ? ' and git repository' : ''}\n`,
      );
      if (options['skip-deploy'] === true || !cloned.hasRepo) return EXIT.ok;
      return buildExit(
        ctx,
        await rebuild({ ...(await buildRun(ctx, to)), paths, searchPath }),
        'the deploy failed',
      );
    },
  },
];
