// The two things Berth reads from an npm registry (registry.npmjs.org or a
// mirror of it): a package's abbreviated packument (its versions, each with its
// tarball, integrity and engines) and a tarball, checked against its integrity
// before anyone unpacks it.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

export const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';

export interface PackageVersion {
  readonly version: string;
  readonly tarball: string;
  /** The dist.integrity SRI string, e.g. "sha512-<base64>". */
  readonly integrity: string | undefined;
  /** engines.node, when the version declares one. */
  readonly enginesNode: string | undefined;
  readonly deprecated: boolean;
}

export interface Packument {
  readonly name: string;
  readonly versions: ReadonlyMap<string, PackageVersion>;
  readonly latest: string | undefined;
}

/** The registry could not give a usable answer; `reason` is short, for one line. */
export class RegistryUnreachable extends Error {
  override readonly name = 'RegistryUnreachable';
}

/** `registry` with exactly one trailing slash, so relative URLs resolve under it. */
export const normalizeRegistry = (registry: string): string => `${registry.replace(/\/+$/, '')}/`;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;

/** Turns a failed fetch into a short reason: undici hides the useful part in `cause`. */
function fetchReason(e: unknown, timeoutMs: number): string {
  if (e instanceof Error && e.name === 'TimeoutError') return `no answer in ${seconds(timeoutMs)}`;
  const cause = e instanceof Error ? e.cause : undefined;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${cause.message}` : cause.message;
  }
  return e instanceof Error ? e.message : String(e);
}

/**
 * The abbreviated packument of `name` (the "corgi" form npm install reads:
 * versions with dist and engines, a tenth of the full document's size).
 * Rejects with RegistryUnreachable on a network error, a timeout, an HTTP
 * error or a body that is not a packument; with `signal`'s reason when aborted.
 */
export async function fetchPackument(
  registry: string,
  name: string,
  options: { signal?: AbortSignal | undefined; timeoutMs: number },
): Promise<Packument> {
  const url = new URL(name.replace('/', '%2f'), normalizeRegistry(registry));
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let body: unknown;
  try {
    const res = await fetch(url, {
      headers: { accept: 'application/vnd.npm.install-v1+json' },
      signal,
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryUnreachable(`GET ${url} answered HTTP ${res.status}`);
    }
    body = await res.json();
  } catch (e) {
    options.signal?.throwIfAborted();
    if (e instanceof RegistryUnreachable) throw e;
    if (e instanceof SyntaxError) throw new RegistryUnreachable(`${url} is not JSON`);
    throw new RegistryUnreachable(fetchReason(e, options.timeoutMs), { cause: e });
  }
  if (!isRecord(body) || !isRecord(body.versions)) {
    throw new RegistryUnreachable(`${url} is not a packument (no "versions")`);
  }
  const versions = new Map<string, PackageVersion>();
  // Entries are read one by one and odd ones skipped: a registry holds a
  // decade of publishes, and one malformed old version must not hide the rest.
  for (const [version, entry] of Object.entries(body.versions)) {
    if (!isRecord(entry) || !isRecord(entry.dist) || typeof entry.dist.tarball !== 'string') {
      continue;
    }
    const engines = isRecord(entry.engines) ? entry.engines.node : undefined;
    versions.set(version, {
      version,
      tarball: entry.dist.tarball,
      integrity: typeof entry.dist.integrity === 'string' ? entry.dist.integrity : undefined,
      enginesNode: typeof engines === 'string' ? engines : undefined,
      deprecated: typeof entry.deprecated === 'string' && entry.deprecated !== '',
    });
  }
  const tags = isRecord(body['dist-tags']) ? body['dist-tags'] : {};
  return {
    name,
    versions,
    latest: typeof tags.latest === 'string' ? tags.latest : undefined,
  };
}

/** The sha512 digests (base64) an SRI string allows; npm's other algorithms are weaker. */
export function sha512Digests(integrity: string | undefined): string[] {
  return (integrity ?? '')
    .split(/\s+/)
    .filter((token) => token.startsWith('sha512-'))
    .map((token) => token.slice('sha512-'.length).replace(/\?.*$/, ''));
}

/** Why a download failed, for one line; the caller names what and from where. */
export class DownloadFailed extends Error {
  override readonly name = 'DownloadFailed';
}

/**
 * Streams `url` into `file` and checks its sha512 against `integrity`; rejects
 * with DownloadFailed when the registry fails, the body stalls for
 * `idleTimeoutMs`, or the bytes do not match (the file is then worthless and
 * must not be unpacked). `onSize` gets Content-Length once the headers are in.
 */
export async function downloadVerified(
  url: string,
  integrity: string | undefined,
  file: string,
  options: {
    signal?: AbortSignal | undefined;
    idleTimeoutMs: number;
    onSize?: (bytes: number | undefined) => void;
  },
): Promise<number> {
  const expected = sha512Digests(integrity);
  if (expected.length === 0) {
    throw new DownloadFailed(
      `the registry gives no sha512 integrity for it ("${integrity ?? ''}")`,
    );
  }
  // A whole-download timeout would fail big tarballs on slow links; a stall
  // timeout (no bytes for idleTimeoutMs) fails only a dead connection.
  const stall = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stall.signal]) : stall.signal;
  const timer = setTimeout(() => stall.abort(), options.idleTimeoutMs);
  const hash = createHash('sha512');
  let bytes = 0;
  const out = await open(file, 'w');
  try {
    const res = await fetch(url, { signal });
    if (!res.ok || res.body === null) {
      await res.body?.cancel();
      throw new DownloadFailed(`HTTP ${res.status}`);
    }
    const length = Number(res.headers.get('content-length'));
    options.onSize?.(Number.isFinite(length) && length > 0 ? length : undefined);
    for await (const chunk of res.body) {
      timer.refresh();
      hash.update(chunk);
      await out.write(chunk);
      bytes += chunk.byteLength;
    }
  } catch (e) {
    options.signal?.throwIfAborted();
    if (e instanceof DownloadFailed) throw e;
    if (stall.signal.aborted) {
      throw new DownloadFailed(`no data for ${seconds(options.idleTimeoutMs)}`, { cause: e });
    }
    throw new DownloadFailed(fetchReason(e, options.idleTimeoutMs), { cause: e });
  } finally {
    clearTimeout(timer);
    await out.close();
  }
  const actual = hash.digest('base64');
  if (!expected.includes(actual)) {
    throw new DownloadFailed(
      `its sha512 (${actual.slice(0, 12)}...) does not match the registry's integrity (${expected[0]?.slice(0, 12)}...): a corrupted download or mirror`,
    );
  }
  return bytes;
}
