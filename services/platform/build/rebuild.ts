// ps:rebuild: the app's deploy branch, as last pushed, built and released
// again (Dokku's ps:rebuild): for a buildpack that changed, a base image
// with security fixes, or a build that failed for a reason now gone.

import { stat } from 'node:fs/promises';
import { BerthError } from '../../core/errors.ts';
import type { DataPaths } from '../../core/paths.ts';
import { systemSearchPath } from '../../core/programs.ts';
import { gitEnv, repoDir, repoGit } from '../git/repos.ts';
import { type CommandBuild, rebuildCommit } from './command-build.ts';
import type { BuildResult } from './queue.ts';

export async function rebuild(
  o: CommandBuild & { paths: DataPaths; searchPath?: string },
): Promise<BuildResult> {
  const app = await o.store.apps.require(o.app);
  const branch = app.deployBranch;
  const env = gitEnv(o.searchPath ?? systemSearchPath(undefined), o.paths.repos);
  const dir = repoDir(o.paths, app.name);
  // No repository yet, or no such branch in it: nothing to rebuild.
  const hasRepo = await stat(dir).then(
    () => true,
    () => false,
  );
  const rev = hasRepo
    ? (
        await repoGit(dir, env)
          .revparse(['--verify', '--quiet', `refs/heads/${branch}^{commit}`])
          .catch(() => '')
      ).trim()
    : '';
  if (!/^[0-9a-f]{40}$/.test(rev)) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `${app.name} has no ${branch} branch pushed to rebuild; push it first (git push deploy ${branch})`,
    });
  }
  return rebuildCommit({ ...o, rev, branch });
}
