// repo:* — Dokku's upkeep of an app's repository and build cache: repo:gc
// runs git gc on the app's bare repository (and records its new size for
// the disk quota); repo:purge-cache removes the buildpack build cache.

import { createDockerClient } from '../../services/core/docker.ts';
import { EXIT } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import { purgeBuildCache } from '../../services/platform/build/retention.ts';
import { diskUsage, recordRepoUsage } from '../../services/platform/git/repo-usage.ts';
import { gcRepo, repoDir } from '../../services/platform/git/repos.ts';
import type { Command } from '../command.ts';

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export const repoCommands: readonly Command[] = [
  {
    name: 'repo:gc',
    usage: 'APP',
    summary:
      "git gc on the app's repository: packs its objects and drops unreachable ones older than two weeks; prints its size before and after",
    access: { app: 'push' },
    arity: [0, 0],
    async run({ ctx, app }) {
      if (!app) return EXIT.failed;
      const paths = dataPaths(ctx.config().dataDir);
      const before = await diskUsage(repoDir(paths, app.name));
      if (!(await gcRepo(paths, app.name, { searchPath: systemSearchPath(undefined) }))) {
        ctx.stdout.write(`       ${app.name} has no git repository yet (nothing pushed)\n`);
        return EXIT.ok;
      }
      const after = await recordRepoUsage(await ctx.store(), paths, app.name);
      ctx.stdout.write(
        `-----> Cleaned up ${app.name}'s git repository: ${mb(before)} before, ${mb(after)} now\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'repo:purge-cache',
    usage: 'APP',
    summary:
      "remove the app's buildpack build cache (the berth-cache-APP volume: what buildpacks keep between builds, such as downloaded packages); the next build starts without it",
    access: { app: 'push' },
    arity: [0, 0],
    async run({ ctx, app }) {
      if (!app) return EXIT.failed;
      const docker = await createDockerClient(ctx.config());
      const r = await purgeBuildCache(docker, app.name);
      if (r === 'busy') {
        ctx.stderr.write(
          ` !     ${app.name}'s build cache is in use by a build; nothing removed: run repo:purge-cache ${app.name} again when it ends\n`,
        );
        return EXIT.failed;
      }
      ctx.stdout.write(
        r === 'removed'
          ? `-----> Removed ${app.name}'s build cache; the next build starts without it\n`
          : `       ${app.name} has no build cache (Dockerfile builds use the Engine's layer cache: builds:prune ${app.name})\n`,
      );
      return EXIT.ok;
    },
  },
];
