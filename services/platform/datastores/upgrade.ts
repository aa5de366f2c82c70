// upgrade NAME --image-version V: a datastore moved to a newer version of
// its server by a dump and a restore (the way PostgreSQL's own docs and
// Dokku's recommend for a major version; a data directory of 15 does not
// start under 17). The new server starts beside the old one on a volume of
// its own; the old one leaves the linked apps' networks and is restarted
// (so no client is still connected, nor a transaction open) before its dump,
// so every write an app saw acknowledged is in it, and none can come after;
// the new one takes the old one's container name and host name on the same
// networks, so the URL linked apps have (host, password, database) stays the
// same and no app rolls out: their connections drop once, as with restart.
// Anything failing before the switch removes what was made and puts the old
// server back on the apps' networks, with its data as it was; the old volume
// goes only once the new server answers under the old name.
import { dockerStatus } from '../../core/docker.ts';
import { BerthError } from '../../core/errors.ts';
import type { Datastore } from '../../core/store/index.ts';
import { copyData } from './copy.ts';
import type { DatastoreDeps } from './datastores.ts';
import { ensureDatastoreImage } from './image.ts';
import type { DatastoreKind } from './kind.ts';
import { kindVersion } from './kinds.ts';
import { linkedNetworks } from './links.ts';
import {
  createServerContainer,
  datastoreNetworks,
  initVolume,
  joinNetwork,
  labelsOf,
  leaveNetwork,
  removeVolume,
  serverName,
  serverState,
  volumeName,
  waitHealthy,
} from './server.ts';

export interface UpgradeResult {
  /** The record after: its version and volume. */
  datastore: Datastore;
  /** False when it already ran that version (nothing done). */
  upgraded: boolean;
  /** What the dump carried, in bytes. */
  bytes: number;
}

/** The name the new server runs under until it takes the old one's. */
export const nextName = (ds: Pick<Datastore, 'kind' | 'name'>) =>
  `${serverName(ds.kind, ds.name)}.next`;
/** The old server's name between the switch and its removal. */
const oldName = (ds: Pick<Datastore, 'kind' | 'name'>) => `${serverName(ds.kind, ds.name)}.old`;

export async function upgradeDatastore(
  d: DatastoreDeps,
  kind: DatastoreKind,
  ds: Datastore,
  version: string | undefined,
  signal: AbortSignal,
): Promise<UpgradeResult> {
  const target = kindVersion(kind, version);
  const fail = (reason: string, cause?: unknown) =>
    new BerthError(
      'BERTH_E_DATASTORE_UPGRADE',
      { title: kind.title, name: ds.name, kind: kind.name, version: ds.version, reason },
      cause === undefined ? undefined : { cause },
    );
  const from = kind.versions.findIndex((v) => v.version === ds.version);
  const to = kind.versions.indexOf(target);
  if (to === from) return { datastore: ds, upgraded: false, bytes: 0 };
  if (to < from) {
    throw fail(
      `it runs ${ds.version}, and ${target.version} is older (a dump of a newer server need not restore into an older one); for that, ${kind.name}:create a ${target.version} service and ${kind.name}:import an export of this one into it`,
    );
  }
  if (ds.exposed) {
    // Both servers would need the one host port while they run side by side.
    throw fail(
      `it is exposed on the host; ${kind.name}:unexpose ${ds.name} first, then expose it again`,
    );
  }
  const name = serverName(ds.kind, ds.name);
  const state = await serverState(d, ds);
  if (state.status !== 'running') {
    throw fail(
      `it is ${state.status} (its dump needs it running); ${kind.name}:start ${ds.name} first`,
    );
  }
  const image = await ensureDatastoreImage(d.docker, kind, target, {
    workDir: d.workDir,
    progress: d.log,
  });
  const next: Datastore = { ...ds, version: target.version, volume: `${name}.${target.version}` };
  const own = await datastoreNetworks(d).ensureDatastore(ds.kind, ds.name);
  // The apps' networks: those it is on, and its links' (an upgrade cut
  // short by a crash left it off them).
  const apps = [
    ...new Set([
      ...Object.keys(state.networks).filter((n) => n !== own),
      ...(await linkedNetworks(d, ds)),
    ]),
  ];
  // By id: the names move at the switch.
  const old = d.docker.getContainer(state.id ?? name);
  let fresh = d.docker.getContainer(nextName(ds));
  const removeNext = async () => {
    await fresh.remove({ force: true }).catch((e: unknown) => {
      if (dockerStatus(e) !== 404) throw e;
    });
    if (volumeName(next) !== volumeName(ds)) await removeVolume(d, ds, volumeName(next));
  };
  // What an upgrade cut short (Berth stopped mid-way) left, from the start.
  await removeNext();

  d.log.heading(`Starting ${kind.title} ${target.version} beside ${ds.version} for ${ds.name}`);
  try {
    await d.docker.createVolume({ Name: volumeName(next), Labels: labelsOf(d, ds) });
    await initVolume(d, kind, next, image);
    fresh = await createServerContainer(d, kind, next, image, own, nextName(ds));
    await fresh.start();
    await waitHealthy(d, kind, next, nextName(ds));
  } catch (e) {
    await removeNext().catch(() => {});
    throw fail(`the ${target.version} server did not start: ${message(e)}`, e);
  }

  // The cut: no app reaches the old server from here on, and the restart
  // ends every session it had (an open transaction is rolled back, never
  // half in the dump).
  d.log.heading(
    `Copying the data of ${ds.name}: linked apps lose it until ${target.version} serves`,
  );
  const rejoin = async () => {
    for (const network of apps) await joinNetwork(d, ds, network).catch(() => {});
  };
  let bytes = 0;
  try {
    for (const network of apps) await leaveNetwork(d, ds, network);
    await old.restart();
    await waitHealthy(d, kind, ds);
    const copied = await copyData(kind, old, fresh, signal);
    bytes = copied.bytes;
    if (copied.failed) throw new Error(copied.failed);
  } catch (e) {
    await removeNext().catch(() => {});
    await rejoin();
    throw fail(message(e), e);
  }

  // The switch: the old server stops under another name, the new one takes
  // its name and joins the apps' networks under the host name they use.
  d.log.heading(`Switching ${ds.name} to ${kind.title} ${target.version}`);
  let switched: Datastore | undefined;
  try {
    await old.stop({ t: 30 }).catch((e: unknown) => {
      if (dockerStatus(e) !== 304) throw e;
    });
    await old.rename({ name: oldName(ds) });
    await fresh.rename({ name });
    for (const network of apps) await joinNetwork(d, next, network);
    await waitHealthy(d, kind, next);
    switched = await d.store.datastores.replace(next);
    if (!switched) throw new Error('its record is gone (destroyed meanwhile?)');
  } catch (e) {
    // Back as it was: the new one removed, the old one under its name, running, on the apps' networks.
    await fresh.remove({ force: true }).catch(() => {});
    await old.rename({ name }).catch(() => {});
    await old.start().catch(() => {});
    await rejoin();
    await removeVolume(d, ds, volumeName(next)).catch(() => {});
    throw fail(`switching to the new server failed: ${message(e)}`, e);
  }
  // The old server and its data go only now that the new one serves.
  await old.remove({ force: true }).catch(() => {});
  await removeVolume(d, ds, volumeName(ds)).catch(() => {});
  return { datastore: switched, upgraded: true, bytes };
}

const message = (e: unknown) =>
  (e instanceof BerthError ? e.message : e instanceof Error ? e.message : String(e))
    .replace(/^\(HTTP code \d+\) [a-z ]+ - /, '')
    .slice(0, 400);
