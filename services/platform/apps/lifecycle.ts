// An app's belongings outside its record (its git repository, certificate
// files, kept logs, instances, storage volumes and images) each belong to a
// feature, and follow the app through a rename and a destroy the way Dokku's
// plugins follow post-app-rename and post-delete. apps.ts records the
// change and runs the hooks; it knows none of the features. The hooks are
// listed once, in the order they run, in services/platform/app-hooks.ts.
import type Docker from 'dockerode';
import type { DataPaths } from '../../core/paths.ts';
import type { DeploySettings, Store } from '../../core/store/index.ts';

/** Where an app's files live: its git repository under repos/, its kept logs, build logs and certificates. */
export type AppFiles = Pick<DataPaths, 'repos'> &
  Partial<Pick<DataPaths, 'logs' | 'certs' | 'buildLogs'>>;

/** What the hooks work with. */
export interface LifecycleDeps {
  store: Store;
  files: AppFiles;
  /** The Engine; undefined when it did not answer (what is on it waits for builds:prune). */
  docker: Docker | undefined;
  /** BERTH_DOMAIN: an app's default host is <app>.<base>. */
  base?: string;
  /** In the order they run (APP_HOOKS). */
  hooks: readonly AppHooks[];
}

/** A destroyed app as it was, read before its record went. */
export interface DestroyedApp {
  app: string;
  /** When it was created: what was made for it says so (apps/storage.ts). */
  createdAt: string;
  domains: readonly string[];
  settings: DeploySettings;
  /** The person said its storage volumes go, with their data. */
  removeStorage: boolean;
}

/** What destroying an app did on the Engine, for the person who asked. */
export interface DestroyReport {
  removed: string[];
  kept: string[];
}

export interface AppHooks {
  /** The feature, for a person reading a failure. */
  name: string;
  /**
   * After the record moved. When a hook throws, the ones before it are run
   * again from `to` back to `from`, the record moves back, and the rename fails.
   */
  renamed?(d: LifecycleDeps, from: string, to: string): Promise<void>;
  /** After the record went; `report` gathers what was removed from the Engine and what was kept. */
  destroyed?(d: LifecycleDeps, gone: DestroyedApp, report: DestroyReport): Promise<void>;
}
