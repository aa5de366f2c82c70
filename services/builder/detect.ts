// How to build a commit, as Dokku decides it: a `Dockerfile` at the root of
// the tree means a Docker build. Issue 4's later steps add what comes before
// and after this rule: `builder:set APP selected ...` overriding it, a
// configurable Dockerfile path, and the buildpacks asked in order when there
// is no Dockerfile.
import { BerthError } from '../core/errors.ts';
import type { CommitSource } from './source.ts';

export const DOCKERFILE = 'Dockerfile';

export type Detection = {
  builder: 'dockerfile';
  /** The Dockerfile's path in the tree. */
  dockerfile: string;
  /** Why this builder, for the log and later `builder:report`. */
  reason: string;
};

/** The builder for the commit; BERTH_E_BUILD_NO_DOCKERFILE when none applies. */
export async function detectBuilder(source: Pick<CommitSource, 'entry'>): Promise<Detection> {
  const entry = await source.entry(DOCKERFILE);
  if (entry?.type === 'blob' && entry.mode === '120000') {
    throw new BerthError('BERTH_E_BUILD_FAILED', {
      where: DOCKERFILE,
      reason: 'it is a symbolic link; Berth builds from a regular file at the root',
    });
  }
  if (entry?.type === 'blob') {
    return {
      builder: 'dockerfile',
      dockerfile: DOCKERFILE,
      reason: `${DOCKERFILE} at the root of the repository`,
    };
  }
  throw new BerthError('BERTH_E_BUILD_NO_DOCKERFILE');
}
