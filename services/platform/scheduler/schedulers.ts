// Which scheduler runs an app. Each app names one (its `scheduler` setting,
// as Dokku's per-app scheduler; docker-local unless set), and this module is
// the one place a scheduler is made: everything else asks schedulerFor(app).
// A second scheduler (Docker Swarm) registers its factory here and needs no
// change anywhere else.
import type Docker from 'dockerode';
import type { DefaultLimits, SwarmSettings } from '../../core/config.ts';
import { connectDocker } from '../../core/docker.ts';
import { BerthError } from '../../core/errors.ts';
import type { Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { DockerLocal } from './docker-local.ts';
import type { Scheduler } from './scheduler.ts';
import { SWARM_SCHEDULER, Swarm, type SwarmOptions } from './swarm.ts';

export const DEFAULT_SCHEDULER = 'docker-local';

/** The scheduler an app runs on: its own choice, else scheduler:set --global's, else docker-local. */
export const selectedScheduler = (s: {
  scheduler: string | null;
  global: { scheduler: string | null };
}): string => s.scheduler ?? s.global.scheduler ?? DEFAULT_SCHEDULER;

/** What a process makes its schedulers with. */
export interface SchedulerDeps {
  /** The process's Engine client. */
  docker: Docker;
  /** Where a removed instance's last lines are kept (./app-logs.ts); absent: not kept. */
  logArchive?: string;
  /** The prefix of the apps' networks; default the scheduler's own (tests: one of theirs). */
  network?: string;
  /** More labels on what the scheduler makes (tests: berth.test-run). */
  labels?: Readonly<Record<string, string>>;
  /** Limits of instances whose app set none (config.defaultLimits); absent: none. */
  limits?: DefaultLimits;
  /** BERTH_APP_NETWORKS: where app networks take their subnets (config.appNetworks); absent: its default. */
  appNetworks?: string;
  /** BERTH_SWARM_*: the swarm scheduler's manager and overlay (config.swarm); absent: no swarm. */
  swarm?: SwarmSettings;
}

export type SchedulerFactory = (deps: SchedulerDeps) => Scheduler;

/**
 * The swarm's image distribution (../registry/distribute.ts), loaded on its
 * first use only: a process that never deploys on the swarm never loads it (issue 17).
 */
function distributor(
  docker: Docker,
  swarm: SwarmSettings,
  labels: Readonly<Record<string, string>> | undefined,
): NonNullable<SwarmOptions['distribute']> {
  let made: Promise<import('../registry/distribute.ts').ImageDistribution> | undefined;
  return async (app, image, onLine) => {
    made ??= import('../registry/distribute.ts').then(
      ({ ImageDistribution }) =>
        new ImageDistribution({
          docker,
          ...(swarm.registry === undefined ? {} : { ownRegistry: swarm.registry }),
          ...(swarm.registryDir === undefined ? {} : { dir: swarm.registryDir }),
          ...(labels === undefined ? {} : { labels }),
        }),
    );
    return (await made).distribute(app, image, onLine);
  };
}

const factories = new Map<string, SchedulerFactory>([
  [
    DEFAULT_SCHEDULER,
    (d) =>
      new DockerLocal(d.docker, {
        ...(d.logArchive === undefined ? {} : { logArchive: d.logArchive }),
        ...(d.network === undefined ? {} : { network: d.network }),
        ...(d.labels === undefined ? {} : { labels: d.labels }),
        ...(d.limits === undefined ? {} : { defaults: d.limits }),
        ...(d.appNetworks === undefined ? {} : { appNetworks: d.appNetworks }),
      }),
  ],
  [
    SWARM_SCHEDULER,
    // A client of the manager, made once per scheduler; no request until one is needed.
    (d) =>
      new Swarm({
        manager:
          d.swarm?.manager === undefined
            ? undefined
            : async () => {
                const manager = d.swarm?.manager;
                if (manager === undefined) throw new Error('no swarm manager');
                return (await connectDocker({ dockerHost: manager })).docker;
              },
        network: d.swarm?.network ?? 'berth-swarm',
        ...(d.swarm?.registryDir === undefined
          ? {}
          : { distribute: distributor(d.docker, d.swarm, d.labels) }),
        ...(d.labels === undefined ? {} : { labels: d.labels }),
        ...(d.limits === undefined ? {} : { defaults: d.limits }),
      }),
  ],
]);

/** Makes `name` available to apps; returns the function that takes it back. */
export function registerScheduler(name: string, factory: SchedulerFactory): () => void {
  if (factories.has(validate.schedulerName(name))) {
    throw new Error(`a scheduler named ${name} is registered already`);
  }
  factories.set(name, factory);
  return () => {
    if (factories.get(name) === factory) factories.delete(name);
  };
}

/** The registered schedulers' names, sorted. */
export const schedulerNames = (): string[] => [...factories.keys()].sort();

/** The scheduler registered as `name`; BERTH_E_SCHEDULER_UNKNOWN for any other. */
export function schedulerNamed(name: string, deps: SchedulerDeps): Scheduler {
  const factory = factories.get(validate.schedulerName(name));
  if (factory === undefined) {
    throw new BerthError('BERTH_E_SCHEDULER_UNKNOWN', {
      scheduler: name,
      known: schedulerNames().join(', '),
    });
  }
  return factory(deps);
}

/** The scheduler the app's setting names (scheduler:set APP selected NAME; default docker-local). */
export async function schedulerFor(
  store: Store,
  app: string,
  deps: SchedulerDeps,
): Promise<Scheduler> {
  return schedulerNamed(selectedScheduler(await store.apps.deploySettings(app)), deps);
}

/** An app's scheduler, for a process that holds one store and one Engine client. */
export type SchedulerOf = (app: string) => Promise<Scheduler>;

/** schedulerFor bound to a process's store and Engine client. */
export const appSchedulers =
  (store: Store, deps: SchedulerDeps): SchedulerOf =>
  (app) =>
    schedulerFor(store, app, deps);

/** One of each registered scheduler, for what watches them all (the reconciler). */
export const everyScheduler = (deps: SchedulerDeps): Scheduler[] =>
  schedulerNames().map((name) => schedulerNamed(name, deps));
