// The manifest: the first entry of every backup, saying what the archive
// holds and how large each part is, so a restore checks the whole archive
// against it before changing anything. Sections are the seam for what
// comes later: a backing service (a database an app attached) adds a
// section of its own with its dump as entries, and a restore that does not
// know a section refuses the archive rather than skip what it holds.
import { z } from 'zod';
import * as validate from '../../core/validate.ts';
import { KINDS } from '../datastores/kinds.ts';
import { badArchive } from './tar.ts';

export const FORMAT = 'berth-backup';
/** Bumped when the layout changes so an older Berth cannot read it. */
export const FORMAT_VERSION = 1;

/** Entry names a backup has; anything else in an archive is refused. */
export const ENTRY_NAME =
  /^(manifest\.json|redis\.jsonl|repos\/[0-9]{4,6}\.bundle|files\/[0-9]{4,6}|datastores\/[0-9]{4,6}\.dump)$/;

/** The most one entry of each kind may hold: a restore reads no more than this. */
export const LIMITS = {
  manifest: 1024 * 1024,
  redis: 1024 * 1024 * 1024,
  /** A certificate, an ACME account key, an SSH host key: a few kB each. */
  file: 1024 * 1024,
  /** One app's repository as a git bundle. */
  bundle: 16 * 1024 * 1024 * 1024,
  /** One datastore's dump. */
  dump: 64 * 1024 * 1024 * 1024,
  entries: 100_000,
} as const;

/** The folders of the data directory whose files a backup takes (services/core/paths.ts). */
export const FILE_DIRS = ['certs', 'acme', 'ssh'] as const;
export type FileDir = (typeof FILE_DIRS)[number];

/** A relative path under one of FILE_DIRS: plain names, no dot files, at most 3 deep. */
const RELATIVE_FILE =
  /^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,254}(\/[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,254}){0,2}$/;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const entry = z.object({
  name: z.string().regex(ENTRY_NAME),
  size: z.number().int().min(0),
  sha256,
});

const appName = z.string().refine((v) => {
  try {
    validate.appName(v);
    return true;
  } catch {
    return false;
  }
}, 'not an app name');

const datastoreKind = z.enum(KINDS.map((k) => k.name) as [string, ...string[]]);
const datastoreName = z.string().refine((v) => {
  try {
    validate.datastoreName(v);
    return true;
  } catch {
    return false;
  }
}, 'not a datastore name');

export const ManifestSchema = z.object({
  format: z.literal(FORMAT),
  formatVersion: z.literal(FORMAT_VERSION),
  berthVersion: z.string().max(64),
  createdAt: z.string().datetime(),
  /** The Redis store's schema version (services/core/store/keys.ts). */
  schema: z.number().int(),
  /** Where it was taken: informational (a restore writes under its own prefix and data dir). */
  source: z.object({
    redisPrefix: z.string().max(64),
    redisVersion: z.string().max(32),
    domain: z.string().max(253),
    dataDir: z.string().max(4096),
  }),
  apps: z.array(appName).max(100_000),
  sections: z.object({
    redis: z.object({
      entry,
      keys: z.number().int().min(0),
      /** Key kinds (the first part after the prefix) left out, and why. */
      excluded: z.array(z.string().max(200)).max(100),
    }),
    repos: z.object({
      repos: z.array(z.object({ app: appName, entry })).max(100_000),
      /** Apps with no repository or nothing pushed yet. */
      empty: z.array(appName).max(100_000),
    }),
    files: z.object({
      files: z
        .array(
          z.object({
            dir: z.enum(FILE_DIRS),
            path: z.string().regex(RELATIVE_FILE),
            entry,
          }),
        )
        .max(10_000),
    }),
    /**
     * Backing services' dumps (./datastores-section.ts); absent in archives
     * made before them. A part this Berth does not know is refused (strict),
     * never skipped.
     */
    services: z
      .object({
        datastores: z
          .array(
            z.object({
              kind: datastoreKind,
              name: datastoreName,
              version: z.string().max(20),
              entry,
            }),
          )
          .max(10_000)
          .default([]),
        left: z
          .array(
            z.object({ kind: datastoreKind, name: datastoreName, reason: z.string().max(200) }),
          )
          .max(10_000)
          .default([]),
      })
      .strict(),
  }),
});
export type Manifest = z.output<typeof ManifestSchema>;
export type ManifestEntry = z.output<typeof entry>;

/** The limit of one entry by its name. */
export function limitOf(name: string): number {
  if (name === 'manifest.json') return LIMITS.manifest;
  if (name === 'redis.jsonl') return LIMITS.redis;
  if (name.startsWith('repos/')) return LIMITS.bundle;
  if (name.startsWith('datastores/')) return LIMITS.dump;
  return LIMITS.file;
}

/** Parses and checks the manifest's text: BERTH_E_BACKUP_ARCHIVE with the first problem. */
export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw badArchive('its manifest is not JSON');
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    throw badArchive(
      `its manifest is not one this Berth reads (${where}${issue?.message ?? 'invalid'})`,
    );
  }
  const m = parsed.data;
  // Every entry once, each within its kind's limit.
  const seen = new Set<string>(['manifest.json']);
  for (const e of entriesOf(m)) {
    if (seen.has(e.name)) throw badArchive(`its manifest names ${e.name} twice`);
    seen.add(e.name);
    if (e.size > limitOf(e.name)) {
      throw badArchive(
        `${e.name} would hold ${e.size} bytes, more than the ${limitOf(e.name)} allowed`,
      );
    }
  }
  if (seen.size > LIMITS.entries) throw badArchive('it has too many entries');
  return m;
}

/** Every entry after the manifest, in the order a backup writes them. */
export function entriesOf(m: Manifest): ManifestEntry[] {
  return [
    m.sections.redis.entry,
    ...m.sections.repos.repos.map((r) => r.entry),
    ...m.sections.files.files.map((f) => f.entry),
    ...m.sections.services.datastores.map((s) => s.entry),
  ];
}
