// What each feature does when an app is renamed or destroyed (apps/lifecycle.ts),
// listed once, in the order the hooks run. A new feature that keeps something
// per app (a backing service, say) adds its hooks here; apps.ts stays as it is.
//
// Destroy order matters on the Engine: an image or volume a container uses
// cannot be removed, so instances stop before images and storage go.
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import * as validate from '../core/validate.ts';
import type { AppHooks, LifecycleDeps } from './apps/lifecycle.ts';
import { ownsVolume } from './apps/storage.ts';
import { removeAppArtifacts } from './build/retention.ts';
import { certFile, removeCert } from './certs/cert-files.ts';
import { datastoreLinks } from './datastores/links.ts';
import { removeRepo, renameRepo } from './git/repos.ts';
import { removeCron, syncCron } from './release/cron.ts';
import { appLogDir, logArchiveOf } from './scheduler/app-logs.ts';
import { schedulerNamed, selectedScheduler } from './scheduler/schedulers.ts';

/** The app's git repository, renamed and removed with it; first, since a rename fails here if anywhere. */
const gitRepository: AppHooks = {
  name: 'git repository',
  renamed: (d, from, to) => renameRepo(d.files, from, to),
  destroyed: (d, gone) => removeRepo(d.files, gone.app),
};

/**
 * The certificate of the app's default host <app>.<base> (ACME's,
 * BERTH_ACME_DEFAULT_HOSTS), metadata and file. It is outside the domains
 * index, so the store's destroy and rename cannot see it; a crash before
 * this leaves metadata the renewer skips (certs/acme.ts builtInHost).
 */
async function removeDefaultHostCert(d: LifecycleDeps, app: string): Promise<void> {
  if (d.base === undefined || d.files.certs === undefined) return;
  await removeCert(d.store, { certs: d.files.certs }, `${app}.${d.base}`);
}

/**
 * Certificate files: a destroyed app's go (the store removed what they are),
 * so no private key is left behind. A renamed app's old default host is
 * served no more; the new one gets a certificate from letsencrypt:enable, as
 * any new host does.
 */
const certificates: AppHooks = {
  name: 'certificates',
  renamed: (d, from) => removeDefaultHostCert(d, from),
  async destroyed(d, gone) {
    const certs = d.files.certs;
    if (certs === undefined) return;
    for (const domain of gone.domains) await rm(certFile({ certs }, domain), { force: true });
    await removeDefaultHostCert(d, gone.app);
  },
};

/** The kept logs of removed instances (logs still shows them after a rename). */
const keptLogs: AppHooks = {
  name: 'kept logs',
  async renamed(d, from, to) {
    if (!d.files.logs) return;
    const archive = logArchiveOf({ logs: d.files.logs });
    await rename(appLogDir(archive, from), appLogDir(archive, to)).catch(() => {});
  },
  async destroyed(d, gone) {
    if (!d.files.logs) return;
    const dir = appLogDir(logArchiveOf({ logs: d.files.logs }), gone.app);
    await rm(dir, { recursive: true, force: true });
  },
};

/**
 * Its builds' log files (`<build-logs>/<app>/`): moved with a rename, removed
 * with the app, so a later app of the same name never shows them (its
 * builds:info also refuses builds older than itself: build/history.ts).
 */
const buildLogs: AppHooks = {
  name: 'build logs',
  async renamed(d, from, to) {
    if (!d.files.buildLogs) return;
    const dir = (app: string) => path.join(d.files.buildLogs as string, validate.appName(app));
    // None yet, or a leftover of an earlier app of the new name: the logs stay where they are.
    await rename(dir(from), dir(to)).catch(() => {});
  },
  async destroyed(d, gone) {
    if (!d.files.buildLogs) return;
    await rm(path.join(d.files.buildLogs, validate.appName(gone.app)), {
      recursive: true,
      force: true,
    });
  },
};

/** The scheduler the destroyed app ran on, as its setting said. */
const schedulerOf = (
  d: LifecycleDeps,
  gone: { settings: Parameters<typeof selectedScheduler>[0] },
) => d.docker && schedulerNamed(selectedScheduler(gone.settings), { docker: d.docker });

/** Its instances stop (and are removed) first. */
const instances: AppHooks = {
  name: 'instances',
  async destroyed(d, gone) {
    const scheduler = schedulerOf(d, gone);
    if (!scheduler) return;
    for (const instance of await scheduler.list(gone.app)) await scheduler.stop(instance);
  },
};

/** Its images and build cache. */
const images: AppHooks = {
  name: 'images',
  async destroyed(d, gone, report) {
    if (!d.docker) return;
    const result = await removeAppArtifacts(d.docker, d.store, gone.app);
    report.removed.push(...result.removed);
    report.kept.push(...result.kept);
  },
};

/**
 * Storage holds the app's data: removed only when the person said so. Only
 * the app's own volumes: one kept from an earlier app of its name is not
 * this person's to remove (apps/storage.ts).
 */
const storage: AppHooks = {
  name: 'storage',
  async destroyed(d, gone, report) {
    const scheduler = schedulerOf(d, gone);
    if (!scheduler) return;
    const own = (await scheduler.storageVolumes(gone.app)).filter((v) =>
      ownsVolume(gone, gone.settings.handedStorage, v),
    );
    for (const v of own) {
      if (gone.removeStorage) {
        await scheduler.removeStorage(gone.app, v.name);
        report.removed.push(`volume ${v.volume}`);
      } else report.kept.push(`volume ${v.volume}`);
    }
  },
};

/**
 * Its own network, once its instances are gone; last, so that a one-off
 * still on it (BERTH_E_NETWORK_IN_USE) leaves the rest removed.
 */
const network: AppHooks = {
  name: 'network',
  async destroyed(d, gone, report) {
    const scheduler = schedulerOf(d, gone);
    if (!scheduler) return;
    const own = await scheduler.appNetwork(gone.app);
    if (!own) return;
    await scheduler.removeAppNetwork(gone.app);
    report.removed.push(`network ${own.name}`);
  },
};

/**
 * app.json cron: the schedules and the runs' records go with the app. A
 * renamed app's records start over under the new name (the schedules follow
 * its releases); a run already due of the old name finds no app and runs nothing.
 */
const cronSchedule: AppHooks = {
  name: 'cron schedule',
  async renamed(d, from, to) {
    await removeCron(d.store, from);
    await syncCron(d.store, to);
  },
  async destroyed(d, gone) {
    await removeCron(d.store, gone.app);
  },
};

export const APP_HOOKS: readonly AppHooks[] = [
  gitRepository,
  buildLogs,
  keptLogs,
  certificates,
  instances,
  images,
  storage,
  // Before the network: a datastore's container on it would keep it.
  datastoreLinks,
  network,
  cronSchedule,
];
