// Linking a datastore to an app: the datastore's container joins the app's
// own network (each app has one: ../scheduler/docker-networks.ts) under the
// host name `berth-<kind>-<name>`, the app's config gets `<ALIAS>_URL`, and
// the app rolls out as after config:set. Only the app's instances (and its
// one-offs) are on that network, so no other app reaches the datastore.
// Unlinking undoes it in the other order: the var goes and the app rolls
// out without it, then the container leaves the network.
import type Docker from 'dockerode';
import type { Actor } from '../../core/actor.ts';
import { BerthError } from '../../core/errors.ts';
import type { App, Datastore, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import type { AppHooks } from '../apps/lifecycle.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import { schedulerNamed, selectedScheduler } from '../scheduler/schedulers.ts';
import { dsnOf } from './datastores.ts';
import type { DatastoreKind } from './kind.ts';
import { kindNamed } from './kinds.ts';
import { type EngineDeps, joinNetwork, leaveNetwork } from './server.ts';

/** Dokku's colours for a second link's alias (DATABASE_BLUE_URL), in order. */
const COLOURS = [
  'AQUA',
  'BLACK',
  'BLUE',
  'FUCHSIA',
  'GRAY',
  'GREEN',
  'LIME',
  'MAROON',
  'NAVY',
  'OLIVE',
  'PURPLE',
  'RED',
  'SILVER',
  'TEAL',
  'WHITE',
  'YELLOW',
] as const;

export interface LinkDeps extends EngineDeps {
  store: Store;
  actor: Actor;
  /** The app's scheduler, which has its network. */
  scheduler: Scheduler;
  /** Rolls the app out with its new config, as config:set does (nothing when it has no release). */
  release(description: string): Promise<unknown>;
  log: { heading(text: string): void; detail(text: string): void };
}

/**
 * The alias a link without --alias gets: the kind's (DATABASE) when the app
 * has no DATABASE_URL, else the first DATABASE_<COLOUR> free, as Dokku does.
 */
function freeAlias(kind: DatastoreKind, config: Record<string, string>): string {
  const candidates = [kind.defaultAlias, ...COLOURS.map((c) => `${kind.defaultAlias}_${c}`)];
  const free = candidates.find((a) => config[`${a}_URL`] === undefined);
  if (!free) {
    throw new BerthError('BERTH_E_DATASTORE_ALIAS_TAKEN', {
      app: 'the app',
      key: `${kind.defaultAlias}_URL and each ${kind.defaultAlias}_<COLOUR>_URL`,
    });
  }
  return free;
}

export async function linkDatastore(
  d: LinkDeps,
  kind: DatastoreKind,
  ds: Datastore,
  app: App,
  o: { alias?: string },
): Promise<{ key: string }> {
  const config = await d.store.config.get(app.name);
  const alias = o.alias === undefined ? freeAlias(kind, config) : validate.linkAlias(o.alias);
  const key = `${alias}_URL`;
  const existing = (await d.store.datastores.links(kind.name, ds.name)).find(
    (l) => l.app === app.name,
  );
  if (existing) {
    throw new BerthError('BERTH_E_DATASTORE_LINK', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
      reason: `is already linked to ${app.name} as ${existing.alias}_URL`,
    });
  }
  if (config[key] !== undefined) {
    throw new BerthError('BERTH_E_DATASTORE_ALIAS_TAKEN', { app: app.name, key });
  }
  const added = await d.store.datastores.addLink(kind.name, ds.name, { app: app.name, alias });
  if (!added.added) {
    throw new BerthError('BERTH_E_DATASTORE_LINK', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
      reason: 'gone' in added ? 'no longer exists' : `is already linked to ${app.name}`,
    });
  }
  try {
    const network = await d.scheduler.ensureAppNetwork(app.name);
    await joinNetwork(d, ds, network);
    await d.store.config.set(app.name, { [key]: dsnOf(kind, ds) });
  } catch (e) {
    await d.store.datastores.removeLink(kind.name, ds.name, app.name);
    throw e;
  }
  d.log.heading(`Linked ${kind.title} service ${ds.name} to ${app.name} as ${key}`);
  await d.release(`Link ${kind.name} service ${ds.name} as ${key}`);
  return { key };
}

export async function unlinkDatastore(
  d: LinkDeps,
  kind: DatastoreKind,
  ds: Datastore,
  app: App,
): Promise<{ key: string }> {
  const link = (await d.store.datastores.links(kind.name, ds.name)).find((l) => l.app === app.name);
  if (!link) {
    throw new BerthError('BERTH_E_DATASTORE_LINK', {
      title: kind.title,
      name: ds.name,
      kind: kind.name,
      reason: `is not linked to ${app.name}`,
    });
  }
  const key = `${link.alias}_URL`;
  await d.store.config.unset(app.name, [key]);
  d.log.heading(`Unlinked ${kind.title} service ${ds.name} from ${app.name} (${key} unset)`);
  // The app's new instances run without it before the server leaves their network.
  await d.release(`Unlink ${kind.name} service ${ds.name} (${key})`);
  const network = await d.scheduler.appNetwork(app.name);
  if (network) await leaveNetwork(d, ds, network.name);
  await d.store.datastores.removeLink(kind.name, ds.name, app.name);
  return { key };
}

/** The app's scheduler as the hooks know it (its setting, default options). */
const schedulerOf = (docker: Docker, settings: Parameters<typeof selectedScheduler>[0]) =>
  schedulerNamed(selectedScheduler(settings), { docker });

/**
 * The networks of the apps a datastore is linked to, as their schedulers
 * name them (an app without one yet has none): where its server must be.
 */
export async function linkedNetworks(
  d: EngineDeps & { store: Store },
  ds: Pick<Datastore, 'kind' | 'name'>,
): Promise<string[]> {
  const networks: string[] = [];
  for (const { app } of await d.store.datastores.links(ds.kind, ds.name)) {
    const settings = await d.store.apps.deploySettings(app);
    const network = await schedulerOf(d.docker, settings).appNetwork(app);
    if (network) networks.push(network.name);
  }
  return networks;
}

/**
 * An app's links when the app goes or is renamed. Destroyed: the datastores
 * stay, with their data, unlinked from it and off its network (before the
 * network goes: a container still on it would keep it). Renamed: the links
 * move to the new name, and the server joins the new name's network and
 * leaves the old one's (the instances move after the hooks).
 */
export const datastoreLinks: AppHooks = {
  name: 'datastore links',
  async destroyed(d, gone, report) {
    for (const { datastore, alias } of await d.store.datastores.linksOf(gone.app)) {
      if (d.docker) {
        const network = await schedulerOf(d.docker, gone.settings).appNetwork(gone.app);
        if (network) await leaveNetwork({ docker: d.docker }, datastore, network.name);
      }
      await d.store.datastores.removeLink(datastore.kind, datastore.name, gone.app);
      report.kept.push(
        `${kindNamed(datastore.kind).title} service ${datastore.name} (was ${alias}_URL)`,
      );
    }
  },
  async renamed(d, from, to) {
    const settings = await d.store.apps.deploySettings(to);
    for (const { datastore, alias } of await d.store.datastores.linksOf(from)) {
      await d.store.datastores.addLink(datastore.kind, datastore.name, { app: to, alias });
      if (d.docker) {
        const scheduler = schedulerOf(d.docker, settings);
        await joinNetwork({ docker: d.docker }, datastore, await scheduler.ensureAppNetwork(to));
        const old = await scheduler.appNetwork(from);
        if (old) await leaveNetwork({ docker: d.docker }, datastore, old.name);
      }
      await d.store.datastores.removeLink(datastore.kind, datastore.name, from);
    }
  },
};
