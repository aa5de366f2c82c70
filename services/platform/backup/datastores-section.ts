// The backing services' part of a platform backup (manifest `sections.services`):
// each running datastore's fresh dump (the kind's dumpCommand, taken after
// the Redis snapshot, which holds the services' records and links), and on
// restore each one made again from its record (its image, volume and
// server, with the password the record keeps), the dump restored into it,
// and its links' app networks joined, before the apps roll out. A datastore
// not running at backup time is named in the manifest as left out: its data
// stays on its volume, and the archive says it does not hold it.
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { BerthError, errorLine } from '../../core/errors.ts';
import type { Datastore, Store } from '../../core/store/index.ts';
import { dumpToFile } from '../datastores/backups.ts';
import { importDatastore } from '../datastores/data.ts';
import { ensureDatastoreImage } from '../datastores/image.ts';
import { KINDS, kindNamed, kindVersion } from '../datastores/kinds.ts';
import {
  createServer,
  joinNetwork,
  serverName,
  serverState,
  waitHealthy,
} from '../datastores/server.ts';
import type { SchedulerOf } from '../scheduler/schedulers.ts';
import { LIMITS, type ManifestEntry } from './manifest.ts';

export interface DatastoreSection {
  datastores: { kind: string; name: string; version: string; entry: ManifestEntry }[];
  /** Services not in the archive, and why (stopped). */
  left: { kind: string; name: string; reason: string }[];
}

const seq = (n: number) => String(n).padStart(4, '0');

/** Every datastore's dump, staged in `stage`; the section and the staged files by entry name. */
export async function dumpDatastores(
  d: { store: Store; docker: Docker; appNetworks?: string },
  stage: string,
  progress: (line: string) => void,
  signal: AbortSignal,
): Promise<{ section: DatastoreSection; files: Map<string, string> }> {
  const section: DatastoreSection = { datastores: [], left: [] };
  const files = new Map<string, string>();
  const all = (await Promise.all(KINDS.map((k) => d.store.datastores.list(k.name)))).flat();
  for (const ds of all) {
    const kind = kindNamed(ds.kind);
    if ((await serverState(d, ds)).status !== 'running') {
      section.left.push({ kind: ds.kind, name: ds.name, reason: 'not running' });
      progress(
        `backup: ${kind.title} service ${ds.name} left out: it is not running (its volume keeps its data)`,
      );
      continue;
    }
    const name = `datastores/${seq(section.datastores.length + 1)}.dump`;
    const file = path.join(stage, `datastore-${section.datastores.length + 1}.dump`);
    const t0 = Date.now();
    let written: { size: number; sha256: string };
    try {
      written = await dumpToFile(d, kind, ds, file, signal);
    } catch (e) {
      throw new BerthError('BERTH_E_BACKUP', {
        reason: `the dump of ${kind.title} service ${ds.name} failed: ${errorLine(e)}`,
      });
    }
    if (written.size > LIMITS.dump) {
      throw new BerthError('BERTH_E_BACKUP', {
        reason: `the dump of ${kind.title} service ${ds.name} is ${written.size} bytes, more than a backup holds (${LIMITS.dump})`,
      });
    }
    section.datastores.push({
      kind: ds.kind,
      name: ds.name,
      version: ds.version,
      entry: { name, ...written },
    });
    files.set(name, file);
    progress(
      `backup: ${kind.title} service ${ds.name}: ${written.size} bytes in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  }
  return { section, files };
}

export interface DatastoreRestoreDeps {
  store: Store;
  docker: Docker;
  appNetworks?: string;
  schedulerOf: SchedulerOf;
  /** Where a datastore's image is made when missing. */
  workDir: string;
  progress: (line: string) => void;
  signal: AbortSignal;
}

/**
 * Each datastore of the section back with its data: its server made again
 * from its restored record when the Engine has none (a server already there,
 * a restore over a running Berth, gets the dump in its place), the dump
 * restored in one transaction, its linked apps' networks joined. Returns the
 * services that could not be brought back, with why; the others go on.
 */
export async function restoreDatastores(
  d: DatastoreRestoreDeps,
  section: DatastoreSection,
  files: Map<string, string>,
): Promise<{ service: string; why: string }[]> {
  const failed: { service: string; why: string }[] = [];
  for (const entry of section.datastores) {
    const kind = kindNamed(entry.kind);
    const label = `${kind.title} service ${entry.name}`;
    try {
      const ds: Datastore | undefined = await d.store.datastores.get(kind.name, entry.name);
      if (!ds) throw new Error('its record is not in the archive’s Redis data');
      const t0 = Date.now();
      const state = await serverState(d, ds);
      if (state.status === 'missing') {
        const version = kindVersion(kind, ds.version);
        const image = await ensureDatastoreImage(d.docker, kind, version, {
          workDir: d.workDir,
          progress: {
            heading: (t) => d.progress(`restore: ${t}`),
            detail: (t) => d.progress(`restore:   ${t}`),
          },
        });
        await createServer(d, kind, ds, image);
      } else if (state.status !== 'running') {
        await d.docker.getContainer(serverName(ds.kind, ds.name)).start();
        await waitHealthy(d, kind, ds);
      }
      const file = files.get(entry.entry.name) as string;
      await importDatastore(d, kind, ds, createReadStream(file), d.signal, LIMITS.dump);
      for (const link of await d.store.datastores.links(kind.name, ds.name)) {
        const scheduler = await d.schedulerOf(link.app);
        await joinNetwork(d, ds, await scheduler.ensureAppNetwork(link.app));
      }
      d.progress(
        `restore: ${label}: ${entry.entry.size} bytes restored in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    } catch (e) {
      const why = errorLine(e).slice(0, 300);
      d.progress(`restore: ${label}: NOT BACK: ${why}`);
      failed.push({ service: label, why });
    }
  }
  for (const l of section.left) {
    d.progress(`restore: ${l.kind} service ${l.name} was not in the backup (${l.reason})`);
  }
  return failed;
}
