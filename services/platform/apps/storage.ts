// storage:*: an app's named volumes, mounted into its instances and one-off
// runs, kept across deploys and rollbacks, and whose they are.
//
// Volumes are named for their app (berth-storage.<app>.<name>), and Docker
// can neither rename nor relabel one, so a volume apps:destroy kept would go,
// with its data, to the next app of that name, whoever made it. A volume is
// an app's only when it was made for that app (its label carries the app's
// createdAt; one made without the label, when it is no older than the app),
// or when an admin handed it over (storage:hand-over). Everything else here
// sees only the app's own volumes; a kept one waits for its old owner and
// an admin.
import { BerthError } from '../../core/errors.ts';
import type { App, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import type { Scheduler, StorageVolume } from '../scheduler/scheduler.ts';
import { schedulerFor } from '../scheduler/schedulers.ts';
import { apply, type SettingChange } from './instance-settings.ts';

/** "NAME:/path" of storage:mount and storage:unmount, checked. */
export function parseMount(arg: string): { name: string; path: string } {
  const colon = arg.indexOf(':');
  if (colon <= 0) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `"${arg.slice(0, 80)}" is not NAME:/path, such as uploads:/app/uploads`,
    });
  }
  return {
    name: validate.storageName(arg.slice(0, colon)),
    path: validate.containerPath(arg.slice(colon + 1)),
  };
}

/** Whether `v` is the app's: made for it, or handed to it by an admin. */
export function ownsVolume(
  app: Pick<App, 'createdAt'>,
  handedOver: readonly string[],
  v: StorageVolume,
): boolean {
  if (handedOver.includes(v.name)) return true;
  if (v.madeFor !== null) return v.madeFor === app.createdAt;
  // Made without the label: Docker keeps a volume's time to the second.
  const made = Date.parse(v.createdAt);
  return Number.isFinite(made) && made >= Math.floor(Date.parse(app.createdAt) / 1000) * 1000;
}

/** The app's storage volumes (`own`), and those of its name kept from an earlier app (`earlier`). */
export async function appStorage(
  store: Store,
  scheduler: Scheduler,
  app: Pick<App, 'name' | 'createdAt'>,
): Promise<{ own: StorageVolume[]; earlier: StorageVolume[] }> {
  const [{ handedStorage }, volumes] = await Promise.all([
    store.apps.deploySettings(app.name),
    scheduler.storageVolumes(app.name),
  ]);
  const own = volumes.filter((v) => ownsVolume(app, handedStorage, v));
  return { own, earlier: volumes.filter((v) => !own.includes(v)) };
}

async function appRecord(store: Store, name: string): Promise<App> {
  const app = await store.apps.get(name);
  if (!app) throw new BerthError('BERTH_E_APP_NOT_FOUND', { app: name });
  return app;
}

/** storage:mount: the app's volume NAME (made when missing) at /path in every instance and one-off run. */
export async function mountStorage(c: SettingChange, mount: string): Promise<void> {
  const m = parseMount(mount);
  const { storage } = await c.store.apps.deploySettings(c.app);
  if (storage.some((s) => s.name === m.name && s.path === m.path)) {
    c.log.heading(`${m.name} is already mounted at ${m.path}`);
    return;
  }
  const taken = storage.find((s) => s.path === m.path);
  if (taken) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `${m.path} already has ${taken.name} mounted; "storage:unmount ${c.app} ${taken.name}:${taken.path}" first`,
    });
  }
  const scheduler = await schedulerFor(c.store, c.app, {
    docker: c.docker,
    ...(c.swarm ? { swarm: c.swarm } : {}),
  });
  const app = await appRecord(c.store, c.app);
  const kept = (await appStorage(c.store, scheduler, app)).earlier.find((v) => v.name === m.name);
  if (kept) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `the volume ${kept.volume} was kept from an earlier app named ${c.app} and holds its data; mount another NAME, or an admin hands it over ("storage:hand-over ${c.app} ${m.name}")`,
    });
  }
  const volume = await scheduler.ensureStorage(c.app, m.name, app.createdAt);
  await c.store.apps.setDeploySetting(c.app, 'storage', [...storage, m]);
  await apply(c, `Mounted ${volume} at ${m.path}`);
}

/** storage:unmount: the mount goes; the volume and its data stay (storage:mount brings them back). */
export async function unmountStorage(c: SettingChange, mount: string): Promise<void> {
  const m = parseMount(mount);
  const { storage } = await c.store.apps.deploySettings(c.app);
  if (!storage.some((s) => s.name === m.name && s.path === m.path)) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `${m.name} is not mounted at ${m.path} (storage:list ${c.app} shows the mounts)`,
    });
  }
  await c.store.apps.setDeploySetting(
    c.app,
    'storage',
    storage.filter((s) => !(s.name === m.name && s.path === m.path)),
  );
  await apply(c, `Unmounted ${m.name} from ${m.path} (the volume and its data are kept)`);
}

/**
 * storage:hand-over (admins): the volume NAME kept from an earlier app of
 * this app's name becomes this app's, data and all; its Docker name.
 */
export async function handOverStorage(
  store: Store,
  scheduler: Scheduler,
  name: string,
  storageName: string,
): Promise<string> {
  validate.storageName(storageName);
  const app = await appRecord(store, name);
  const { own, earlier } = await appStorage(store, scheduler, app);
  const kept = earlier.find((v) => v.name === storageName);
  if (!kept) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: own.some((v) => v.name === storageName)
        ? `${storageName} is ${name}'s own volume already`
        : `no volume ${storageName} was kept from an earlier app named ${name}`,
    });
  }
  const { handedStorage } = await store.apps.deploySettings(name);
  await store.apps.setDeploySetting(name, 'handedStorage', [...handedStorage, storageName].sort());
  return kept.volume;
}
