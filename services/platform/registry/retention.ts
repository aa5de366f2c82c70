// Retention in Berth's own registry, as on the Engine (../build/retention.ts):
// after a build, the app's tags in the registry that name a build whose
// local image retention removed go too, by deleting their manifests through
// the registry API. Only Berth's own registry: an external one
// (registry:set server) is the user's, and Berth deletes nothing there.
//
// What is left: a deleted manifest's layers stay on the registry's volume
// until its garbage collection runs, which must not overlap a push (the
// registry's own rule), so Berth does not run it on its own. The operator
// runs it in a quiet moment (README, "Images on every node"):
//   docker exec berth-registry-HOST-PORT docker-registry garbage-collect --delete-untagged /etc/berth-registry/config.yml
// Tags of images deployed as they are (id-<hex>) are not pruned.
import * as validate from '../../core/validate.ts';
import { appImageRepo } from '../build/image-names.ts';
import { ownRegistryClient } from './own-registry.ts';
import { deleteTag, listTags } from './registry-api.ts';
import { computed, readSettings } from './settings.ts';

/**
 * Deletes the app's build tags in Berth's registry at `address` whose
 * berth/<app>:<tag> is not among `kept`; the tags deleted.
 */
export async function pruneOwnRegistry(
  o: { address: string; dir: string },
  app: string,
  kept: readonly string[],
): Promise<string[]> {
  validate.appName(app);
  const settings = await readSettings(o.dir);
  // An app with an external registry has nothing of Berth's to prune.
  if (computed(settings, app, 'server') !== '') return [];
  const repo = computed(settings, app, 'image-repo') || appImageRepo(app);
  const local = `${appImageRepo(app)}:`;
  const keep = new Set(kept.filter((r) => r.startsWith(local)).map((r) => r.slice(local.length)));
  for (const t of computed(settings, app, 'push-extra-tags').split(',')) if (t) keep.add(t);
  const client = await ownRegistryClient(o.address, o.dir);
  const deleted: string[] = [];
  for (const tag of await listTags(client, repo)) {
    if (keep.has(tag) || tag.startsWith('id-') || tag === 'latest') continue;
    if (await deleteTag(client, repo, tag)) deleted.push(`${repo}:${tag}`);
  }
  return deleted;
}
