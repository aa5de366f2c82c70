// App lifecycle: the service functions behind apps:* (SSH, the local berth
// command, and later the web API call these, never the store directly).

import { rename, rm } from 'node:fs/promises';
import type Docker from 'dockerode';
import { type Actor, isAdmin } from '../../core/actor.ts';
import { BerthError } from '../../core/errors.ts';
import type { DataPaths } from '../../core/paths.ts';
import type { App, Release, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { type PruneResult, removeAppArtifacts } from '../build/retention.ts';
import { certFile, removeCert } from '../certs/cert-files.ts';
import { removeRepo, renameRepo, setRepoHead } from '../git/repos.ts';
import { appLogDir, logArchiveOf } from '../scheduler/app-logs.ts';
import { schedulerFor } from '../scheduler/schedulers.ts';
import { authorizeApp, mayAccess } from './access.ts';

/**
 * The user who will own an app the actor creates: the actor itself, or for
 * root on the server the --owner given (default: the user "admin", the one
 * BERTH_ADMIN_PUBKEY makes).
 */
async function ownerFor(store: Store, actor: Actor, owner: string | undefined): Promise<string> {
  if (actor.kind === 'user') {
    if (owner !== undefined && owner !== actor.user && !isAdmin(actor)) {
      throw new BerthError('BERTH_E_FORBIDDEN', {
        action: 'creating an app for another user',
        who: 'admins',
      });
    }
    return owner ?? actor.user;
  }
  const name = validate.userName(owner ?? 'admin');
  if (!(await store.users.get(name))) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `user "${name}" does not exist; pass --owner USER (see berth ssh-keys:list)`,
    });
  }
  return name;
}

export async function createApp(
  store: Store,
  actor: Actor,
  name: string,
  options: { owner?: string } = {},
): Promise<App> {
  validate.appName(name);
  const owner = await ownerFor(store, actor, options.owner);
  return store.apps.create({ name, owner });
}

/** The apps the actor may see, sorted by name. */
export async function listApps(store: Store, actor: Actor): Promise<App[]> {
  return (await store.apps.list()).filter((app) => mayAccess(actor, app, 'read'));
}

export interface AppInfo {
  app: App;
  /** The newest release that succeeded, if any. */
  current: Release | undefined;
  domains: string[];
  /** Who made the app and when, for people reading `apps:info`. */
  gitUrl: string;
}

export async function appInfo(store: Store, app: App, sshUrl: string): Promise<AppInfo> {
  const [current, domains] = await Promise.all([
    store.releases.current(app.name),
    store.domains.list(app.name),
  ]);
  return { app, current, domains, gitUrl: `${sshUrl}/${app.name}` };
}

/** Where an app's files live (its git repository under repos/). */
export type AppFiles = Pick<DataPaths, 'repos'> & Partial<Pick<DataPaths, 'logs' | 'certs'>>;

/**
 * Destroys the app: its state in Redis first (so a concurrent push sees it
 * gone, and its routes go), then its files, then its containers, images and
 * build cache on the Engine
 * (undefined `engine`: the Engine did not answer; builds:prune removes them
 * later). The caller has had the name confirmed. Resolves what was removed
 * from the Engine.
 */
export async function destroyApp(
  store: Store,
  actor: Actor,
  name: string,
  files: AppFiles,
  engine: Docker | undefined,
  o: { removeStorage: boolean; base?: string } = { removeStorage: false },
): Promise<PruneResult | undefined> {
  await authorizeApp(store, actor, name, 'destroy');
  const domains = await store.domains.list(name);
  // Chosen while the app's setting is there to say which.
  const scheduler = engine ? await schedulerFor(store, name, { docker: engine }) : undefined;
  await store.apps.destroy(name);
  await removeRepo(files, name);
  // Its certificates' files (the store removed what they are): private keys are not left behind.
  if (files.certs) {
    for (const domain of domains)
      await rm(certFile({ certs: files.certs }, domain), { force: true });
    await removeDefaultHostCert(store, files, name, o.base);
  }
  if (files.logs)
    await rm(appLogDir(logArchiveOf({ logs: files.logs }), name), { recursive: true, force: true });
  if (!engine || !scheduler) return undefined;
  // Its containers first: an image or volume a container uses cannot be removed.
  for (const instance of await scheduler.list(name)) await scheduler.stop(instance);
  const result = await removeAppArtifacts(engine, store, name);
  // Storage holds the app's data: removed only when the person said so.
  for (const v of await scheduler.storageVolumes(name)) {
    if (o.removeStorage) {
      await scheduler.removeStorage(name, v.name);
      result.removed.push(`volume ${v.volume}`);
    } else result.kept.push(`volume ${v.volume}`);
  }
  return result;
}

/**
 * Renames the app: its state in one step, then its git repository and its
 * kept logs. A push to the old name afterwards gets "does not exist", like
 * any unknown app. Refused while storage is mounted: volumes are named for
 * the app, and the app under its new name would start on empty ones.
 */
export async function renameApp(
  store: Store,
  app: App,
  to: string,
  files: AppFiles,
  o: { base?: string } = {},
): Promise<void> {
  validate.appName(to);
  const { storage } = await store.apps.deploySettings(app.name);
  if (storage.length > 0) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `${app.name} has storage mounted (${storage.map((m) => `${m.name}:${m.path}`).join(', ')}), whose volumes are named for the app; copy the data out and storage:unmount first`,
    });
  }
  await store.apps.rename(app.name, to);
  try {
    await renameRepo(files, app.name, to);
  } catch (e) {
    // The files did not move: put the state back so the two still agree.
    await store.apps.rename(to, app.name).catch(() => {});
    throw e;
  }
  if (files.logs) {
    const archive = logArchiveOf({ logs: files.logs });
    await rename(appLogDir(archive, app.name), appLogDir(archive, to)).catch(() => {});
  }
  // The old default host is served no more; the new one gets a certificate
  // from letsencrypt:enable, as any new host does.
  await removeDefaultHostCert(store, files, app.name, o.base);
}

/**
 * Removes the certificate of the app's default host <app>.<base> (ACME's,
 * BERTH_ACME_DEFAULT_HOSTS), metadata and file. It is outside the domains
 * index, so the store's destroy and rename cannot see it; a crash before
 * this leaves metadata the renewer skips (certs/acme.ts builtInHost).
 */
async function removeDefaultHostCert(
  store: Store,
  files: AppFiles,
  app: string,
  base: string | undefined,
): Promise<void> {
  if (base === undefined || files.certs === undefined) return;
  await removeCert(store, { certs: files.certs }, `${app}.${base}`);
}

export async function addCollaborator(store: Store, app: App, user: string): Promise<boolean> {
  validate.userName(user);
  if (!(await store.users.get(user))) throw new BerthError('BERTH_E_USER_NOT_FOUND', { user });
  if (user === app.owner) {
    throw new BerthError('BERTH_E_USAGE', { reason: `${user} owns ${app.name} already` });
  }
  return store.apps.addCollaborator(app.name, user);
}

export async function removeCollaborator(store: Store, app: App, user: string): Promise<boolean> {
  return store.apps.removeCollaborator(app.name, validate.userName(user));
}

/** Settings `git:set APP KEY VALUE` changes; Dokku names them the same. */
export const GIT_SETTINGS = ['deploy-branch'] as const;
export type GitSetting = (typeof GIT_SETTINGS)[number];

export async function setGitSetting(
  store: Store,
  files: AppFiles,
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
