// git:set: how pushes to an app deploy, as Dokku's git:set. The deploy
// branch is the app's record's; the repository's HEAD follows it so clones
// check out the branch that deploys.
import { BerthError } from '../../core/errors.ts';
import type { App, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { type RepoPaths, setRepoHead } from './repos.ts';

/** Settings `git:set APP KEY VALUE` changes; Dokku names them the same. */
export const GIT_SETTINGS = ['deploy-branch'] as const;
export type GitSetting = (typeof GIT_SETTINGS)[number];

/**
 * git:set APP|--global KEY [VALUE]. An app's deploy branch is its own from
 * its creation; no VALUE puts it back to the --global one, else main. With
 * no app (admins): the deploy branch apps created from now on get.
 */
export async function setGitSetting(
  store: Store,
  files: RepoPaths,
  app: App | undefined,
  key: string,
  value: string | undefined,
): Promise<string> {
  if (!(GIT_SETTINGS as readonly string[]).includes(key)) {
    throw new BerthError('BERTH_E_UNKNOWN_SETTING', {
      command: 'git:set',
      key: key.slice(0, 40),
      settings: GIT_SETTINGS.join(', '),
    });
  }
  const given = value === undefined || value === '' ? null : validate.branchName(value);
  if (app === undefined) {
    await store.platform.set('deployBranch', given);
    return given ?? 'main';
  }
  // No value: back to the default, as Dokku's git:set does.
  const branch = given ?? (await store.platform.get()).deployBranch ?? 'main';
  await store.apps.setDeployBranch(app.name, branch);
  // Clones check out the branch that deploys.
  await setRepoHead(files, app.name, branch);
  return branch;
}
