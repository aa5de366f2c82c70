// clone NAME NEW: a new service of the same kind holding what NAME holds,
// made as create makes one (its own container, volume, network and
// password; linked to nothing), then filled by NAME's dump restored into
// it while NAME serves on (the dump is one consistent snapshot). A copy
// that fails destroys the new service: nothing is left of it.
import { BerthError } from '../../core/errors.ts';
import type { Datastore } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { copyData } from './copy.ts';
import { type CreateOptions, createDatastore, type DatastoreDeps } from './datastores.ts';
import type { DatastoreKind } from './kind.ts';
import { removeServer, serverName, serverState } from './server.ts';

export async function cloneDatastore(
  d: DatastoreDeps,
  kind: DatastoreKind,
  source: Datastore,
  name: string,
  o: CreateOptions,
  signal: AbortSignal,
): Promise<{ datastore: Datastore; bytes: number }> {
  validate.datastoreName(name);
  if ((await serverState(d, source)).status !== 'running') {
    throw new BerthError('BERTH_E_DATASTORE_STOPPED', {
      title: kind.title,
      name: source.name,
      kind: kind.name,
    });
  }
  const { datastore } = await createDatastore(d, kind, name, {
    // The source's version and memory unless given.
    version: o.version ?? source.version,
    memory: o.memory ?? memoryText(source.memory),
    ...(o.password === undefined ? {} : { password: o.password }),
  });
  d.log.heading(`Copying the data of ${source.name} into ${name}`);
  const copied = await copyData(
    kind,
    d.docker.getContainer(serverName(source.kind, source.name)),
    d.docker.getContainer(serverName(datastore.kind, datastore.name)),
    signal,
  ).catch((e: unknown) => ({ failed: (e as Error).message, bytes: 0 }));
  if (copied.failed) {
    await d.store.datastores.remove(kind.name, name);
    await removeServer(d, datastore).catch(() => {});
    throw new BerthError('BERTH_E_DATASTORE_START', {
      title: kind.title,
      name,
      kind: kind.name,
      reason: `copying the data of ${source.name} failed: ${copied.failed}`,
    });
  }
  return { datastore, bytes: copied.bytes };
}

/** A limit in bytes as --memory takes it (create's limits are whole k, m or g). */
function memoryText(bytes: number): string {
  if (bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3}g`;
  if (bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2}m`;
  return `${Math.ceil(bytes / 1024)}k`;
}
