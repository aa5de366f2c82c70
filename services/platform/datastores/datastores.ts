// Datastores as the postgres:* commands make and show them: who may see
// which (as with apps: admins all, users their own; another user's is "not
// found"), create, destroy, start, stop, restart, and what info reports.
import { randomBytes } from 'node:crypto';
import { type Actor, actorName, isAdmin } from '../../core/actor.ts';
import { BerthError } from '../../core/errors.ts';
import type { Datastore, DatastoreLink, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { removeBackupSettings } from './backup-schedule.ts';
import { ensureDatastoreImage, type ImageProgress, imageRef } from './image.ts';
import { type DatastoreKind, databaseName } from './kind.ts';
import { kindVersion } from './kinds.ts';
import {
  createServer,
  DEFAULT_MEMORY,
  type EngineDeps,
  health,
  removeServer,
  serverName,
  serverState,
  volumeName,
  waitHealthy,
} from './server.ts';

export interface DatastoreDeps extends EngineDeps {
  store: Store;
  actor: Actor;
  /** Scratch space for building an image (the stack's, under the data directory). */
  workDir: string;
  log: ImageProgress;
}

/** Whether the actor may see (read) or change the datastore. */
export function mayUse(actor: Actor, ds: Datastore, action: 'read' | 'change'): boolean {
  if (actor.kind === 'user' && actor.readOnly && action !== 'read') return false;
  if (isAdmin(actor)) return true;
  return actor.kind === 'user' && ds.owner === actor.user;
}

/** The datastore when the actor may `action` it; one it may not see is "not found". */
export async function requireDatastore(
  store: Store,
  actor: Actor,
  kind: DatastoreKind,
  name: string,
  action: 'read' | 'change',
): Promise<Datastore> {
  const ds = await store.datastores.get(kind.name, validate.datastoreName(name));
  if (!ds || !mayUse(actor, ds, 'read')) {
    throw new BerthError('BERTH_E_DATASTORE_NOT_FOUND', {
      title: kind.title,
      name,
      kind: kind.name,
    });
  }
  if (!mayUse(actor, ds, action)) {
    throw new BerthError('BERTH_E_FORBIDDEN', {
      action: `changing ${kind.title} service "${name}"`,
      who: 'tokens that may write (this API token is read-only)',
    });
  }
  return ds;
}

/** The datastores of a kind the actor may see. */
export async function visibleDatastores(store: Store, actor: Actor, kind: DatastoreKind) {
  return (await store.datastores.list(kind.name)).filter((ds) => mayUse(actor, ds, 'read'));
}

/** A password Berth makes: 32 hex digits, which a URL carries as they are. */
const newPassword = () => randomBytes(16).toString('hex');

export interface CreateOptions {
  version?: string;
  password?: string;
  /** As given: 512m, 1g. */
  memory?: string;
}

/**
 * Makes a datastore: every input checked before anything changes, the
 * record (which claims the name), the image (built once), the volume
 * initialised, the server started and answering. On failure nothing is left.
 */
export async function createDatastore(
  d: DatastoreDeps,
  kind: DatastoreKind,
  name: string,
  o: CreateOptions,
): Promise<{ datastore: Datastore; image: string }> {
  if (d.actor.kind === 'user' && d.actor.readOnly) {
    throw new BerthError('BERTH_E_FORBIDDEN', {
      action: `creating a ${kind.title} service`,
      who: 'tokens that may write',
    });
  }
  validate.datastoreName(name);
  const version = kindVersion(kind, o.version);
  const password =
    o.password === undefined ? newPassword() : validate.datastorePassword(o.password);
  const memory = o.memory === undefined ? DEFAULT_MEMORY : validate.memorySize(o.memory);
  const datastore = await d.store.datastores.create(
    {
      kind: kind.name,
      name,
      version: version.version,
      owner: actorName(d.actor),
      createdAt: new Date().toISOString(),
      password,
      memory,
    },
    kind.title,
  );
  try {
    const image = await ensureDatastoreImage(d.docker, kind, version, {
      workDir: d.workDir,
      progress: d.log,
    });
    d.log.heading(`Starting ${kind.title} ${version.version} service ${name}`);
    await createServer(d, kind, datastore, image);
    return { datastore, image };
  } catch (e) {
    await d.store.datastores.remove(kind.name, name);
    throw e;
  }
}

/**
 * Destroys a datastore with its data: refused while it is linked (naming the
 * apps); the record goes first (in the same step as the check), then the
 * container, its network and the volume.
 */
export async function destroyDatastore(d: DatastoreDeps, kind: DatastoreKind, ds: Datastore) {
  const linked = await d.store.datastores.remove(kind.name, ds.name);
  if (linked.length > 0) {
    throw new BerthError('BERTH_E_DATASTORE_LINKED', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
      apps: linked.join(', '),
    });
  }
  await removeServer(d, ds);
  // Its schedule and settings go; the backups taken stay in their folder.
  await removeBackupSettings(d.store, ds);
}

/** start, stop, restart: the server's container, as `docker start|stop|restart` do. */
export async function controlServer(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Datastore,
  action: 'start' | 'stop' | 'restart',
): Promise<void> {
  const container = d.docker.getContainer(serverName(ds.kind, ds.name));
  const { status } = await serverState(d, ds);
  if (status === 'missing') {
    throw new BerthError('BERTH_E_DATASTORE_START', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
      reason: `its container ${serverName(ds.kind, ds.name)} is gone (its data volume stays)`,
    });
  }
  if (action === 'stop') {
    if (status === 'running' || status === 'restarting') await container.stop();
    return;
  }
  if (action === 'start' && status === 'running') return;
  if (action === 'start') await container.start();
  else await container.restart();
  await waitHealthy(d, kind, ds);
}

/** What info shows, Dokku's fields where they mean something in Berth. */
export interface DatastoreInfo {
  name: string;
  kind: string;
  version: string;
  owner: string;
  createdAt: string;
  /** The URL linked apps get: the password as ******** unless asked for. */
  dsn: string;
  status: string;
  health: string;
  id: string | null;
  /** Its address on its own network. */
  internalIp: string | null;
  /** The volume that holds its data. */
  dataDir: string;
  image: string;
  memory: number;
  links: DatastoreLink[];
  /** Where expose publishes its port on the host, or null. */
  exposed: { address: string; port: number } | null;
}

export async function datastoreInfo(
  d: EngineDeps & { store: Store },
  kind: DatastoreKind,
  ds: Datastore,
  o: { showPassword: boolean },
): Promise<DatastoreInfo> {
  const state = await serverState(d, ds);
  const check =
    state.status === 'running' ? await health(d, kind, ds) : { ok: false, detail: state.status };
  const own = Object.entries(state.networks).find(([n]) => n.includes('.datastore.'));
  return {
    name: ds.name,
    kind: ds.kind,
    version: ds.version,
    owner: ds.owner,
    createdAt: ds.createdAt,
    dsn: dsnOf(kind, ds, o.showPassword),
    status: state.status,
    health: check.ok ? 'ok' : `failing: ${check.detail}`,
    id: state.id ?? null,
    internalIp: own?.[1] || null,
    dataDir: `volume ${volumeName(ds)}`,
    image: imageRef(kind, kindVersion(kind, ds.version)),
    memory: ds.memory,
    links: await d.store.datastores.links(kind.name, ds.name),
    exposed: ds.exposed ?? null,
  };
}

/** The URL a linked app gets (its DATABASE_URL). */
export function dsnOf(kind: DatastoreKind, ds: Datastore, showPassword = true): string {
  return kind.url({
    host: serverName(ds.kind, ds.name),
    password: showPassword ? ds.password : '********',
    database: databaseName(ds.name),
  });
}
