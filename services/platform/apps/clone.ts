// apps:clone OLD NEW (Dokku's): a new app with the old one's config vars,
// deploy branch and git repository (every branch), owned by whoever clones
// it; its domains, certificates, volumes and settings are not copied (a
// domain is one app's, and volumes hold the old app's data). The caller
// deploys it from the copied deploy branch unless told not to.
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Actor } from '../../core/actor.ts';
import type { DataPaths } from '../../core/paths.ts';
import type { App, Store } from '../../core/store/index.ts';
import { ensureRepo, gitEnv, repoDir } from '../git/repos.ts';
import { createApp } from './apps.ts';

const exec = promisify(execFile);

export async function cloneApp(o: {
  store: Store;
  paths: DataPaths;
  searchPath: string;
  actor: Actor;
  from: App;
  to: string;
}): Promise<{ app: App; hasRepo: boolean }> {
  const app = await createApp(o.store, o.actor, o.to);
  await o.store.config.set(app.name, await o.store.config.get(o.from.name));
  if (o.from.deployBranch !== app.deployBranch)
    await o.store.apps.setDeployBranch(app.name, o.from.deployBranch);
  const source = repoDir(o.paths, o.from.name);
  const hasRepo = await stat(source).then(
    () => true,
    () => false,
  );
  if (hasRepo) {
    const dir = await ensureRepo(o.paths, app.name, {
      searchPath: o.searchPath,
      headBranch: o.from.deployBranch,
    });
    // Both repositories are Berth's own: a local fetch, no hooks run.
    await exec(
      'git',
      ['--git-dir', dir, 'fetch', '-q', '--no-tags', '--', source, '+refs/heads/*:refs/heads/*'],
      { env: gitEnv(o.searchPath, o.paths.repos) },
    );
  }
  return { app: { ...app, deployBranch: o.from.deployBranch }, hasRepo };
}
