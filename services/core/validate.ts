// The security boundary for input: every name, domain, key and port that a
// user or an operator hands to Berth passes one of these functions before it
// reaches the disk, a process, Redis or the Docker API. Each returns the value
// in its canonical form or throws BERTH_E_INVALID_NAME with a one-line reason.
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { BerthError } from './errors.ts';
import { contains, formatRange, PRIVATE_RANGES, parseIpv4Range, rangeOf } from './ipv4-range.ts';

function invalid(kind: string, value: string, reason: string): never {
  // Show hostile input without letting it break the line or the terminal.
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value).slice(1, -1);
  throw new BerthError('BERTH_E_INVALID_NAME', { kind, value: shown, reason });
}

// A DNS label, because every app is served at <app>.<BERTH_DOMAIN> and is
// reachable by that name on the Berth network; 30 characters at most, as on
// Heroku, which leaves room in the label for Berth's own suffixes.
const APP_NAME = /^[a-z](?:[a-z0-9-]{0,28}[a-z0-9])?$/;

/** An app name: lower-case letters, digits and dashes, starts with a letter, at most 30. */
export function appName(value: string): string {
  if (value.length === 0) invalid('app name', value, 'it is empty');
  if (value.length > 30) invalid('app name', value, 'at most 30 characters');
  if (!APP_NAME.test(value)) {
    invalid(
      'app name',
      value,
      'use lower-case letters, digits and dashes, starting with a letter and not ending with a dash',
    );
  }
  if (value.startsWith('xn--'))
    invalid('app name', value, 'names starting with "xn--" are reserved');
  return value;
}

/**
 * The repository a git client asks for ("/api.git", "api", "~/api.git") → the
 * app name. Nothing else is a repository: no other directory, no "..".
 */
export function repoPath(value: string): string {
  const m = /^(?:~\/|\/)?([^/]+?)(?:\.git)?\/?$/.exec(value);
  if (m === null || m[1] === undefined) {
    invalid('repository', value, 'use the app name, as in ssh://berth@HOST:2222/APP');
  }
  try {
    return appName(m[1]);
  } catch {
    invalid(
      'repository',
      value,
      'the name must be an app name (lower-case letters, digits, dashes)',
    );
  }
}

const GIT_REF = /^[A-Za-z0-9._/-]+$/;

/**
 * A branch name as `git check-ref-format --branch` accepts it, restricted to
 * plain ASCII so it is safe in a path, a log line and an argument.
 */
export function branchName(value: string): string {
  const bad =
    value.length === 0 ||
    value.length > 200 ||
    !GIT_REF.test(value) ||
    value.startsWith('-') ||
    value.startsWith('/') ||
    value.endsWith('/') ||
    value.endsWith('.') ||
    value.endsWith('.lock') ||
    value.includes('..') ||
    value.includes('//') ||
    value.split('/').some((part) => part.startsWith('.'));
  if (bad) invalid('branch', value, 'use a git branch name such as main or release/1.2');
  return value;
}

const USER_NAME = /^[a-z][a-z0-9._-]{0,31}$/;

/** A Berth user name (owner of SSH keys): like a Unix login name. */
export function userName(value: string): string {
  if (!USER_NAME.test(value)) {
    invalid(
      'user name',
      value,
      'use 1-32 lower-case letters, digits, ".", "_" or "-", starting with a letter',
    );
  }
  return value;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An environment variable name an app may set; BERTH_* belongs to Berth. */
export function envKey(value: string): string {
  if (!ENV_KEY.test(value) || value.length > 255) {
    invalid('config key', value, 'use letters, digits and "_", not starting with a digit');
  }
  if (value.toUpperCase().startsWith('BERTH_')) {
    invalid('config key', value, 'keys starting with BERTH_ are reserved for Berth');
  }
  return value;
}

// A systemd unit name's prefix (systemd.unit(5) allows more: "@" makes a
// template and "\\" an escape, neither of which `service:install` writes).
const UNIT_NAME = /^[a-z](?:[a-z0-9_-]{0,62}[a-z0-9])?$/;

/** The name of Berth's systemd unit, without ".service": berth, berth-staging. */
export function unitName(value: string): string {
  if (value.length === 0) invalid('unit name', value, 'it is empty');
  if (value.endsWith('.service')) {
    invalid('unit name', value, `give the name without ".service", such as ${value.slice(0, -8)}`);
  }
  if (!UNIT_NAME.test(value)) {
    invalid(
      'unit name',
      value,
      'use 1-64 lower-case letters, digits, "-" and "_", starting with a letter',
    );
  }
  return value;
}

/**
 * An absolute path on this machine that goes into a systemd unit file or an
 * argument of its command line: systemd reads a unit line by line, takes a
 * trailing backslash for a continuation and trims each value, so control
 * characters, backslashes and whitespace at either end cannot be written
 * faithfully and are refused; "%" and quotes are escaped where written.
 */
export function hostPath(value: string, kind = 'path'): string {
  if (!value.startsWith('/'))
    invalid(kind, value, 'use an absolute path, such as /etc/systemd/system');
  if (/[\u0000-\u001f\u007f\\]/.test(value) || value.trim() !== value || value.length > 1024) {
    invalid(kind, value, 'no control characters, backslashes or surrounding spaces');
  }
  const parts = value.split('/');
  if (parts.some((part) => part === '.' || part === '..')) {
    invalid(kind, value, 'no "." or ".." in the path');
  }
  return parts.filter((part, i) => part !== '' || i === 0).join('/') || '/';
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A host name (RFC 1123), lower-cased and converted to punycode (IDNA), so that
 * one domain has one spelling in the store and in the router.
 */
export function domain(value: string): string {
  const trimmed = value.endsWith('.') ? value.slice(0, -1) : value;
  if (trimmed.length === 0) invalid('domain', value, 'it is empty');
  // Checked before IDNA: the URL standard's domainToASCII silently drops tabs and newlines.
  if (/[\x00-\x20\x7f]/.test(trimmed))
    invalid('domain', value, 'spaces and control characters are not allowed');
  // domainToASCII lower-cases and applies IDNA; it returns '' for what it rejects.
  const ascii = /^[\x21-\x7e]+$/.test(trimmed) ? trimmed.toLowerCase() : domainToASCII(trimmed);
  if (ascii === '') invalid('domain', value, 'not a valid internationalized domain name');
  if (ascii.length > 253) invalid('domain', value, 'at most 253 characters');
  const labels = ascii.split('.');
  for (const label of labels) {
    if (!LABEL.test(label)) {
      invalid(
        'domain',
        value,
        'each dot-separated part: letters, digits and inner dashes, 1-63 long',
      );
    }
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) {
    invalid('domain', value, 'an IP address is not a domain');
  }
  return ascii;
}

/**
 * Whether a (canonical) domain names this machine wherever it is used:
 * localhost and *.localhost (RFC 6761 6.3). No CA certifies such a name, and
 * a link at it works only on the machine itself.
 */
export const localOnlyDomain = (canonical: string): boolean =>
  canonical === 'localhost' || canonical.endsWith('.localhost');

/** A TCP port number, 1-65535 (0 only where `allowZero`, meaning "any free port"). */
export function port(value: string, { allowZero = false } = {}): number {
  if (!/^[0-9]{1,5}$/.test(value)) invalid('port', value, 'not a port number (1-65535)');
  const n = Number(value);
  if (n > 65535 || (n === 0 && !allowZero)) invalid('port', value, 'not a port number (1-65535)');
  return n;
}

/**
 * An address to listen on: an IPv4 or IPv6 literal (brackets around IPv6
 * are dropped, as in a URL), never a host name, which would be resolved at
 * every start and could listen somewhere else than meant.
 */
export function listenAddress(value: string): string {
  const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  if (isIP(bare) === 0) {
    invalid('listen address', value, 'use an IPv4 or IPv6 address, such as 0.0.0.0 or ::1');
  }
  return bare;
}

/** A DNS name a scheduler gives an instance: dot-separated labels, the last not all digits (no IPv4 look-alike). */
const isBackendName = (host: string) => {
  const labels = host.split('.');
  return (
    host.length <= 253 &&
    labels.every((l) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l)) &&
    !/^[0-9]+$/.test(labels[labels.length - 1] ?? '')
  );
};

/**
 * Where the router reaches an instance, as a scheduler reports it: `host:port`
 * with an IPv4 address, a bracketed IPv6 address (`[fd00::5]:5000`) or a DNS
 * name (a Swarm task's `tasks.web.api`). Returned unchanged.
 */
export function backendAddress(value: string): string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^[\]:]+)):([0-9]{1,5})$/.exec(value);
  const [, v6, other, p] = m ?? [];
  const host = v6 ?? other ?? '';
  const ok =
    m !== null &&
    (v6 !== undefined ? isIP(v6) === 6 : isIP(host) === 4 || isBackendName(host)) &&
    Number(p) >= 1 &&
    Number(p) <= 65535;
  if (!ok) invalid('backend address', value, 'not a host:port ([IPv6]:port for IPv6)');
  return value;
}

/** A backend address's host (IPv6 without its brackets) and port, for a socket. */
export function splitBackendAddress(value: string): { host: string; port: number } {
  backendAddress(value);
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon);
  return {
    host: host.startsWith('[') ? host.slice(1, -1) : host,
    port: Number(value.slice(colon + 1)),
  };
}

/** What a scheduler is registered as (scheduler:set APP selected NAME): docker-local, ... */
export function schedulerName(value: string): string {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(value)) {
    invalid(
      'scheduler name',
      value,
      'lower-case letters, digits and dashes, starting with a letter',
    );
  }
  return value;
}

/**
 * A file's path inside the app's repository (a Dockerfile path): relative,
 * with `/` between parts, no `.` or `..` part, printable ASCII without
 * spaces or quotes, so it is the same path in git, in a tar and on the disk.
 */
export function repoFilePath(value: string): string {
  const bad =
    value.length === 0 ||
    value.length > 255 ||
    !/^[A-Za-z0-9._/+@-]+$/.test(value) ||
    value.startsWith('/') ||
    value.endsWith('/') ||
    value.split('/').some((part) => part === '' || part === '.' || part === '..');
  if (bad) {
    invalid(
      'path',
      value,
      'use a path inside the repository such as docker/Dockerfile.web (letters, digits, . _ - + @ and /)',
    );
  }
  return value;
}

const BUILDPACK = /^[a-z][a-z0-9-]{0,30}$/;

/** A buildpack's name: a folder under buildpacks/ (node, python, static, procfile). */
export function buildpackName(value: string): string {
  if (!BUILDPACK.test(value)) {
    invalid('buildpack', value, 'use the name of one of the buildpacks Berth ships, such as node');
  }
  return value;
}

// Docker's reference grammar, restricted: [registry[:port]/]path[:tag][@digest].
const IMAGE_REF =
  /^(?:[a-zA-Z0-9.-]+(?::[0-9]{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/** A Docker image reference such as nginx:1.25, registry.example.com:5000/team/api:v3 or one @sha256:... */
export function imageRef(value: string): string {
  if (value.length > 255 || !IMAGE_REF.test(value)) {
    invalid('image', value, 'use an image reference such as team/api:1.4 or registry:5000/api:v2');
  }
  return value;
}

const IMAGE_PATTERN = /^[A-Za-z0-9._\-/:@*]{1,255}$/;

/**
 * A pattern of image references (BERTH_ALLOWED_BASE_IMAGES), matched against
 * the full reference: docker.io/library/*, ghcr.io/team/*.
 */
export function imagePattern(value: string): string {
  if (!IMAGE_PATTERN.test(value)) {
    invalid(
      'image pattern',
      value,
      'use a full image reference with * for any run of characters, such as docker.io/library/*',
    );
  }
  return value;
}

const PROCESS_TYPE = /^[a-z][a-z0-9_-]{0,62}$/;

/**
 * A process type (Procfile, ps:scale): lower-case letters, digits, `_` and
 * `-`, starting with a letter, at most 63, since it becomes part of container
 * names, network aliases and labels.
 */
export function processType(value: string): string {
  if (!PROCESS_TYPE.test(value)) {
    invalid(
      'process type',
      value,
      'use lower-case letters, digits, "_" and "-", starting with a letter, at most 63',
    );
  }
  return value;
}

const ACME_TOKEN = /^[A-Za-z0-9_-]{16,256}$/;

/** An ACME challenge token (base64url, RFC 8555 §8.3), as it appears in /.well-known/acme-challenge/. */
export function acmeToken(value: string): string {
  if (!ACME_TOKEN.test(value)) invalid('ACME token', value, 'base64url, 16 to 256 characters');
  return value;
}

const STORAGE_NAME = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/;

/** A storage volume's name within its app (storage:mount APP NAME:/path). */
export function storageName(value: string): string {
  if (!STORAGE_NAME.test(value)) {
    invalid(
      'storage name',
      value,
      'use 2 to 32 lower-case letters, digits and "-", starting with a letter, such as uploads',
    );
  }
  return value;
}

const NETWORK_NAME = /^[a-z][a-z0-9-]{0,28}[a-z0-9]$/;

/** A shared network's name (network:create NAME), as an app's name is written. */
export function networkName(value: string): string {
  if (!NETWORK_NAME.test(value)) {
    invalid(
      'network name',
      value,
      'use 2 to 30 lower-case letters, digits and "-", starting with a letter, such as shared-db',
    );
  }
  return value;
}

/** The smallest part of BERTH_APP_NETWORKS: one app network's range (61 addresses for instances). */
export const APP_SUBNET_BITS = 26;

/**
 * BERTH_APP_NETWORKS: the private IPv4 range app networks take their /26s
 * from, written with its first address (10.210.0.0/16); returned as written.
 */
export function addressPool(value: string): string {
  const p = parseIpv4Range(value);
  if (p === undefined) invalid('address range', value, 'use an IPv4 range such as 10.210.0.0/16');
  const range = rangeOf(p.address, p.bits);
  if (p.bits < 8 || p.bits > APP_SUBNET_BITS) {
    invalid(
      'address range',
      value,
      `use /8 to /${APP_SUBNET_BITS}: each app takes a /${APP_SUBNET_BITS}`,
    );
  }
  if (range.first !== p.address) {
    invalid(
      'address range',
      value,
      `a /${p.bits} starts at its first address: ${formatRange(range)}`,
    );
  }
  if (!PRIVATE_RANGES.some((r) => contains(r, range))) {
    invalid(
      'address range',
      value,
      'use a private range (inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16): apps could not reach the internet hosts of a public one',
    );
  }
  return value;
}

/** Where a volume is mounted in the app's containers: absolute, normalized, not a system directory. */
export function containerPath(value: string): string {
  const parts = value.split('/').slice(1);
  const bad =
    !value.startsWith('/') ||
    value.length > 255 ||
    !/^[A-Za-z0-9._/+@-]+$/.test(value) ||
    parts.some((part) => part === '' || part === '.' || part === '..');
  if (bad) {
    invalid(
      'container path',
      value,
      'use an absolute path such as /app/uploads (letters, digits, . _ - + @ and /)',
    );
  }
  const top = parts[0] ?? '';
  if (
    parts.length === 1 &&
    ['bin', 'dev', 'etc', 'lib', 'lib64', 'proc', 'sbin', 'sys', 'usr', 'app'].includes(top)
  ) {
    invalid(
      'container path',
      value,
      'mount below a directory, not over a system one or /app itself (such as /app/uploads or /data)',
    );
  }
  if (['proc', 'sys', 'dev'].includes(top)) {
    invalid(
      'container path',
      value,
      'the kernel owns /proc, /sys and /dev; use a path such as /data',
    );
  }
  return value;
}

const MEMORY = /^([1-9][0-9]{0,6})(k|m|g)$/;
const MEMORY_UNIT = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as const;

/** A memory limit such as 512m or 2g, in bytes (at least 6m, the Engine's floor). */
export function memorySize(value: string): number {
  const m = MEMORY.exec(value.toLowerCase());
  const bytes = m ? Number(m[1]) * MEMORY_UNIT[m[2] as keyof typeof MEMORY_UNIT] : 0;
  if (!m || bytes < 6 * 1024 ** 2 || bytes > 1024 ** 4) {
    invalid('memory size', value, 'use a number with k, m or g between 6m and 1024g, such as 512m');
  }
  return bytes;
}

/** A limit on an instance's processes and threads: 16 to 1,000,000. */
export function pidsLimit(value: string): number {
  const n = /^[0-9]{1,7}$/.test(value) ? Number(value) : 0;
  if (n < 16 || n > 1_000_000) {
    invalid('process limit', value, 'use a number of processes from 16 to 1000000');
  }
  return n;
}

/** The most a quota may be set to, by quota (apps, instances, build minutes: 100,000; process types: 1,000). */
export const QUOTA_MAX = 100_000;

/** A quota's cap: a count from 0 to `max`, or `unlimited` (null). */
export function quotaCap(value: string, max: number = QUOTA_MAX): number | null {
  if (value === 'unlimited') return null;
  const n = /^(0|[1-9][0-9]{0,6})$/.test(value) ? Number(value) : -1;
  if (n < 0 || n > max) invalid('quota', value, `use a number from 0 to ${max}, or unlimited`);
  return n;
}

/** A CPU limit such as 1, 0.5 or 2.5 (in CPUs, at most two decimals). */
export function cpuCount(value: string): number {
  const n = Number(value);
  if (!/^[0-9]{1,3}(?:\.[0-9]{1,2})?$/.test(value) || !(n >= 0.01) || n > 256) {
    invalid('CPU count', value, 'use a number of CPUs from 0.01 to 256, such as 0.5 or 2');
  }
  return n;
}

/** A switch as commands take it: on or off (also true/false, as Dokku's nginx:set spells them). */
export function onOff(value: string): boolean {
  const v = value.toLowerCase();
  if (v === 'on' || v === 'true') return true;
  if (v === 'off' || v === 'false') return false;
  return invalid('switch', value, 'use on or off');
}

/** An HSTS max-age in seconds: 0 (browsers forget the policy) to about two years. */
export function hstsMaxAge(value: string): number {
  const n = Number(value);
  if (!/^(0|[1-9][0-9]{0,8})$/.test(value) || n > 63_072_000) {
    invalid('HSTS max-age', value, 'use a number of seconds from 0 to 63072000, such as 31536000');
  }
  return n;
}

/** An API token's name (auth:token --name): a label for people, shown in auth:tokens. */
export function tokenName(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value)) {
    invalid('token name', value, 'use 1 to 64 letters, digits, . _ or -, such as ci-deploy');
  }
  return value;
}

const DURATION = /^([1-9][0-9]{0,5})(m|h|d)$/;
const DURATION_UNIT = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A lifetime such as 90m, 12h or 30d, in milliseconds, between `min` and
 * `max` (auth:token --expires; one spelling for every duration a user types).
 */
export function duration(
  value: string,
  { min = 60_000, max = 365 * 86_400_000 }: { min?: number; max?: number } = {},
): number {
  const m = DURATION.exec(value.toLowerCase());
  const ms = m ? Number(m[1]) * DURATION_UNIT[m[2] as keyof typeof DURATION_UNIT] : 0;
  if (!m || ms < min || ms > max) {
    invalid(
      'duration',
      value,
      `use a number with m (minutes), h (hours) or d (days) from ${formatDuration(min)} to ${formatDuration(max)}, such as 30d`,
    );
  }
  return ms;
}

/** The shortest spelling duration() reads back as the same milliseconds (2592000000 → "30d"). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', DURATION_UNIT.d],
    ['h', DURATION_UNIT.h],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / DURATION_UNIT.m)}m`;
}

const BODY_SIZE = /^(0|[1-9][0-9]{0,12})([kmg]?)$/;
const SIZE_UNIT = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as const;
/** 1 TiB: past any upload an app should take through the router, well inside a safe integer. */
const MAX_BODY_SIZE = 1024 ** 4;

/**
 * A request body limit as nginx's client_max_body_size spells it (Dokku's
 * equivalent): bytes, or a number with k, m or g (1024-based, any case);
 * 0 means no limit. Returns bytes.
 */
export function bodySize(value: string): number {
  const m = BODY_SIZE.exec(value.toLowerCase());
  const bytes = m ? Number(m[1]) * SIZE_UNIT[m[2] as keyof typeof SIZE_UNIT] : -1;
  if (!m || bytes > MAX_BODY_SIZE) {
    invalid(
      'body size',
      value,
      'use bytes or a number with k, m or g up to 1024g, such as 10m; 0 for no limit',
    );
  }
  return bytes;
}

/**
 * A size quota's cap (push-size, disk): bytes, or a number with k, m or g
 * (1024-based) up to 1024g; `unlimited` is null. 0 is a cap of nothing.
 */
export function quotaSize(value: string): number | null {
  if (value === 'unlimited') return null;
  const m = BODY_SIZE.exec(value.toLowerCase());
  const bytes = m ? Number(m[1]) * SIZE_UNIT[m[2] as keyof typeof SIZE_UNIT] : -1;
  if (!m || bytes > MAX_BODY_SIZE) {
    invalid(
      'quota',
      value,
      'use a size in bytes or with k, m or g up to 1024g, such as 512m, or unlimited',
    );
  }
  return bytes;
}

/**
 * A size for people to read in one line, spelled as the settings are: the
 * exact spelling when there is one (2g), else one decimal of the largest unit
 * rounded up (1.1m for 1,050,000 bytes), so what is over a cap never reads as
 * equal to it.
 */
export function describeSize(bytes: number): string {
  for (const [unit, size] of [
    ['g', SIZE_UNIT.g],
    ['m', SIZE_UNIT.m],
    ['k', SIZE_UNIT.k],
  ] as const) {
    if (bytes < size) continue;
    if (bytes % size === 0) return `${bytes / size}${unit}`;
    const tenths = Math.ceil((bytes * 10) / size);
    return tenths % 10 === 0 ? `${tenths / 10}${unit}` : `${(tenths / 10).toFixed(1)}${unit}`;
  }
  return `${bytes} bytes`;
}

/** The shortest spelling bodySize reads back as the same bytes (10485760 → "10m"). */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['g', SIZE_UNIT.g],
    ['m', SIZE_UNIT.m],
    ['k', SIZE_UNIT.k],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

/** The longest webhook URL: Slack's and Discord's are under 200 characters. */
export const WEBHOOK_URL_MAX = 2000;

/**
 * A webhook's URL (notifications:add): http or https, a host, no user name
 * or password (they would be shown in every listing), no fragment, one line
 * of printable ASCII at most WEBHOOK_URL_MAX long; returned as the URL
 * standard serializes it. Where it may point is decided at each delivery
 * (services/platform/notify/target.ts), since a name can resolve anywhere.
 */
export function webhookUrl(value: string): string {
  if (value.length === 0) invalid('webhook URL', value, 'it is empty');
  if (value.length > WEBHOOK_URL_MAX)
    invalid('webhook URL', value, `at most ${WEBHOOK_URL_MAX} characters`);
  // Checked before parsing: the URL parser silently drops tabs and newlines.
  if (!/^[\x21-\x7e]+$/.test(value))
    invalid('webhook URL', value, 'spaces, control and non-ASCII characters are not allowed');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return invalid('webhook URL', value, 'not a URL such as https://example.com/hook');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    invalid('webhook URL', value, 'use http:// or https://');
  if (url.username !== '' || url.password !== '')
    invalid('webhook URL', value, 'no user name or password in it; put a token in the path');
  if (url.hostname === '') invalid('webhook URL', value, 'it names no host');
  if (url.hash !== '') invalid('webhook URL', value, 'no #fragment');
  if (url.href.length > WEBHOOK_URL_MAX)
    invalid('webhook URL', value, `at most ${WEBHOOK_URL_MAX} characters`);
  return url.href;
}
