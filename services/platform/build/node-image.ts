// The base image of a Node.js app's buildpack build: the stack image plus the
// Node.js runtime at /app/.heroku/node, one image per Node.js version
// (`berth/runtime-node:<version>`). Because the runtime is a layer of its
// own, every build and every app on that version shares it: an app image
// adds only its code and node_modules, and a rebuild does not copy and store
// 190 MB of Node.js again. The image is made again when the stack changes
// (its label names the stack image it was made on).
import { spawn } from 'node:child_process';
import path from 'node:path';
import type Docker from 'dockerode';
import { type ParseError, parse as parseJsonc, printParseErrorCode } from 'jsonc-parser';
import { LABELS, MANAGED_LABELS } from '../../core/docker.ts';
import { commitContainer, inspectImage } from '../../core/docker-images.ts';
import { BerthError } from '../../core/errors.ts';
import { NODE_RUNTIME_MOUNT } from './node-runtime.ts';

export const NODE_IMAGE_REPO = 'berth/runtime-node';

export interface NodeImageOptions {
  docker: Docker;
  stackImage: string;
  /** The Node.js version and the host directory holding it (bin/, include/, lib/). */
  runtime: { version: string; dir: string };
  labels: Readonly<Record<string, string>>;
  signal: AbortSignal;
}

/** `berth/runtime-node:<version>` made on the current stack; made now if missing or stale. */
export async function ensureNodeImage(
  o: NodeImageOptions,
): Promise<{ ref: string; made: boolean }> {
  const { docker } = o;
  const ref = `${NODE_IMAGE_REPO}:${o.runtime.version}`;
  const stack = await inspectImage(docker, o.stackImage);
  if (stack === undefined) {
    throw new BerthError('BERTH_E_BUILD_BASE_IMAGE', {
      image: o.stackImage,
      reason: 'the stack image is missing; npm start builds it',
    });
  }
  const have = await inspectImage(docker, ref);
  if (have?.Config?.Labels?.[LABELS.stackId] === stack.Id) return { ref, made: false };

  const container = await docker.createContainer({
    Image: o.stackImage,
    Cmd: ['true'],
    Labels: { ...o.labels },
  });
  try {
    // The runtime directory, renamed on the way to app/.heroku/node, as one tar.
    const base = path.basename(o.runtime.dir);
    const tar = spawn(
      'tar',
      [
        '-C',
        path.dirname(o.runtime.dir),
        '-c',
        `--transform=s,^${base.replace(/[.]/g, '\\.')},${NODE_RUNTIME_MOUNT.slice(1)},`,
        base,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    tar.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const exited = new Promise<number>((resolve, reject) => {
      tar.on('error', reject);
      tar.on('close', (code) => resolve(code ?? 1));
    });
    const onAbort = () => tar.kill('SIGKILL');
    o.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await container.putArchive(tar.stdout, { path: '/' });
    } finally {
      o.signal.removeEventListener('abort', onAbort);
    }
    const code = await exited;
    o.signal.throwIfAborted();
    if (code !== 0) throw new Error(`tar of ${o.runtime.dir} failed: ${stderr.trim()}`);
    await commitContainer(container, {
      ref,
      comment: `Node.js ${o.runtime.version} on ${o.stackImage}`,
      config: {
        Cmd: ['bash'],
        Labels: {
          ...MANAGED_LABELS,
          ...o.labels,
          [LABELS.stackId]: stack.Id,
          [LABELS.runtime]: `node-${o.runtime.version}`,
        },
      },
    });
    return { ref, made: true };
  } finally {
    // With its anonymous volumes (an image's VOLUME lines), which would outlive it.
    await container.remove({ force: true, v: true }).catch(() => {});
  }
}

/** package.json parsed, or BERTH_E_BUILD_FAILED naming the line and column of the mistake. */
export function parsePackageJson(text: string): { engines?: { node?: unknown } } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse does not always say where; jsonc-parser does (comments and
    // trailing commas count as mistakes, as they do for npm).
    const errors: ParseError[] = [];
    parseJsonc(text, errors, { disallowComments: true, allowTrailingComma: false });
    const first = errors[0];
    const offset = first?.offset ?? 0;
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - before.lastIndexOf('\n');
    const what = first
      ? printParseErrorCode(first.error)
          .replace(/([a-z])([A-Z])/g, '$1 $2')
          .toLowerCase()
      : 'not JSON';
    throw new BerthError('BERTH_E_BUILD_FAILED', {
      where: `package.json:${line}:${column}`,
      reason: `not valid JSON (${what})`,
    });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new BerthError('BERTH_E_BUILD_FAILED', {
      where: 'package.json',
      reason: 'must hold a JSON object ({ "name": ... })',
    });
  }
  return value as { engines?: { node?: unknown } };
}
