// Disk: what Berth's builds leave on the Docker Engine, and only that.
//
// Each build tags its image berth/<app>:<build id> (and moves
// berth/<app>:latest; a Python app's build may move berth/<app>:venv, its
// venv layer, which stays until apps:destroy). After a successful build the app keeps the images of
// its newest `keep` builds (BERTH_IMAGE_RETENTION, default 5), the image
// :latest points to, and every image one of its newest `keep` releases runs
// (rollback needs them); older tags are removed, and the Engine removes an
// image's layers with its last tag unless another image or a container uses
// them (then the removal is refused and the image stays).
//
// A failed Dockerfile build leaves its finished layers untagged (they are
// the cache of the next attempt, as with `docker build`); the builder notes
// the last one in `P build-leftovers` (hash: image id → app), and they go
// when the app next builds successfully, at builds:prune, or with the app.
//
// Nothing here touches an image, volume or build cache Berth did not make:
// images are chosen by the berth/<app> repository or by the ids Berth noted,
// volumes by Berth's name and label.
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import { dockerStatus, LABELS } from '../../core/docker.ts';
import type { Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { appImageRepo, cacheVolumeName } from './image-names.ts';
import { VENV_TAG } from './venv-layer.ts';

export const IMAGE_RETENTION_DEFAULT = 5;

export const leftoversKey = (redisPrefix: string): string => `${redisPrefix}build-leftovers`;

export interface PruneResult {
  /** Tags removed (berth/<app>:<id>) and leftover image ids removed. */
  removed: string[];
  /** Tags kept. */
  kept: string[];
}

/** Removes one image reference; false when the Engine refuses (in use, has children). */
async function removeRef(docker: Docker, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).remove();
    return true;
  } catch (e) {
    if (dockerStatus(e) === 404) return true;
    if (dockerStatus(e) === 409) return false;
    throw e;
  }
}

/**
 * The app's berth/<app>:<tag> references with their image ids, newest build
 * first: build ids are time-ordered, and an image's own creation time is not
 * (git:from-image tags an image made any time).
 */
async function appTags(docker: Docker, app: string) {
  const repo = appImageRepo(validate.appName(app));
  const images = await docker.listImages({ filters: { reference: [repo] } });
  const tags: { ref: string; tag: string; id: string }[] = [];
  for (const image of images) {
    for (const ref of image.RepoTags ?? []) {
      if (ref.startsWith(`${repo}:`))
        tags.push({ ref, tag: ref.slice(repo.length + 1), id: image.Id });
    }
  }
  return tags.sort((a, b) => b.tag.length - a.tag.length || (a.tag < b.tag ? 1 : -1));
}

/** Notes the last layer a failed build left, to remove later. */
export async function noteLeftover(redis: Redis, prefix: string, app: string, imageId: string) {
  await redis.hset(leftoversKey(prefix), imageId, validate.appName(app));
}

/**
 * Applies retention to one app. `keep`: how many of the newest builds'
 * images stay, and how many newest releases protect theirs.
 */
export async function pruneApp(
  docker: Docker,
  store: Store,
  app: string,
  keep: number = IMAGE_RETENTION_DEFAULT,
): Promise<PruneResult> {
  const result: PruneResult = { removed: [], kept: [] };
  const tags = await appTags(docker, app);
  const latest = tags.find((t) => t.ref.endsWith(':latest'))?.id;
  const releases = await store.releases.list(app, { limit: keep }).catch(() => []);
  const protectedRefs = new Set(releases.map((r) => r.image).filter((i): i is string => !!i));
  const keptIds = new Set<string>();
  for (const t of tags) {
    // :venv is a Python app's venv layer (venv-layer.ts), the base of its next build.
    if (t.ref.endsWith(':latest') || t.ref.endsWith(`:${VENV_TAG}`)) continue;
    const keepIt =
      keptIds.has(t.id) || keptIds.size < keep || t.id === latest || protectedRefs.has(t.ref);
    if (keepIt) {
      keptIds.add(t.id);
      result.kept.push(t.ref);
      continue;
    }
    if (await removeRef(docker, t.ref)) result.removed.push(t.ref);
    else result.kept.push(t.ref);
  }
  await removeLeftovers(docker, store, (owner) => owner === app, result);
  return result;
}

async function removeLeftovers(
  docker: Docker,
  store: Store,
  which: (app: string) => boolean,
  result: PruneResult,
) {
  const key = leftoversKey(store.keys.prefix);
  const all = await store.redis.hgetall(key);
  for (const [id, owner] of Object.entries(all)) {
    if (!which(owner)) continue;
    // Still in use (a later build reused the layer): the Engine refuses; try again next time.
    if (await removeRef(docker, id)) {
      await store.redis.hdel(key, id);
      result.removed.push(id);
    }
  }
}

/**
 * Everything Berth keeps of an app on the Engine: its images (tags), its
 * build cache volume and its failed builds' layers. For apps:destroy.
 */
export async function removeAppArtifacts(
  docker: Docker,
  store: Store,
  app: string,
): Promise<PruneResult> {
  const result: PruneResult = { removed: [], kept: [] };
  for (const t of await appTags(docker, app)) {
    if (await removeRef(docker, t.ref)) result.removed.push(t.ref);
    else result.kept.push(t.ref);
  }
  await removeLeftovers(docker, store, (owner) => owner === app, result);
  const volume = docker.getVolume(cacheVolumeName(app));
  try {
    const info = await volume.inspect();
    // Only Berth's own volume of that name.
    if (info.Labels?.[LABELS.managed] === 'true' && info.Labels?.[LABELS.app] === app) {
      await volume.remove();
      result.removed.push(`volume ${info.Name}`);
    }
  } catch (e) {
    if (dockerStatus(e) !== 404) throw e;
  }
  return result;
}

/**
 * repo:purge-cache: removes the app's buildpack build cache volume
 * (berth-cache-APP: what buildpacks keep between builds under CACHE_DIR,
 * such as downloaded packages), so the next build starts from nothing.
 * Dockerfile builds' layers are the Engine's cache, trimmed by builds:prune.
 * 'none': there was none; 'busy': a build is using it (nothing removed).
 */
export async function purgeBuildCache(
  docker: Docker,
  app: string,
): Promise<'removed' | 'none' | 'busy'> {
  const volume = docker.getVolume(cacheVolumeName(app));
  try {
    const info = await volume.inspect();
    // Only Berth's own volume of that name.
    if (info.Labels?.[LABELS.managed] !== 'true' || info.Labels?.[LABELS.app] !== app)
      return 'none';
    await volume.remove();
    return 'removed';
  } catch (e) {
    if (dockerStatus(e) === 404) return 'none';
    if (dockerStatus(e) === 409) return 'busy';
    throw e;
  }
}

/** builds:prune for every app, and what apps that no longer exist left behind. */
export async function pruneAll(
  docker: Docker,
  store: Store,
  keep: number = IMAGE_RETENTION_DEFAULT,
): Promise<PruneResult> {
  const total: PruneResult = { removed: [], kept: [] };
  const add = (r: PruneResult) => {
    total.removed.push(...r.removed);
    total.kept.push(...r.kept);
  };
  const apps = new Set(await store.apps.names());
  for (const app of apps) add(await pruneApp(docker, store, app, keep));
  // Images and volumes of apps that are gone (destroyed or renamed while the Engine was away).
  const managed = await docker.listImages({ filters: { label: [`${LABELS.managed}=true`] } });
  const orphans = new Set<string>();
  for (const image of managed) {
    const owner = image.Labels?.[LABELS.app];
    if (
      owner &&
      !apps.has(owner) &&
      (image.RepoTags ?? []).some((t) => t.startsWith(`berth/${owner}:`))
    )
      orphans.add(owner);
  }
  const volumes =
    (await docker.listVolumes({ filters: { label: [`${LABELS.managed}=true`] } })).Volumes ?? [];
  for (const v of volumes) {
    const owner = v.Labels?.[LABELS.app];
    if (owner && !apps.has(owner) && v.Name === cacheVolumeName(owner)) orphans.add(owner);
  }
  for (const app of orphans) add(await removeAppArtifacts(docker, store, app));
  await removeLeftovers(docker, store, (owner) => !apps.has(owner), total);
  return total;
}
