// A Python app's virtual environment as an image layer of its own, the way
// ./node-image.ts layers the Node.js runtime: `berth/<app>:venv` is the base
// image of the build plus /app/.venv (owned by the app user), made after a
// build that installed the requirements. The next build's container starts
// from it; the Python buildpack finds the key it wrote in /app/.venv/.berth-key
// (requirements.txt, the Python and the stack, hashed) and, when the key is
// its own, installs nothing. Unchanged, the venv is then a lower layer of the
// app image: a re-push neither copies it nor saves it again, and the Engine
// keeps it once for all of the app's images (as Docker keeps the layer of a
// Dockerfile's `RUN pip install`). A changed requirements.txt gives another
// key: the buildpack makes the venv anew (--clear) and the builder saves the
// new layer for the push after. The layer is used only on the image it was
// made on (its id is a label), so a new stack or Python starts from scratch.
import type Docker from 'dockerode';
import { LABELS, MANAGED_LABELS } from '../../core/docker.ts';
import { execInContainer } from '../../core/docker-exec.ts';
import { commitContainer, inspectImage } from '../../core/docker-images.ts';
import { appImageRepo } from './image-names.ts';

export const VENV_DIR = '/app/.venv';
/** Written by buildpacks/python/bin/compile after a complete install; read here. */
export const VENV_KEY_FILE = `${VENV_DIR}/.berth-key`;
/** The tag of the layer in the app's repository; retention leaves it alone, apps:destroy removes it. */
export const VENV_TAG = 'venv';

export const venvLayerRef = (app: string): string => `${appImageRepo(app)}:${VENV_TAG}`;

export interface VenvLayer {
  ref: string;
  /** The key of the venv in it. */
  key: string;
}

/** The app's venv layer when it was made on `baseImage` as it is now; undefined otherwise. */
export async function findVenvLayer(
  docker: Docker,
  app: string,
  baseImage: string,
): Promise<VenvLayer | undefined> {
  const ref = venvLayerRef(app);
  const [base, layer] = await Promise.all([
    inspectImage(docker, baseImage),
    inspectImage(docker, ref),
  ]);
  const labels = layer?.Config?.Labels ?? {};
  const key = labels[LABELS.venvKey];
  if (base === undefined || labels[LABELS.baseId] !== base.Id || !key) return undefined;
  return { ref, key };
}

export interface SaveVenvLayer {
  docker: Docker;
  app: string;
  /** The image the build started from when it had no layer (the stack or a toolchain image). */
  baseImage: string;
  /** The build container, compile done. */
  build: Docker.Container;
  /** The key of the layer the build started from, if it had one. */
  usedKey: string | undefined;
  /** The app user (uid:gid) who owns the venv. */
  owner: string;
  labels: Readonly<Record<string, string>>;
  signal: AbortSignal;
}

/**
 * Saves the build's venv as the app's layer when the buildpack made a new
 * one (its key is not the layer's); true when it did. A venv without a key
 * (a pyproject.toml app, a failed install) is not saved.
 */
export async function saveVenvLayer(o: SaveVenvLayer): Promise<boolean> {
  const { docker, signal } = o;
  const read = await execInContainer(o.build, ['cat', VENV_KEY_FILE], { signal });
  const key = read.stdout.trim();
  if (read.exitCode !== 0 || !/^[0-9a-f]{16,64}$/.test(key) || key === o.usedKey) return false;
  const base = await inspectImage(docker, o.baseImage);
  if (base === undefined) return false;
  const container = await docker.createContainer({
    Image: o.baseImage,
    Cmd: ['sleep', 'infinity'],
    WorkingDir: '/app',
    Labels: { ...o.labels },
    HostConfig: { Init: true, NetworkMode: 'none' },
  });
  try {
    await container.start();
    await container.putArchive(await o.build.getArchive({ path: VENV_DIR }), { path: '/app' });
    const owned = await execInContainer(container, ['chown', '-hR', o.owner, '/app'], { signal });
    if (owned.exitCode !== 0) throw new Error(`chown of ${VENV_DIR}: ${owned.stdout.trim()}`);
    await container.kill().catch(() => {});
    await commitContainer(container, {
      ref: venvLayerRef(o.app),
      comment: `the virtual environment of ${o.app} (${key})`,
      config: {
        Cmd: ['bash'],
        Labels: {
          ...MANAGED_LABELS,
          ...o.labels,
          [LABELS.baseId]: base.Id,
          [LABELS.venvKey]: key,
        },
      },
    });
    return true;
  } finally {
    await container.remove({ force: true, v: true }).catch(() => {});
  }
}
