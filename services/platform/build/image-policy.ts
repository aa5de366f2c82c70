// Which images an app may build on and deploy. The Docker Engine holds every
// tenant's images side by side, and a build that starts FROM one (or copies
// from it with COPY --from, or git:from-image that tags it) gets its files:
// another app's code and secrets. And the Engine fetches what is not on the
// machine as root, from any address a reference names, the host's loopback
// services included. So an app may use only:
//   - the stack image (what buildpack builds start from);
//   - its own images (berth/<app>:..., made for this app, not for an earlier
//     app of its name);
//   - images the admin allows (BERTH_ALLOWED_BASE_IMAGES: patterns over the
//     full reference, default Docker Hub's official images);
// never an image by id, and never from a registry (or an ADD URL) whose
// address is loopback, link-local or private.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type Docker from 'dockerode';
import { LABELS } from '../../core/docker.ts';
import { inspectImage } from '../../core/docker-images.ts';
import { BerthError } from '../../core/errors.ts';
import type { App } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import {
  type DockerfileInfo,
  type DockerfileUse,
  describeDockerfile,
} from './dockerfile-syntax.ts';
import { appImageRepo } from './image-names.ts';

export interface ImagePolicy {
  docker: Docker;
  app: Pick<App, 'name' | 'createdAt'>;
  /** The stack image (Config.stackImage). */
  stackImage: string;
  /** BERTH_ALLOWED_BASE_IMAGES: patterns over normalized references; `*` is any run of characters. */
  allowed: readonly string[];
  /** A host name's addresses; default DNS (tests name their own). */
  resolve?: (host: string) => Promise<string[]>;
}

/** A reference as the Engine reads it: docker.io and library/ filled in. */
export interface ImageName {
  registry: string;
  /** The repository path, library/ included for Docker Hub's official images. */
  path: string;
  tag: string | undefined;
  digest: string | undefined;
  /** registry/path[:tag][@digest], tag `latest` when neither is given. */
  full: string;
}

/** Docker's normalization (distribution/reference ParseNormalizedNamed). */
export function normalizeImage(ref: string): ImageName {
  validate.imageRef(ref);
  const at = ref.indexOf('@');
  const digest = at === -1 ? undefined : ref.slice(at + 1);
  const named = at === -1 ? ref : ref.slice(0, at);
  const colon = named.lastIndexOf(':');
  const tagged = colon > named.lastIndexOf('/');
  const name = tagged ? named.slice(0, colon) : named;
  let tag = tagged ? named.slice(colon + 1) : undefined;
  if (tag === undefined && digest === undefined) tag = 'latest';
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  const isRegistry = first.includes('.') || first.includes(':') || first === 'localhost';
  const registry = isRegistry ? first : 'docker.io';
  let path = isRegistry ? name.slice(slash + 1) : name;
  if (registry === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  const full = `${registry}/${path}${tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@${digest}`}`;
  return { registry, path, tag, digest, full };
}

/** Whether `full` matches a BERTH_ALLOWED_BASE_IMAGES pattern (`*`: any run of characters). */
export function matchesPattern(pattern: string, full: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(full);
}

/** An IPv4 or IPv6 address a tenant must never make the Engine fetch from. */
export function isInternalAddress(address: string): boolean {
  const v = isIP(address);
  if (v === 4) {
    const [a = 0, b = 0] = address.split('.').map(Number);
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      a >= 224 // multicast, reserved, broadcast
    );
  }
  if (v === 6) {
    const lower = address.toLowerCase();
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    if (mapped?.[1]) return isInternalAddress(mapped[1]);
    return (
      lower === '::' ||
      lower === '::1' ||
      /^f[cd]/.test(lower) || // unique local fc00::/7
      /^fe[89ab]/.test(lower) || // link-local fe80::/10
      /^ff/.test(lower) // multicast
    );
  }
  return false;
}

const defaultResolve = async (host: string) =>
  (await lookup(host, { all: true })).map((a) => a.address);

/**
 * Refuses a host the Engine would fetch from whose address is loopback,
 * link-local or private (the host's own services, the cloud's metadata
 * service, the operator's network). Names are resolved here as the Engine
 * would; one that does not resolve is refused too.
 */
export async function checkFetchHost(
  host: string,
  what: string,
  resolve: (host: string) => Promise<string[]> = defaultResolve,
): Promise<void> {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const refuse = (reason: string) => {
    throw new BerthError('BERTH_E_IMAGE_NOT_ALLOWED', { image: what, reason });
  };
  if (bare === 'localhost' || bare.endsWith('.localhost')) refuse(`${host} is this machine`);
  const addresses = isIP(bare) ? [bare] : await resolve(bare).catch(() => [] as string[]);
  if (addresses.length === 0) refuse(`${host} does not resolve`);
  const internal = addresses.find(isInternalAddress);
  if (internal !== undefined) {
    refuse(
      `${isIP(bare) ? host : `${host} resolves to ${internal}, which`} is an address of this machine or its private network`,
    );
  }
}

/** The registry host of a normalized reference, without its port. */
const registryHost = (n: ImageName) => n.registry.replace(/:\d+$/, '');

/** Seconds since the epoch, as Docker keeps a volume's or an image's time to compare. */
const second = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/**
 * Refuses `ref` (BERTH_E_IMAGE_NOT_ALLOWED) unless the policy lets the app
 * use it; `use` names where it came from (`FROM`, `COPY --from`,
 * `git:from-image`) for the message.
 */
export async function checkImage(policy: ImagePolicy, ref: string, use: string): Promise<void> {
  const refuse = (reason: string): never => {
    throw new BerthError('BERTH_E_IMAGE_NOT_ALLOWED', { image: `${use} ${ref}`, reason });
  };
  try {
    validate.imageRef(ref);
  } catch {
    refuse('not an image reference');
  }
  // The Engine looks an untagged hex name up as an image id (or a prefix of
  // one) when no image has that name: any image on the machine.
  if (/^[0-9a-f]+$/.test(ref) || /^sha256:/.test(ref)) {
    refuse(`it names an image by id; name an image with its tag (such as ${ref}:latest)`);
  }
  const n = normalizeImage(ref);
  const app = policy.app.name;
  if (n.full === normalizeImage(policy.stackImage).full) return;
  const own = `docker.io/${appImageRepo(app)}`;
  if (`${n.registry}/${n.path}` === own) {
    const info = await inspectImage(policy.docker, ref);
    if (
      info === undefined ||
      info.Config?.Labels?.[LABELS.app] !== app ||
      second(info.Created) < second(policy.app.createdAt)
    ) {
      refuse(`it is not one of ${app}'s builds`);
    }
    return;
  }
  if (n.registry === 'docker.io' && n.path.startsWith('berth/')) {
    refuse(`Berth's images are its own and its apps'; ${app} may use ${appImageRepo(app)}:...`);
  }
  // What is on the machine is not fetched; anything else is, from its
  // registry, whatever the patterns say.
  if (n.registry !== 'docker.io' && (await inspectImage(policy.docker, ref)) === undefined) {
    await checkFetchHost(registryHost(n), `${use} ${ref}`, policy.resolve);
  }
  if (!policy.allowed.some((p) => matchesPattern(p, n.full))) {
    refuse(
      policy.allowed.length === 0
        ? 'BERTH_ALLOWED_BASE_IMAGES is none'
        : `${n.full} matches none of BERTH_ALLOWED_BASE_IMAGES (${policy.allowed.join(', ')})`,
    );
  }
}

/** Refuses an ADD URL whose host is internal (checkFetchHost). */
async function checkUrl(policy: ImagePolicy, url: string, use: string): Promise<void> {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    throw new BerthError('BERTH_E_IMAGE_NOT_ALLOWED', {
      image: `${use} ${url}`,
      reason: 'not a URL',
    });
  }
  await checkFetchHost(host, `${use} ${url}`, policy.resolve);
}

/** Checks one use the file (or a base image's ONBUILD) makes of an image or URL. */
async function checkUse(policy: ImagePolicy, use: DockerfileUse, where: string): Promise<void> {
  const what = `${where}:${use.line} ${use.kind}`;
  if (use.ref === undefined) {
    throw new BerthError('BERTH_E_IMAGE_NOT_ALLOWED', {
      image: `${what} ${use.text}`,
      reason:
        'a variable in it has no value before the build; write it out, or give the ARG a default before the first FROM',
    });
  }
  if (use.kind === 'ADD') await checkUrl(policy, use.ref, what);
  else await checkImage(policy, use.ref, what);
}

/**
 * Refuses a Dockerfile that names an image or a URL the app may not use
 * (FROM, COPY --from, ADD URLs), also through the ONBUILD instructions of the
 * base images on this machine, which the Engine runs as the build's own.
 */
export async function checkDockerfile(
  policy: ImagePolicy,
  info: DockerfileInfo,
  file: string,
): Promise<void> {
  for (const use of info.uses) await checkUse(policy, use, file);
  for (const use of info.uses.filter((u) => u.kind === 'FROM')) {
    const image = use.ref && (await inspectImage(policy.docker, use.ref));
    const triggers = image ? (image.Config?.OnBuild ?? []) : [];
    if (triggers.length === 0) continue;
    const inherited = describeDockerfile(`FROM scratch\n${triggers.join('\n')}\n`);
    for (const u of inherited.uses) await checkUse(policy, u, `ONBUILD of ${use.ref}`);
  }
}
