// What a release changed against the one before it, for people to read
// (the web app's release page): the image, the config keys (added, removed,
// changed: names only, never values), the formation and the process types.
import type { Release } from '../../core/store/index.ts';

export interface ReleaseDiff {
  /** The image before and after, when it changed. */
  image?: { from: string | null; to: string | null };
  config: { added: string[]; removed: string[]; changed: string[] };
  /** Types whose count changed: before (0 when absent) and after. */
  formation: { type: string; from: number; to: number }[];
  processes: { added: string[]; removed: string[]; changed: string[] };
}

const sorted = (keys: Iterable<string>) => [...keys].sort();

/** `release` against `previous` (undefined: the app's first release, everything added). */
export function releaseDiff(release: Release, previous: Release | undefined): ReleaseDiff {
  const before = previous?.config ?? {};
  const after = release.config;
  const beforeProcs = previous?.processes ?? {};
  const types = new Set([
    ...Object.keys(previous?.formation ?? {}),
    ...Object.keys(release.formation),
  ]);
  return {
    ...((previous?.image ?? null) !== release.image
      ? { image: { from: previous?.image ?? null, to: release.image } }
      : {}),
    config: {
      added: sorted(Object.keys(after).filter((k) => !(k in before))),
      removed: sorted(Object.keys(before).filter((k) => !(k in after))),
      changed: sorted(Object.keys(after).filter((k) => k in before && before[k] !== after[k])),
    },
    formation: sorted(types)
      .map((type) => ({
        type,
        from: previous?.formation[type] ?? 0,
        to: release.formation[type] ?? 0,
      }))
      .filter((f) => f.from !== f.to),
    processes: {
      added: sorted(Object.keys(release.processes).filter((t) => !(t in beforeProcs))),
      removed: sorted(Object.keys(beforeProcs).filter((t) => !(t in release.processes))),
      changed: sorted(
        Object.keys(release.processes).filter(
          (t) => t in beforeProcs && beforeProcs[t] !== release.processes[t],
        ),
      ),
    },
  };
}
