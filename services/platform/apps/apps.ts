// Apps: the service functions behind apps:* (SSH, the local berth command and
// the web API call these, never the store directly). What an app's features
// keep for it follows a rename or a destroy through ./lifecycle.ts.

import { type Actor, isAdmin } from '../../core/actor.ts';
import { BerthError } from '../../core/errors.ts';
import type { App, Release, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { authorizeApp, mayAccess } from './access.ts';
import type { AppHooks, DestroyedApp, DestroyReport, LifecycleDeps } from './lifecycle.ts';

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

/**
 * Destroys the app: its record in Redis first (so a concurrent push sees it
 * gone, and its routes go), then whatever its features keep for it (the
 * lifecycle hooks: files, then instances, images and storage on the Engine,
 * when it answers; builds:prune removes those later otherwise). The caller
 * has had the name confirmed. Resolves what was removed from the Engine and
 * what was kept; undefined when the Engine did not answer.
 */
export async function destroyApp(
  actor: Actor,
  name: string,
  d: LifecycleDeps,
  o: { removeStorage: boolean } = { removeStorage: false },
): Promise<DestroyReport | undefined> {
  const record = await authorizeApp(d.store, actor, name, 'destroy');
  // What the hooks need of the record, read while it is there.
  const gone: DestroyedApp = {
    app: name,
    createdAt: record.createdAt,
    domains: await d.store.domains.list(name),
    settings: await d.store.apps.deploySettings(name),
    removeStorage: o.removeStorage,
  };
  await d.store.apps.destroy(name);
  const report: DestroyReport = { removed: [], kept: [] };
  for (const hooks of d.hooks) await hooks.destroyed?.(d, gone, report);
  return d.docker ? report : undefined;
}

/**
 * Renames the app: its record in one step, then whatever its features keep
 * for it (the lifecycle hooks: its git repository, kept logs, certificates).
 * A push to the old name afterwards gets "does not exist", like any unknown
 * app. Refused while storage is mounted: volumes are named for the app, and
 * the app under its new name would start on empty ones.
 */
export async function renameApp(app: App, to: string, d: LifecycleDeps): Promise<void> {
  validate.appName(to);
  const { storage } = await d.store.apps.deploySettings(app.name);
  if (storage.length > 0) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `${app.name} has storage mounted (${storage.map((m) => `${m.name}:${m.path}`).join(', ')}), whose volumes are named for the app; copy the data out and storage:unmount first`,
    });
  }
  await d.store.apps.rename(app.name, to);
  const done: AppHooks[] = [];
  for (const hooks of d.hooks) {
    try {
      await hooks.renamed?.(d, app.name, to);
      done.push(hooks);
    } catch (e) {
      // What moved goes back, so the record and the belongings still agree.
      for (const h of done.reverse()) await h.renamed?.(d, to, app.name).catch(() => {});
      await d.store.apps.rename(to, app.name).catch(() => {});
      throw e;
    }
  }
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
