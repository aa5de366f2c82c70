// Host directories in apps (admins only): storage:create registers a named
// directory (under $BERTH_DATA_DIR/storage, or an allowed host path), and
// storage:mount APP /host:/container (or APP NAME --container-dir /path)
// binds one into an app's instances and one-off runs. A mount is a
// docker-options `--volume` of the deploy and run phases, so it goes through
// the same checks (core/docker-options.ts: allowed roots, no system
// directory, no Docker socket, no symlink). Tenants keep their volumes
// (storage:mount APP NAME:/path, apps/storage.ts).
import { chown, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type BindPolicy, bindMount, hostPath, noSymlinks } from '../../core/docker-options.ts';
import { BerthError } from '../../core/errors.ts';
import type { App, StorageEntry, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { APP_UID } from '../build/buildpack-build.ts';
import { addDockerOptions, removeDockerOptions } from './docker-options.ts';

const usage = (reason: string) => new BerthError('BERTH_E_USAGE', { reason });

/**
 * storage:create NAME [PATH]: without PATH, $BERTH_DATA_DIR/storage/NAME,
 * made and given to the app user (uid 32767) so non-root apps can write;
 * with PATH, an existing directory under an allowed root, left as it is.
 */
export async function createStorageEntry(
  store: Store,
  name: string,
  given: string | undefined,
  policy: BindPolicy,
  by: string,
): Promise<StorageEntry> {
  validate.storageName(name);
  let dir: string;
  if (given === undefined) {
    dir = path.join(policy.storageDir, name);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    // Berth runs as root on a server; elsewhere (tests as a user) the directory stays the runner's.
    if (process.getuid?.() === 0) await chown(dir, APP_UID, APP_UID);
  } else {
    dir = hostPath(given, given, policy);
  }
  noSymlinks(dir, dir);
  const entry = { name, path: dir, createdAt: new Date().toISOString(), by };
  if (!(await store.platform.addStorageEntry(entry))) {
    throw usage(`storage entry ${name} exists already (storage:info ${name})`);
  }
  return entry;
}

/** The apps whose options bind `dir` (a mount of the entry). */
export async function appsMounting(store: Store, dir: string): Promise<string[]> {
  const users: string[] = [];
  for (const name of await store.apps.names()) {
    const { dockerOptions } = await store.apps.deploySettings(name);
    const all = [...dockerOptions.deploy, ...dockerOptions.run];
    if (all.some((o) => o.startsWith(`--volume=${dir}:`))) users.push(name);
  }
  return users;
}

/** storage:destroy NAME: refused while an app mounts it; the directory and its files stay on disk. */
export async function destroyStorageEntry(store: Store, name: string): Promise<StorageEntry> {
  const entry = await store.platform.storageEntry(name);
  if (!entry) throw usage(`no storage entry ${name} (storage:list-entries)`);
  const users = await appsMounting(store, entry.path);
  if (users.length > 0) {
    throw usage(`${name} is mounted by ${users.join(', ')}; storage:unmount it from each first`);
  }
  await store.platform.removeStorageEntry(name);
  return entry;
}

/**
 * The bind of storage:mount APP /host:/container[:ro], or of an entry:
 * `APP NAME --container-dir /path`.
 */
export async function hostMountOf(
  store: Store,
  arg: string,
  containerDir: string | undefined,
  /** undefined: any host path but the never-bound ones (unmounting). */
  policy: BindPolicy | undefined,
): Promise<string> {
  if (containerDir !== undefined) {
    const entry = await store.platform.storageEntry(arg);
    if (!entry) throw usage(`no storage entry ${arg} (storage:create ${arg} makes one)`);
    return `${entry.path}:${validate.containerPath(containerDir)}`;
  }
  const bind = bindMount(`--volume=${arg}`, arg, policy);
  return `${bind.source}:${bind.target}${bind.readOnly ? ':ro' : ''}`;
}

/** Mounts a host directory into the app's instances and one-off runs. */
export async function mountHostDir(
  store: Store,
  app: App,
  bind: string,
  policy: BindPolicy,
): Promise<void> {
  await addDockerOptions(store, app, ['deploy', 'run'], `--volume=${bind}`, policy);
}

/** Unmounts it; returns whether it was mounted. */
export async function unmountHostDir(store: Store, app: App, bind: string): Promise<boolean> {
  return (await removeDockerOptions(store, app, ['deploy', 'run'], `--volume=${bind}`)) > 0;
}
