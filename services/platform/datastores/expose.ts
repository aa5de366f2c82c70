// expose / unexpose: a datastore's port published on the host, for a
// client outside Berth's networks (a desktop client through an SSH tunnel,
// a backup tool on the host). Docker publishes a port only on a container
// it creates, so the server's container is made again with the binding, on
// the same volume, image and networks: linked apps lose their connections
// for the seconds of the restart, as with restart. A binding Docker cannot
// make (the port taken) puts the container back as it was.
//
// The address is 127.0.0.1 unless given; only an admin may give one that
// is not loopback, because that publishes the service to whatever reaches
// the host's interfaces (the Internet, on most servers), around the app
// networks that keep every service private, and the password alone then
// guards it: a decision for whoever answers for the host and its firewall.
import { type Actor, isAdmin } from '../../core/actor.ts';
import { dockerStatus } from '../../core/docker.ts';
import { BerthError } from '../../core/errors.ts';
import type { Datastore, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import type { DatastoreKind } from './kind.ts';
import { createServerContainer, type EngineDeps, serverName, waitHealthy } from './server.ts';

export interface ExposeDeps extends EngineDeps {
  store: Store;
  actor: Actor;
}

/** `address:port` as a person writes it (IPv6 in brackets). */
export const exposedText = (e: NonNullable<Datastore['exposed']>) =>
  `${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`;

/** expose NAME [ADDRESS:]PORT: the record says where, then the container is made again with it. */
export async function exposeDatastore(
  d: ExposeDeps,
  kind: DatastoreKind,
  ds: Datastore,
  value: string,
): Promise<NonNullable<Datastore['exposed']>> {
  const wanted = validate.exposure(value);
  if (!validate.isLoopback(wanted.address) && !isAdmin(d.actor)) {
    throw new BerthError('BERTH_E_FORBIDDEN', {
      action: `publishing a service on ${wanted.address}, an address other hosts may reach`,
      who: 'admins (yours: loopback, such as 127.0.0.1:PORT, reached through an SSH tunnel)',
    });
  }
  if (ds.exposed && exposedText(ds.exposed) === exposedText(wanted)) return wanted;
  await republish(d, kind, ds, wanted);
  return wanted;
}

/** unexpose NAME: the container made again without a published port. */
export async function unexposeDatastore(d: ExposeDeps, kind: DatastoreKind, ds: Datastore) {
  if (!ds.exposed) {
    throw new BerthError('BERTH_E_DATASTORE_EXPOSE', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
      reason: 'is not exposed',
    });
  }
  await republish(d, kind, ds, undefined);
}

async function republish(
  d: ExposeDeps,
  kind: DatastoreKind,
  ds: Datastore,
  exposed: Datastore['exposed'],
) {
  const info = await d.docker
    .getContainer(serverName(ds.kind, ds.name))
    .inspect()
    .catch((e: unknown) => {
      if (dockerStatus(e) !== 404) throw e;
      throw new BerthError('BERTH_E_DATASTORE_START', {
        title: kind.title,
        name: ds.name,
        kind: kind.name,
        reason: `its container ${serverName(ds.kind, ds.name)} is gone (its data volume stays)`,
      });
    });
  const start = info.State.Running || info.State.Restarting;
  const updated = await d.store.datastores.setExposed(ds, exposed);
  if (!updated) {
    throw new BerthError('BERTH_E_DATASTORE_NOT_FOUND', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
    });
  }
  try {
    await recreate(d, kind, updated, info, start);
  } catch (e) {
    // Back as it was: the record, and the container with its old binding.
    await d.store.datastores.setExposed(updated, ds.exposed);
    await recreate(d, kind, ds, info, start).catch(() => {});
    const reason = (e as Error).message.replace(/^\(HTTP code \d+\) [a-z ]+ - /, '');
    throw new BerthError(
      'BERTH_E_DATASTORE_EXPOSE',
      {
        title: kind.title,
        name: ds.name,
        kind: kind.name,
        reason: `could not be ${exposed ? `published on ${exposedText(exposed)}` : 'unpublished'} (${reason.slice(0, 300)}); it serves as before`,
      },
      { cause: e },
    );
  }
}

type ContainerInfo = Awaited<
  ReturnType<ReturnType<EngineDeps['docker']['getContainer']>['inspect']>
>;

/** The server's container made again as `ds` says, on the image and networks `was` had. */
async function recreate(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Datastore,
  was: ContainerInfo,
  start: boolean,
) {
  const name = serverName(ds.kind, ds.name);
  const old = d.docker.getContainer(name);
  await old.stop({ t: 30 }).catch(() => {});
  await old.remove({ force: true }).catch((e: unknown) => {
    if (dockerStatus(e) !== 404) throw e;
  });
  const own = was.HostConfig.NetworkMode ?? '';
  const container = await createServerContainer(d, kind, ds, was.Config.Image, own);
  // The linked apps' networks, which link joined.
  for (const network of Object.keys(was.NetworkSettings.Networks ?? {})) {
    if (network === own) continue;
    await d.docker
      .getNetwork(network)
      .connect({ Container: name, EndpointConfig: { Aliases: [name] } });
  }
  if (!start) return;
  await container.start();
  await waitHealthy(d, kind, ds);
}
