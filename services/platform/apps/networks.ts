// network:*: links between apps, only where asked (Dokku's grammar). Every app
// has a network of its own, which no other app's instances are on; an admin
// makes a shared network (a network joins tenants, so only an admin may),
// and an app's owner attaches the app to it (network:set APP
// attach-post-deploy NAME...). Apps attached to one network reach each other
// there by their names (`APP` for web, `TYPE.APP` for other process types).
//
// The list of networks is in the store; each app's attachments are with its
// deploy settings (so they move with a rename and go with a destroy); the
// scheduler makes the network itself when the first instance joins it.
import type { Actor } from '../../core/actor.ts';
import { actorName } from '../../core/actor.ts';
import { BerthError } from '../../core/errors.ts';
import type { SharedNetwork, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import { apply, type SettingChange } from './instance-settings.ts';

/** The apps attached to `network`, by name. */
export async function appsOn(store: Store, network: string): Promise<string[]> {
  const names = await store.apps.names();
  const on: string[] = [];
  for (const app of names) {
    const settings = await store.apps.deploySettings(app).catch(() => undefined);
    if (settings?.networks.includes(network)) on.push(app);
  }
  return on.sort();
}

/** network:create: a shared network apps may attach to (admins; the command checks). */
export function createNetwork(store: Store, actor: Actor, name: string): Promise<SharedNetwork> {
  return store.networks.create(validate.networkName(name), actorName(actor));
}

/** The network's record; BERTH_E_NETWORK_NOT_FOUND. */
export async function requireNetwork(store: Store, name: string): Promise<SharedNetwork> {
  const found = await store.networks.get(validate.networkName(name));
  if (!found) throw new BerthError('BERTH_E_NETWORK_NOT_FOUND', { network: name });
  return found;
}

const inUse = (network: string, apps: readonly string[]) =>
  new BerthError('BERTH_E_NETWORK_IN_USE', {
    network,
    users: `${apps.length === 1 ? 'app' : 'apps'} ${apps.join(', ')}`,
  });

/**
 * network:destroy: refused while an app is attached to it, or an instance
 * still runs on it (one of an app detached with --no-restart), so no link
 * an owner relies on goes from under them.
 */
export async function destroyNetwork(
  store: Store,
  schedulers: readonly Scheduler[],
  name: string,
): Promise<void> {
  const record = await requireNetwork(store, name);
  const users = await appsOn(store, name);
  if (users.length > 0) throw inUse(name, users);
  await store.networks.remove(name);
  try {
    // An app attached between the look and the removal: its attach checked
    // the record after saving (attachNetworks), so one of the two sees the other.
    const late = await appsOn(store, name);
    if (late.length > 0) throw inUse(name, late);
    for (const scheduler of schedulers) await scheduler.removeSharedNetwork(name);
  } catch (e) {
    await store.networks.restore(record);
    throw e;
  }
}

/**
 * network:set APP attach-post-deploy NAME...: the shared networks the app's
 * instances and one-off runs join (none: it leaves them all), applied with
 * a restart unless the caller says not to. Only networks an admin made.
 */
export async function attachNetworks(c: SettingChange, names: readonly string[]): Promise<void> {
  const wanted = [...new Set(names.map((n) => validate.networkName(n)))].sort();
  for (const n of wanted) await requireNetwork(c.store, n);
  const before = (await c.store.apps.deploySettings(c.app)).networks;
  await c.store.apps.setDeploySetting(c.app, 'networks', wanted);
  // A network destroyed between the check and the save: put the setting back.
  for (const n of wanted) {
    if (!(await c.store.networks.get(n))) {
      await c.store.apps.setDeploySetting(c.app, 'networks', before);
      throw new BerthError('BERTH_E_NETWORK_NOT_FOUND', { network: n });
    }
  }
  await apply(
    c,
    wanted.length > 0
      ? `Attached ${c.app} to ${wanted.join(', ')}`
      : `Detached ${c.app} from every shared network`,
  );
}
