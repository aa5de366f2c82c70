// Every kind of datastore Berth runs, one folder each; another kind is one
// more folder and one more line here; the commands (cli/commands/
// datastores.ts) and the store follow from this list.
import { BerthError } from '../../core/errors.ts';
import type { DatastoreKind, KindVersion } from './kind.ts';
import { mysql } from './mysql/kind.ts';
import { postgres } from './postgres/kind.ts';
import { redis } from './redis/kind.ts';

export const KINDS: readonly DatastoreKind[] = [postgres, redis, mysql];

export type KindName = DatastoreKind['name'];

export function kindNamed(name: string): DatastoreKind {
  const kind = KINDS.find((k) => k.name === name);
  if (!kind) throw new Error(`no datastore kind named ${name}`);
  return kind;
}

/** The version `--image-version` names (absent: the newest); BERTH_E_DATASTORE_VERSION otherwise. */
export function kindVersion(kind: DatastoreKind, version: string | undefined): KindVersion {
  const found =
    version === undefined ? kind.versions.at(-1) : kind.versions.find((v) => v.version === version);
  if (!found) {
    throw new BerthError('BERTH_E_DATASTORE_VERSION', {
      title: kind.title,
      version: version === undefined ? '' : version.slice(0, 20),
      versions: kind.versions.map((v) => v.version).join(', '),
    });
  }
  return found;
}
