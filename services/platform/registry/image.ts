// The image of Berth's own registry: Debian's docker-registry (the
// distribution registry) and apache2-utils' htpasswd, made once from
// Debian's packages by mmdebstrap on Berth's Engine (no registry is needed
// to make the registry), then kept. Its revision label (a hash of what it is
// made of) makes it again when that changes.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type Docker from 'dockerode';
import { mmdebstrapArgs } from '../../core/debian-image.ts';
import { LABELS } from '../../core/docker.ts';
import { followStream, inspectImage, removeImage, tagImage } from '../../core/docker-images.ts';
import { BerthError } from '../../core/errors.ts';

export const REGISTRY_IMAGE = 'berth-registry/registry:bookworm';

/** Where the container finds its files (<data>/registry, read-only). */
export const CONFIG_DIR = '/etc/berth-registry';

const PACKAGES = ['ca-certificates', 'docker-registry', 'apache2-utils'];

// The registry reads bcrypt htpasswd only: made from the password file at
// each start, so the password is written in one place (Berth's).
const ENTRYPOINT = `#!/bin/sh
set -e
htpasswd -niB berth < ${CONFIG_DIR}/password > /run/htpasswd
exec docker-registry "$@"
`;

const CHANGES = [
  'ENTRYPOINT ["/usr/local/bin/berth-registry"]',
  `CMD ["serve", "${CONFIG_DIR}/config.yml"]`,
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
];

export const registryImageRevision = () =>
  createHash('sha256')
    .update(JSON.stringify({ suite: 'bookworm', PACKAGES, ENTRYPOINT, CHANGES }))
    .digest('hex')
    .slice(0, 12);

let building: Promise<string> | undefined;

/**
 * The registry image on Berth's Engine, built when missing or of another
 * revision (2–4 min, once); its reference. BERTH_E_REGISTRY on failure.
 */
export function ensureRegistryImage(
  docker: Docker,
  o: { workDir: string; onLine: (line: string) => void },
): Promise<string> {
  building ??= build(docker, o).finally(() => {
    building = undefined;
  });
  return building;
}

async function build(docker: Docker, o: { workDir: string; onLine: (line: string) => void }) {
  const revision = registryImageRevision();
  const old = await inspectImage(docker, REGISTRY_IMAGE);
  if (old?.Config?.Labels?.[LABELS.registryRevision] === revision) return REGISTRY_IMAGE;
  o.onLine("Building the registry's image from Debian's packages (2–4 min, once)");
  try {
    await mkdir(o.workDir, { recursive: true });
    const entrypoint = path.join(o.workDir, 'berth-registry-entrypoint');
    await writeFile(entrypoint, ENTRYPOINT, { mode: 0o755 });
    // The tar is written to a file, then imported: the Engine's import does
    // not wait minutes on a stream mmdebstrap fills only at its end (on a
    // loaded machine that import request was cut before the tar came).
    const tar = path.join(o.workDir, 'rootfs.tar');
    const args = mmdebstrapArgs({
      suite: 'bookworm',
      packages: PACKAGES,
      uploads: [{ source: entrypoint, target: '/usr/local/bin/berth-registry', mode: '755' }],
    });
    args[args.length - 1] = tar;
    await runMmdebstrap(args, path.join(o.workDir, 'tmp'), o.onLine);
    let id: string | undefined;
    const stream = await docker.importImage(createReadStream(tar), {
      changes: [
        ...CHANGES,
        `LABEL ${LABELS.registry}=image ${LABELS.registryRevision}=${revision}`,
      ],
    });
    await followStream(docker, stream, (event) => {
      if (event.status && /^sha256:[0-9a-f]{64}$/.test(event.status)) id = event.status;
    });
    await rm(tar, { force: true });
    if (!id) throw new Error('the Engine did not say which image it imported');
    await tagImage(docker, id, REGISTRY_IMAGE);
    if (old && old.Id !== id) await removeImage(docker, old.Id, false).catch(() => false);
  } catch (e) {
    throw new BerthError(
      'BERTH_E_REGISTRY',
      { reason: `its image could not be made: ${(e as Error).message}` },
      { cause: e },
    );
  }
  return REGISTRY_IMAGE;
}

/** mmdebstrap with `args` (the last its output file); its step lines to onLine, now and then. */
function runMmdebstrap(args: string[], tmp: string, onLine: (line: string) => void): Promise<void> {
  return mkdir(tmp, { recursive: true }).then(
    () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn('mmdebstrap', args, {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, TMPDIR: tmp },
        });
        const tail: string[] = [];
        let last = 0;
        createInterface({ input: child.stderr }).on('line', (line) => {
          tail.push(line);
          if (tail.length > 20) tail.shift();
          if (/^I: /.test(line) && Date.now() - last > 5000) {
            last = Date.now();
            onLine(line.slice(3, 163));
          }
        });
        child.on('error', reject);
        child.on('close', (code, signal) =>
          code === 0
            ? resolve()
            : reject(
                new Error(
                  `mmdebstrap failed (${signal ?? `exit code ${code}`}): ${tail.filter((l) => l.trim()).at(-1) ?? ''}`,
                ),
              ),
        );
      }),
  );
}
