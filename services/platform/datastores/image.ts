// A datastore kind's image, one per version: made once from Debian's packages
// by mmdebstrap (no registry needed, as the stack image), with the kind's
// entry point uploaded, then kept and reused. The image carries a revision
// (a hash of its suite, packages and entry point), so a changed entry point
// or package list builds it again at the next create or start.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type Docker from 'dockerode';
import {
  importDebianRootfs,
  type MmdebstrapImage,
  mmdebstrapArgs,
} from '../../core/debian-image.ts';
import { LABELS } from '../../core/docker.ts';
import { inspectImage, removeImage, tagImage } from '../../core/docker-images.ts';
import { BerthError } from '../../core/errors.ts';
import { shipped } from '../../core/runtime.ts';
import { type DatastoreKind, ENTRYPOINT, type KindVersion } from './kind.ts';

/** The image's tag: its own repository, never berth/<app> (an app may be named postgres). */
export const imageRef = (kind: DatastoreKind, version: KindVersion) =>
  `berth-datastore/${kind.name}:${version.version}`;

/** What the image is made of, and the revision that names it. */
async function recipe(kind: DatastoreKind, version: KindVersion) {
  const source = shipped(kind.entrypoint);
  const entrypoint = await readFile(source);
  const packages = ['ca-certificates', ...version.packages];
  const config = [
    `ENTRYPOINT ["${ENTRYPOINT}"]`,
    'CMD ["serve"]',
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'ENV LANG=C.UTF-8',
  ];
  const revision = createHash('sha256')
    .update(`${version.suite}\0${packages.join(',')}\0${config.join('\0')}\0`)
    .update(entrypoint)
    .digest('hex')
    .slice(0, 12);
  const image: MmdebstrapImage = {
    suite: version.suite,
    packages,
    uploads: [{ source, target: ENTRYPOINT, mode: '755' }],
  };
  const changes = [
    ...config,
    `LABEL ${LABELS.datastore}=${kind.name} ${LABELS.datastoreVersion}=${version.version} ${LABELS.datastoreRevision}=${revision}`,
  ];
  return { image, changes, revision };
}

export interface ImageProgress {
  /** A line when the build starts and ends. */
  heading(text: string): void;
  /** mmdebstrap's latest line, now and then. */
  detail(text: string): void;
}

/** Builds in flight in this process, so two creates at once build once. */
const building = new Map<string, Promise<string>>();

/**
 * The image of `version`, built when missing or of another revision; its
 * reference. BERTH_E_DATASTORE_IMAGE when the build fails (nothing is left).
 */
export function ensureDatastoreImage(
  docker: Docker,
  kind: DatastoreKind,
  version: KindVersion,
  o: { workDir: string; progress: ImageProgress },
): Promise<string> {
  const ref = imageRef(kind, version);
  const running = building.get(ref);
  if (running) return running;
  const p = build(docker, kind, version, ref, o).finally(() => building.delete(ref));
  building.set(ref, p);
  return p;
}

async function build(
  docker: Docker,
  kind: DatastoreKind,
  version: KindVersion,
  ref: string,
  o: { workDir: string; progress: ImageProgress },
): Promise<string> {
  const { image, changes, revision } = await recipe(kind, version);
  const old = await inspectImage(docker, ref);
  if (old?.Config?.Labels?.[LABELS.datastoreRevision] === revision) return ref;
  const started = Date.now();
  o.progress.heading(
    `${old ? 'Rebuilding' : 'Building'} the ${kind.title} ${version.version} image from Debian's packages (1–4 min, once)`,
  );
  let last = 0;
  let id: string;
  try {
    ({ id } = await importDebianRootfs({
      docker,
      args: mmdebstrapArgs(image),
      workDir: o.workDir,
      changes,
      onLine: (line) => {
        if (Date.now() - last < 5000) return;
        last = Date.now();
        o.progress.detail(line.slice(0, 160));
      },
    }));
    await tagImage(docker, id, ref);
  } catch (e) {
    throw new BerthError(
      'BERTH_E_DATASTORE_IMAGE',
      { image: ref, reason: (e as Error).message },
      { cause: e },
    );
  }
  // The old revision goes unless a container still runs it (then it stays until that one is made again).
  if (old && old.Id !== id) await removeImage(docker, old.Id, false).catch(() => false);
  o.progress.detail(`built ${ref} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return ref;
}

/** mmdebstrap's command line for the image, as a person would run it (docs, tests). */
export async function imageCommand(kind: DatastoreKind, version: KindVersion): Promise<string[]> {
  return ['mmdebstrap', ...mmdebstrapArgs((await recipe(kind, version)).image)];
}
