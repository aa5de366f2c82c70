// git:set: how pushes to an app deploy, as Dokku's git:set. The deploy
// branch is the app's record's; the repository's HEAD follows it so clones
// check out the branch that deploys.
import { BerthError } from '../../core/errors.ts';
import type { App, Store } from '../../core/store/index.ts';
import { type RepoPaths, setRepoHead } from './repos.ts';

/** Settings `git:set APP KEY VALUE` changes; Dokku names them the same. */
export const GIT_SETTINGS = ['deploy-branch'] as const;
export type GitSetting = (typeof GIT_SETTINGS)[number];

export async function setGitSetting(
  store: Store,
  files: RepoPaths,
  app: App,
  key: string,
  value: string | undefined,
): Promise<void> {
  if (!(GIT_SETTINGS as readonly string[]).includes(key)) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `unknown git setting "${key}"; use ${GIT_SETTINGS.join(', ')}`,
    });
  }
  // No value: back to the default, as Dokku's git:set does.
  const branch = value ?? 'main';
  await store.apps.setDeployBranch(app.name, branch);
  // Clones check out the branch that deploys.
  await setRepoHead(files, app.name, branch);
}
