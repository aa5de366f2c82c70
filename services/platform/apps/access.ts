// Who may do what to an app. One function decides, for SSH commands, git
// pushes and the web API alike. Someone with no access to an app is told it
// does not exist, so app names do not leak; a collaborator asking for an
// owner's action is told who may do it.
import { type Actor, isAdmin } from '../../core/actor.ts';
import { BerthError } from '../../core/errors.ts';
import type { App, Store } from '../../core/store/index.ts';

/**
 * read: see the app and its state, config keys included; config: see its
 * config values (config:show, config:get, the API and the page's reveal);
 * push: push code and run app commands (config, scale, ...); manage: add or
 * remove collaborators, rename; destroy: destroy the app.
 */
export type AppAction = 'read' | 'config' | 'push' | 'manage' | 'destroy';

/** How a refusal names what was refused. */
const DOING: Record<AppAction, string> = {
  read: 'seeing',
  config: 'seeing the config values of',
  push: 'changing',
  manage: 'managing',
  destroy: 'destroying',
};

const OWNER_ONLY: ReadonlySet<AppAction> = new Set(['manage', 'destroy']);

export function mayAccess(actor: Actor, app: App, action: AppAction): boolean {
  // A read-only token sees what its user sees, and nothing more: not even config values.
  if (actor.kind === 'user' && actor.readOnly && action !== 'read') return false;
  if (isAdmin(actor)) return true;
  if (actor.kind !== 'user') return false;
  if (app.owner === actor.user) return true;
  return !OWNER_ONLY.has(action) && app.collaborators.includes(actor.user);
}

/** The app when the actor may do `action` to it; otherwise the error to show. */
export async function authorizeApp(
  store: Store,
  actor: Actor,
  name: string,
  action: AppAction,
): Promise<App> {
  const app = await store.apps.get(name);
  const visible = app !== undefined && mayAccess(actor, app, 'read');
  if (!visible) throw new BerthError('BERTH_E_APP_NOT_FOUND', { app: name });
  if (!mayAccess(actor, app, action)) {
    throw new BerthError('BERTH_E_FORBIDDEN', {
      action: `${DOING[action]} app "${name}"`,
      who:
        actor.kind === 'user' && actor.readOnly
          ? 'tokens that may write (this API token is read-only; auth:token without --read-only issues one)'
          : OWNER_ONLY.has(action)
            ? 'its owner and admins'
            : 'its owner, collaborators and admins',
    });
  }
  return app;
}

/** For admin-only commands (ssh-keys:*, stack:rebuild). */
export function requireAdmin(actor: Actor, command: string): void {
  if (!isAdmin(actor))
    throw new BerthError('BERTH_E_FORBIDDEN', { action: command, who: 'admins' });
}
