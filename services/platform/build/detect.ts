// How to build a commit, as Dokku decides it:
//   1. `builder:set APP selected dockerfile|buildpacks|image` decides, when set;
//   2. else a Dockerfile (`Dockerfile` at the root, or the path
//      builder-dockerfile:set gave) means a Docker build;
//   3. else the buildpacks: the ones buildpacks:set pinned, else the ones a
//      `.buildpacks` file at the root lists, else every buildpack Berth ships
//      in its default order (each is asked with bin/detect in the build
//      container: ./buildpack-build.ts).
// `image` builds nothing: such an app deploys prebuilt images only.
import { BerthError } from '../../core/errors.ts';
import type { BuildSettings, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { buildpackAlias } from './buildpack-aliases.ts';
import type { CommitSource } from './source.ts';

export const DOCKERFILE = 'Dockerfile';
export const BUILDPACKS_FILE = '.buildpacks';

export type Detection =
  | {
      builder: 'dockerfile';
      /** The Dockerfile's path in the tree. */
      dockerfile: string;
      /** Why this builder, for the log and builder:report. */
      reason: string;
    }
  | {
      builder: 'buildpacks';
      /** The buildpacks to ask, in order. */
      candidates: string[];
      /** Pinned ones must all apply and all run; otherwise the first that applies runs. */
      pinned: boolean;
      reason: string;
    };

type Source = Pick<CommitSource, 'entry' | 'readFile'>;

/** A regular file of the tree (a symbolic link is refused: it could point anywhere). */
async function isFile(source: Source, file: string): Promise<boolean> {
  const entry = await source.entry(file);
  if (entry?.type === 'blob' && entry.mode === '120000') {
    throw new BerthError('BERTH_E_BUILD_FAILED', {
      where: file,
      reason: 'it is a symbolic link; Berth builds from a regular file',
    });
  }
  return entry?.type === 'blob';
}

/**
 * The buildpacks a `.buildpacks` file lists, one per line (`#` comments
 * and blank lines skipped): the names of those Berth ships, Heroku's and
 * Dokku's names and URLs for them (./buildpack-aliases.ts), and other git
 * URLs, which the builder fetches (./buildpack-fetch.ts) when the operator's
 * BERTH_BUILDPACK_URLS (`allowedUrls`) lets them in; a line that is none of
 * these is refused with its number.
 */
export function parseBuildpacksFile(
  text: string,
  shipped: readonly string[],
  allowedUrls: readonly string[] = [],
): string[] {
  const names: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${BUILDPACKS_FILE}:${i + 1}`;
    let name: string;
    if (buildpackAlias(line) === undefined && validate.looksLikeUrl(line)) {
      try {
        name = validate.buildpackUrlText(validate.buildpackUrl(line, allowedUrls));
      } catch (e) {
        throw new BerthError('BERTH_E_BUILD_FAILED', { where, reason: (e as Error).message });
      }
      if (!names.includes(name)) names.push(name);
      continue;
    }
    try {
      name = buildpackAlias(line) ?? validate.buildpackName(line);
    } catch {
      throw new BerthError('BERTH_E_BUILD_FAILED', {
        where,
        reason: `"${line.slice(0, 80)}" is not one of the buildpacks Berth ships (${shipped.join(', ')}) nor Heroku's name for one (heroku/nodejs, heroku/python, heroku/go, heroku/ruby, heroku/php, their GitHub URLs), nor a buildpack's git URL (https://...#v1)`,
      });
    }
    if (!shipped.includes(name)) {
      throw new BerthError('BERTH_E_BUILD_FAILED', {
        where,
        reason: `there is no buildpack ${name}; Berth ships ${shipped.join(', ')}`,
      });
    }
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

export async function detectBuilder(
  source: Source,
  settings: Pick<BuildSettings, 'builder' | 'dockerfilePath' | 'buildpacks'>,
  app: string,
  /** The buildpacks Berth ships, in their default order (read only when needed). */
  shipped: () => Promise<readonly string[]>,
  /** BERTH_BUILDPACK_URLS: where third-party buildpacks may come from. */
  allowedUrls: readonly string[] = [],
): Promise<Detection> {
  if (settings.builder === 'image') throw new BerthError('BERTH_E_BUILD_IMAGE_ONLY', { app });
  const dockerfile = settings.dockerfilePath ?? DOCKERFILE;
  if (settings.builder !== 'buildpacks' && (await isFile(source, dockerfile))) {
    const found = settings.dockerfilePath
      ? `${dockerfile}, the path builder-dockerfile:set gave`
      : `${DOCKERFILE} at the root of the repository`;
    const selected = settings.builder === 'dockerfile' ? '; builder:set selected dockerfile' : '';
    return { builder: 'dockerfile', dockerfile, reason: `${found}${selected}` };
  }
  if (settings.builder === 'dockerfile') {
    throw new BerthError('BERTH_E_BUILD_NO_DOCKERFILE', {
      path: dockerfile,
      why: 'builder:set selected dockerfile',
    });
  }
  const because =
    settings.builder === 'buildpacks' ? 'builder:set selected buildpacks' : `no ${dockerfile}`;
  if (settings.buildpacks.length > 0) {
    return {
      builder: 'buildpacks',
      candidates: [...settings.buildpacks],
      pinned: true,
      reason: `${because}; buildpacks pinned with buildpacks:set`,
    };
  }
  if (await isFile(source, BUILDPACKS_FILE)) {
    const listed = parseBuildpacksFile(
      await source.readFile(BUILDPACKS_FILE),
      await shipped(),
      allowedUrls,
    );
    if (listed.length > 0) {
      return {
        builder: 'buildpacks',
        candidates: listed,
        pinned: true,
        reason: `${because}; buildpacks listed in ${BUILDPACKS_FILE}`,
      };
    }
  }
  return {
    builder: 'buildpacks',
    candidates: [...(await shipped())],
    pinned: false,
    reason: `${because}; the first buildpack that recognises the app`,
  };
}

/**
 * The settings a build uses: the app's own, and where it has none the
 * --global builder and Dockerfile path (builder:set, builder-dockerfile:set).
 */
export async function effectiveBuildSettings(store: Store, app: string): Promise<BuildSettings> {
  const own = await store.apps.buildSettings(app);
  const global = await store.platform.get();
  return {
    ...own,
    builder: own.builder ?? global.builder,
    dockerfilePath: own.dockerfilePath ?? global.dockerfilePath,
  };
}
