// The data directory's layout: one folder per kind of thing Berth keeps on
// disk. infra/bootstrap/data-dir.ts checks and creates it at start.
import path from 'node:path';

/** The folders under the data directory, each named for what it holds. */
export const DATA_LAYOUT = {
  repos: 'repos',
  buildLogs: 'build-logs',
  /** Scratch space of running builds (the exported source), removed after each. */
  buildWork: 'build-work',
  certs: 'certs',
  /** ACME account keys, one per directory URL. */
  acme: 'acme',
  logs: 'logs',
  redis: 'redis',
  stack: 'stack',
  /** Language runtimes fetched on the host for buildpack builds (node/<version>), and third-party buildpacks (buildpacks/<hash>). */
  runtimes: 'runtimes',
  /** The SSH server's host key. */
  ssh: 'ssh',
  /** Berth's registry for the swarm: its CA, certificate, password and settings (registry/). */
  registry: 'registry',
} as const;

export type DataPaths = { readonly root: string } & {
  readonly [K in keyof typeof DATA_LAYOUT]: string;
};

export function dataPaths(root: string): DataPaths {
  const entries = Object.entries(DATA_LAYOUT).map(([k, v]) => [k, path.join(root, v)]);
  return Object.freeze({ root, ...Object.fromEntries(entries) }) as DataPaths;
}
