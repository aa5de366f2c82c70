// The security boundary for input: every name, domain, key and port that a
// user or an operator hands to Berth passes one of these functions before it
// reaches the disk, a process, Redis or the Docker API. Each returns the value
// in its canonical form or throws BERTH_E_INVALID_NAME with a one-line reason.
import { BlockList, isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { BerthError } from './errors.ts';
import { contains, formatRange, PRIVATE_RANGES, parseIpv4Range, rangeOf } from './ipv4-range.ts';

function invalid(kind: string, value: string, reason: string): never {
  // Show hostile input without letting it break the line or the terminal.
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value).slice(1, -1);
  throw new BerthError('BERTH_E_INVALID_NAME', { kind, value: shown, reason });
}

// A DNS label, because every app is served at <app>.<BERTH_DOMAIN> and is
// reachable by that name on its networks: at most 63 characters, and a
// leading digit allowed, as Dokku allows (issue 20; RFC 1123 labels may start
// with one). Dokku's dots are not: a dot would make <app>.<BERTH_DOMAIN> two
// labels. A name a resolver reads as an IPv4 address (inet_aton takes "1234"
// and "0x1f") would not reach the app by name, so it is refused.
const APP_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const APP_NAME_MAX = 63;

/** An app name: lower-case letters, digits and dashes, not ending with a dash, at most 63. */
export function appName(value: string): string {
  if (value.length === 0) invalid('app name', value, 'it is empty');
  if (value.length > APP_NAME_MAX)
    invalid('app name', value, `at most ${APP_NAME_MAX} characters (one DNS label)`);
  if (!APP_NAME.test(value)) {
    invalid(
      'app name',
      value,
      'use lower-case letters, digits and dashes, starting with a letter or digit and not ending with a dash',
    );
  }
  if (/^(?:[0-9]+|0x[0-9a-f]*)$/.test(value))
    invalid('app name', value, 'a resolver would read it as an IP address; add a letter');
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
  if (labels.includes('*'))
    invalid(
      'domain',
      value,
      "a wildcard (*.example.com) is taken only as an app's custom domain (domains:add APP *.example.com), not here",
    );
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
 * An app's custom domain: a host name (domain), or a wildcard `*.BASE` that
 * stands for every host one label under BASE (as a TLS wildcard matches:
 * `a.BASE`, not `a.b.BASE` nor BASE). BASE has at least two labels, so no
 * wildcard covers a whole top-level domain (`*.com`); only the leading label
 * may be `*` (`*.*.x`, `a*.x`, `*` are refused). Canonical as domain().
 */
export function domainOrWildcard(value: string): string {
  if (!value.startsWith('*.')) return domain(value);
  const base = value.slice(2);
  if (base.includes('*'))
    invalid(
      'domain',
      value,
      'a wildcard is one leading "*." before a domain, such as *.example.com',
    );
  const canonical = domain(base);
  if (!canonical.includes('.'))
    invalid(
      'domain',
      value,
      'a wildcard covers names under a domain of two labels or more, such as *.example.com, never a whole top-level domain',
    );
  return `*.${canonical}`;
}

/** The wildcard a host would match (`a.example.com` -> `*.example.com`), or undefined for a host of one or two labels. */
export function wildcardOf(host: string): string | undefined {
  const dot = host.indexOf('.');
  if (dot <= 0) return undefined;
  const base = host.slice(dot + 1);
  return base.includes('.') ? `*.${base}` : undefined;
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

/** A number of whole seconds, 0 to `max` (checks:set APP wait-to-retire 30). */
export function seconds(value: string, kind: string, max: number): number {
  if (!/^[0-9]{1,6}$/.test(value) || Number(value) > max) {
    invalid(kind, value, `whole seconds from 0 to ${max}`);
  }
  return Number(value);
}

/** A port mapping of ports:* (Dokku's `scheme:host-port:container-port`). */
export interface PortMapping {
  scheme: 'http' | 'https';
  hostPort: number;
  containerPort: number;
}

/**
 * Dokku's `scheme:host-port:container-port` (`http:80:5000`,
 * `https:443:5000`) as Berth's router can serve it: http or https (the
 * router speaks HTTP only: no grpc, tcp or udp), and a host port that is
 * one of the router's listeners for that scheme (`hostPorts`: 80 and
 * BERTH_HTTP_PORT for http, 443 and BERTH_HTTPS_PORT for https). The
 * router listens on fixed ports, shared by every app; it opens no port per
 * app as Dokku's nginx does (docs/dokku-differences.md).
 */
export function portMapping(
  value: string,
  hostPorts: { http: readonly number[]; https: readonly number[] },
): PortMapping {
  const m = /^([a-z0-9]{1,10}):([0-9]{1,5}):([0-9]{1,5})$/.exec(value);
  if (!m)
    invalid('port mapping', value, 'use scheme:host-port:container-port, such as http:80:5000');
  const [, scheme = '', host = '', container = ''] = m;
  if (scheme !== 'http' && scheme !== 'https') {
    invalid(
      'port mapping',
      value,
      `Berth's router serves http and https only (no ${scheme}); see docs/dokku-differences.md`,
    );
  }
  const hostPort = port(host);
  const containerPort = port(container);
  const allowed = hostPorts[scheme];
  if (!allowed.includes(hostPort)) {
    invalid(
      'port mapping',
      value,
      `Berth's router takes ${scheme} on port ${allowed.join(' or ')} only, shared by every app (use ${scheme}:${allowed[0]}:${containerPort}); see docs/dokku-differences.md`,
    );
  }
  return { scheme, hostPort, containerPort };
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

/**
 * BERTH_BUILDPACK_URLS's word for "any https URL whose host has a public
 * address": the default, as Heroku and Dokku fetch buildpacks from GitHub.
 */
export const PUBLIC_HTTPS = 'public-https';

/** A third-party buildpack: a git repository and the branch or tag to use. */
export interface BuildpackUrl {
  /** The repository's URL, without the #ref. */
  readonly url: string;
  /** The branch or tag after '#' (Heroku's `#v1`); undefined: the default branch. */
  readonly ref: string | undefined;
  /** It starts with one of the operator's BERTH_BUILDPACK_URLS prefixes: trusted as it is. */
  readonly operatorAllowed: boolean;
  /** The host git connects to (https only; '' for file: URLs). */
  readonly host: string;
  readonly port: number;
}

/**
 * Addresses a tenant's URL must not reach through the server: the server
 * itself, the private networks it may sit on (RFC 1918, RFC 4193, CGNAT),
 * link-local (cloud metadata services at 169.254.169.254), and the
 * non-unicast ranges.
 */
const INTERNAL_V4 = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  INTERNAL_V4.addSubnet(net, bits, 'ipv4');
}
// Apart: a BlockList matches IPv4 addresses against IPv4-mapped IPv6 rules too.
const INTERNAL_V6 = new BlockList();
for (const [net, bits] of [
  ['::', 127],
  // IPv4-mapped (::ffff:127.0.0.1) and NAT64 addresses stand for IPv4 ones: none is let in.
  ['::ffff:0:0', 96],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  INTERNAL_V6.addSubnet(net, bits, 'ipv6');
}

/** Whether `ip` is an address on the internet, not one of this server's or its networks'. */
export function isPublicAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  return family === 6 ? !INTERNAL_V6.check(ip, 'ipv6') : !INTERNAL_V4.check(ip, 'ipv4');
}

const BUILDPACK_URL_CHARS = /^[A-Za-z0-9._~:/?#@!$&()*+;=%[\]-]+$/;

/**
 * A BERTH_BUILDPACK_URLS prefix: an https, http or file URL ending in "/",
 * without credentials, so that "https://git.example.com/" cannot be matched
 * by https://git.example.com.evil.net/.
 */
export function buildpackUrlPrefix(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    invalid('buildpack URL prefix', value, 'use a URL such as https://git.example.com/buildpacks/');
  }
  if (!['https:', 'http:', 'file:'].includes(u.protocol)) {
    invalid('buildpack URL prefix', value, 'use an https://, http:// or file:/// URL');
  }
  if (u.username || u.password || u.search || u.hash || !value.endsWith('/')) {
    invalid('buildpack URL prefix', value, 'end it with "/", without a user, password, ? or #');
  }
  return u.href;
}

/**
 * A third-party buildpack's URL as .buildpacks and buildpacks:add take it
 * (`https://github.com/owner/buildpack.git#v1`), under the operator's
 * `allowed` (BERTH_BUILDPACK_URLS): PUBLIC_HTTPS lets in https URLs of hosts
 * that are not addresses of the server or its networks (a host name's
 * addresses are checked again when the buildpack is fetched, and git is
 * pinned to them: ./../platform/build/buildpack-fetch.ts), and each prefix
 * lets in the URLs that start with it, any address, http and file included.
 * Nothing else: no ssh or git protocol, no local path, no credentials, so a
 * URL never reads the server's files nor reaches a service on its network
 * unless the operator said so.
 */
export function buildpackUrl(value: string, allowed: readonly string[]): BuildpackUrl {
  const kind = 'buildpack URL';
  if (value.length > 400 || !BUILDPACK_URL_CHARS.test(value)) {
    invalid(kind, value, 'use a git URL such as https://github.com/owner/buildpack.git#v1');
  }
  const hash = value.indexOf('#');
  const repo = hash === -1 ? value : value.slice(0, hash);
  const refText = hash === -1 ? undefined : value.slice(hash + 1);
  let ref: string | undefined;
  if (refText !== undefined) {
    try {
      ref = branchName(refText);
    } catch {
      invalid(kind, value, 'after "#" comes a branch or tag name, such as v1 or main');
    }
  }
  let u: URL;
  try {
    u = new URL(repo);
  } catch {
    invalid(kind, value, 'use a git URL such as https://github.com/owner/buildpack.git#v1');
  }
  if (u.username || u.password) invalid(kind, value, 'a buildpack URL holds no user or password');
  if (u.search) invalid(kind, value, 'a buildpack URL has no "?" part');
  const url = u.href;
  const operatorAllowed = allowed.some((p) => p !== PUBLIC_HTTPS && url.startsWith(p));
  const port = u.port === '' ? (u.protocol === 'http:' ? 80 : 443) : Number(u.port);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (operatorAllowed) {
    if (!['https:', 'http:', 'file:'].includes(u.protocol)) {
      invalid(kind, value, 'use an https://, http:// or file:/// URL');
    }
    return { url, ref, operatorAllowed, host: u.protocol === 'file:' ? '' : host, port };
  }
  const prefixes = allowed.filter((p) => p !== PUBLIC_HTTPS);
  const also = prefixes.length > 0 ? ` or a URL starting with ${prefixes.join(', ')}` : '';
  if (!allowed.includes(PUBLIC_HTTPS)) {
    invalid(
      kind,
      value,
      prefixes.length > 0
        ? `this server fetches buildpacks only from URLs starting with ${prefixes.join(', ')} (BERTH_BUILDPACK_URLS)`
        : 'this server fetches no buildpack (BERTH_BUILDPACK_URLS is none); use one Berth ships',
    );
  }
  if (u.protocol !== 'https:') {
    invalid(kind, value, `use an https:// URL${also} (BERTH_BUILDPACK_URLS)`);
  }
  if (isIP(host) !== 0 && !isPublicAddress(host)) {
    invalid(
      kind,
      value,
      `${host} is an address of this server or its networks; use a public host${also} (BERTH_BUILDPACK_URLS)`,
    );
  }
  return { url, ref, operatorAllowed, host, port };
}

/** The canonical `url#ref` form of a buildpack URL, as it is stored and shown. */
export const buildpackUrlText = (b: BuildpackUrl): string =>
  b.ref === undefined ? b.url : `${b.url}#${b.ref}`;

/** Whether a .buildpacks line or buildpacks:add argument is meant as a URL (not a name). */
export const looksLikeUrl = (value: string): boolean => /^[A-Za-z][A-Za-z0-9+.-]*:/.test(value);

/**
 * A pinned buildpack as the store keeps it: a buildpack's name, or a URL in
 * the canonical form buildpackUrl accepted once (the operator's rule is
 * applied again when the buildpack is fetched).
 */
export function buildpack(value: string): string {
  if (!looksLikeUrl(value)) return buildpackName(value);
  const b = buildpackUrl(value, ['https://', 'http://', 'file:///']);
  if (buildpackUrlText(b) !== value) invalid('buildpack', value, 'not in its canonical form');
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

const DATASTORE_NAME = /^[a-z][a-z0-9-]{0,28}[a-z0-9]$/;

/**
 * A datastore's name (postgres:create NAME), written as an app's name: it is
 * part of the container's name and of the host name linked apps reach it by.
 */
export function datastoreName(value: string): string {
  if (!DATASTORE_NAME.test(value)) {
    invalid(
      'service name',
      value,
      'use 2 to 30 lower-case letters, digits and "-", starting with a letter, such as shop-db',
    );
  }
  return value;
}

/**
 * A password given to a datastore (--password): letters, digits and
 * "-._~", the characters a URL carries unescaped, so that the linked
 * DATABASE_URL is the password as given; 16 to 128 of them.
 */
export function datastorePassword(value: string): string {
  if (!/^[A-Za-z0-9._~-]{16,128}$/.test(value)) {
    // The value is a secret: the message never repeats it.
    throw new BerthError('BERTH_E_INVALID_NAME', {
      kind: 'password',
      value: '(not shown)',
      reason:
        'use 16 to 128 letters, digits and "-._~", or leave --password out and Berth makes one',
    });
  }
  return value;
}

/** Where expose publishes a datastore's port on the host. */
export interface Exposure {
  /** An IP literal, IPv6 without brackets. */
  address: string;
  port: number;
}

/**
 * expose's `[ADDRESS:]PORT`: a host port (1024-65535: ports below are the
 * host's own services'), on ADDRESS (an IPv4 literal, or IPv6 in brackets:
 * `[::1]:6379`), 127.0.0.1 when none is given. Never a host name, which
 * would be resolved by Docker at each start.
 */
export function exposure(value: string): Exposure {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[0-9.]+):)?([0-9]{1,5})$/.exec(value);
  if (!m) {
    invalid('address', value, 'use PORT or ADDRESS:PORT, such as 16379 or 127.0.0.1:16379');
  }
  const [, address, portText] = m as RegExpExecArray;
  const n = port(portText ?? '');
  if (n < 1024) invalid('port', value, 'use a port from 1024 to 65535');
  return { address: address === undefined ? '127.0.0.1' : listenAddress(address), port: n };
}

/** Whether an address is the host's loopback (127.0.0.0/8, ::1): reachable from the host alone. */
export function isLoopback(address: string): boolean {
  if (isIP(address) === 4) return address.split('.')[0] === '127';
  return isIP(address) === 6 && /^(0{0,4}:){2,7}0{0,3}1$|^::1$/.test(address);
}

/**
 * The alias of a link (link APP --alias NAME): the config var is
 * `<ALIAS>_URL`, so an env key's characters, upper-case, without `_URL`.
 */
export function linkAlias(value: string): string {
  if (!/^[A-Z][A-Z0-9_]{0,39}$/.test(value) || value.startsWith('BERTH_')) {
    invalid(
      'alias',
      value,
      'use 1 to 40 upper-case letters, digits and "_", starting with a letter (not BERTH_), such as DATABASE',
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

// Docker's units (k, m, g), also spelled kb/mb/gb or kib/mib/gib as people
// write them (`--memory 512MB`); a bare number is megabytes, as Dokku's
// docker-local scheduler reads `resource:limit --memory 100`. Binary units
// throughout, as the Engine counts them.
const MEMORY = /^([1-9][0-9]{0,6})(?:(k|m|g)(?:i?b)?)?$/;
const MEMORY_UNIT = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as const;

/** A memory limit such as 512m, 512MB or 2g (a bare number: MB), in bytes (at least 6m, the Engine's floor). */
export function memorySize(value: string): number {
  const m = MEMORY.exec(value.toLowerCase());
  const bytes = m ? Number(m[1]) * MEMORY_UNIT[(m[2] ?? 'm') as keyof typeof MEMORY_UNIT] : 0;
  if (!m || bytes < 6 * 1024 ** 2 || bytes > 1024 ** 4) {
    invalid(
      'memory size',
      value,
      'use a number with k, m or g (or KB, MB, GB) between 6m and 1024g, such as 512m or 512MB; a bare number is MB',
    );
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

// Cron schedules, as Dokku's app.json `cron` takes them (standard cron: five
// fields, or a macro), checked here so that a bad one fails the deploy with
// one line instead of a job that never runs. Seconds (a sixth, leading field)
// only where the operator allows them (BERTH_CRON_SECONDS, for tests).
const CRON_MACROS = new Set([
  '@yearly',
  '@annually',
  '@monthly',
  '@weekly',
  '@daily',
  '@midnight',
  '@hourly',
]);
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const CRON_FIELDS: readonly { name: string; min: number; max: number; names?: string[] }[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  // 7 is Sunday too, as in Vixie cron.
  { name: 'day of week', min: 0, max: 7, names: DAYS },
];

/** A cron schedule (`*／5 * * * *`, `@daily`), trimmed, with single spaces. */
export function cronSchedule(value: string, { seconds = false } = {}): string {
  const bad = (reason: string): never => invalid('cron schedule', value, reason);
  const text = value.trim().replace(/\s+/g, ' ');
  if (text.length === 0) bad('it is empty');
  if (text.length > 200) bad('at most 200 characters');
  if (text.startsWith('@')) {
    if (!CRON_MACROS.has(text.toLowerCase())) {
      bad(`use five fields or one of ${[...CRON_MACROS].join(' ')}`);
    }
    return text.toLowerCase();
  }
  const parts = text.split(' ');
  const fields =
    seconds && parts.length === 6
      ? [{ name: 'second', min: 0, max: 59 }, ...CRON_FIELDS]
      : CRON_FIELDS;
  if (parts.length !== fields.length) {
    bad(
      parts.length === 6
        ? 'seconds are not supported: use five fields (minute hour day-of-month month day-of-week)'
        : `it has ${parts.length} fields; use five (minute hour day-of-month month day-of-week)`,
    );
  }
  parts.forEach((part, i) => {
    const f = fields[i] as (typeof fields)[number] & { names?: string[] };
    const number = (s: string): number => {
      const named = f.names?.indexOf(s.toLowerCase()) ?? -1;
      if (named >= 0) return named + (f.name === 'month' ? 1 : 0);
      if (!/^\d{1,2}$/.test(s)) bad(`${f.name} "${s}" is not a number`);
      const n = Number(s);
      if (n < f.min || n > f.max) bad(`${f.name} ${n} is outside ${f.min}-${f.max}`);
      return n;
    };
    for (const item of part.split(',')) {
      const [range = '', step, extra] = item.split('/');
      if (extra !== undefined) bad(`${f.name} "${item}" has two steps`);
      if (step !== undefined && (!/^\d{1,2}$/.test(step) || Number(step) === 0)) {
        bad(`${f.name} step "${step}" is not a positive number`);
      }
      if (range === '*' || (range === '?' && f.name.startsWith('day of'))) continue;
      const [from = '', to, more] = range.split('-');
      if (more !== undefined) bad(`${f.name} "${range}" is not a range`);
      const a = number(from);
      if (to !== undefined && number(to) < a) bad(`${f.name} range "${range}" runs backwards`);
    }
  });
  return text;
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

/**
 * An S3 bucket's name (postgres:backup NAME BUCKET), by S3's rules for new
 * buckets: 3 to 63 lower-case letters, digits, "." and "-", starting and
 * ending with a letter or digit, no "..", not an IPv4 address. It is a
 * path segment of every request, so nothing else may pass.
 */
export function s3Bucket(value: string): string {
  if (
    !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value) ||
    value.includes('..') ||
    /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/.test(value)
  ) {
    invalid(
      'bucket name',
      value,
      'use 3 to 63 lower-case letters, digits, "." and "-", starting and ending with a letter or digit, such as shop-backups',
    );
  }
  return value;
}

/** A swarm node's hostname or id (nodes:*), as Docker spells them. */
export function swarmNodeName(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/.test(value)) {
    invalid('node', value, "a node's hostname or id, as nodes:list shows them");
  }
  return value;
}

/**
 * A backup passphrase (backup-set-encryption): 12 to 1024 characters, none
 * of them control characters. Never repeated in a message.
 */
export function backupPassphrase(value: string): string {
  if ([...value].length < 12 || value.length > 1024 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new BerthError('BERTH_E_INVALID_NAME', {
      kind: 'passphrase',
      value: '(not shown)',
      reason: 'use 12 to 1024 characters, no control characters (a few words make a good one)',
    });
  }
  return value;
}

/**
 * Where nodes:add --ssh joins a host: USER@HOST or USER@HOST:PORT, the host
 * an IPv4 address, a bracketed IPv6 address or a DNS name, the user a POSIX
 * login name. Neither can start with a dash, so OpenSSH never reads them as
 * options.
 */
export function sshTarget(value: string): { user: string; host: string; port: number } {
  const m =
    /^([a-z_][a-z0-9_.-]{0,31})@(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]{1,253}))(?::([0-9]{1,5}))?$/.exec(
      value,
    );
  const [, user = '', v6, name, p] = m ?? [];
  const host = v6 ?? name ?? '';
  const hostOk =
    v6 !== undefined
      ? isIP(v6) === 6
      : isIP(host) === 4 || (/^[A-Za-z0-9]/.test(host) && passesDomain(host));
  const portNumber = p === undefined ? 22 : Number(p);
  if (!m || !hostOk || portNumber < 1 || portNumber > 65535) {
    invalid('SSH target', value, 'use USER@HOST or USER@HOST:PORT, such as root@node2.example.com');
  }
  return { user, host, port: portNumber };
}

const passesDomain = (host: string) => {
  try {
    domain(host);
    return true;
  } catch {
    return false;
  }
};

/** A swarm join token, as `docker swarm join-token` shows it (nodes:add). */
export function swarmJoinToken(value: string): string {
  if (!/^SWMTKN-1-[0-9a-z]{20,100}-[0-9a-z]{20,100}$/.test(value)) {
    invalid('swarm join token', value, 'not a token of `docker swarm join-token`');
  }
  return value;
}

/** A node label's key (nodes:label; placement constraints read node.labels.KEY). */
export function nodeLabelKey(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(value)) {
    invalid('label key', value, 'letters, digits, dots, dashes and underscores');
  }
  return value;
}

// A placement expression's value: what a node label's value or a hostname
// usually is, and no comma, since a list of them is given comma-separated.
const PLACEMENT_VALUE = '[A-Za-z0-9][A-Za-z0-9._-]{0,127}';
const LABEL_ATTRIBUTE = '(?:node|engine)\\.labels\\.[A-Za-z0-9][A-Za-z0-9._-]{0,127}';

/**
 * A Swarm placement constraint (scheduler-swarm:set APP
 * placement-constraints), in the grammar of `docker service create
 * --constraint` but only what places by node: `ATTRIBUTE==VALUE` or `!=`,
 * the attribute one of node.id, node.hostname, node.role (manager, worker),
 * node.platform.os, node.platform.arch, node.labels.KEY or
 * engine.labels.KEY. Nothing else reaches the manager.
 */
export function placementConstraint(value: string): string {
  const m = new RegExp(
    `^(node\\.(?:id|hostname|role|platform\\.os|platform\\.arch)|${LABEL_ATTRIBUTE})(==|!=)(${PLACEMENT_VALUE})$`,
  ).exec(value);
  if (!m || (m[1] === 'node.role' && m[3] !== 'manager' && m[3] !== 'worker')) {
    invalid(
      'placement constraint',
      value,
      'use ATTRIBUTE==VALUE or ATTRIBUTE!=VALUE, the attribute node.labels.KEY, engine.labels.KEY, node.hostname, node.id, node.role (manager or worker), node.platform.os or node.platform.arch, such as node.labels.zone==eu',
    );
  }
  return value;
}

/**
 * A Swarm placement preference (scheduler-swarm:set APP
 * placement-preferences): `spread=node.labels.KEY` (or engine.labels.KEY),
 * which spreads the tasks evenly over that label's values, as
 * `docker service create --placement-pref` does.
 */
export function placementPreference(value: string): string {
  if (!new RegExp(`^spread=${LABEL_ATTRIBUTE}$`).test(value)) {
    invalid(
      'placement preference',
      value,
      'use spread=node.labels.KEY or spread=engine.labels.KEY, such as spread=node.labels.zone',
    );
  }
  return value;
}

/**
 * A Docker restart policy as Dokku's `ps:set APP restart-policy` takes it:
 * no, always, unless-stopped, on-failure or on-failure:N (N from 1 to 1000).
 */
export function restartPolicy(value: string): string {
  if (!/^(?:no|always|unless-stopped|on-failure(?::(?:[1-9][0-9]{0,2}|1000))?)$/.test(value)) {
    invalid(
      'restart policy',
      value,
      'use no, always, unless-stopped, on-failure or on-failure:N (N from 1 to 1000)',
    );
  }
  return value;
}

/**
 * A Procfile path relative to the root of the app's source (`ps:set APP
 * procfile-path .dokku/Procfile`): never absolute, no `..`, no hidden
 * escapes; the build reads it from the commit, not from the disk.
 */
export function procfilePath(value: string): string {
  const parts = value.split('/');
  if (
    value.length === 0 ||
    value.length > 255 ||
    !/^[A-Za-z0-9._+@-][A-Za-z0-9._/+@-]*$/.test(value) ||
    parts.some((p) => p === '' || p === '.' || p === '..')
  ) {
    invalid(
      'Procfile path',
      value,
      'use a path relative to the repository root such as Procfile or .dokku/Procfile (no .., not absolute)',
    );
  }
  return value;
}

/** The most an app's container log may keep before Docker rotates it (logs:set max-size). */
export const LOG_MAX_SIZE_CAP = 1024 ** 3;

/**
 * Dokku's `logs:set APP max-size`: a number with k, m or g, from 1m to 1g
 * (each instance keeps up to three such files), or `unlimited` (no rotation).
 */
export function logMaxSize(value: string): string {
  if (value === 'unlimited') return value;
  const m = /^([1-9][0-9]{0,6})(k|m|g)$/.exec(value);
  const bytes = m ? Number(m[1]) * MEMORY_UNIT[m[2] as keyof typeof MEMORY_UNIT] : 0;
  if (!m || bytes < 1024 ** 2 || bytes > LOG_MAX_SIZE_CAP) {
    invalid(
      'log max size',
      value,
      'use a number with k, m or g from 1m to 1g, such as 20m, or unlimited',
    );
  }
  return value;
}

/** An e-mail address (letsencrypt:set APP email): one @, no spaces or controls, 254 at most. */
export function email(value: string): string {
  if (value.length > 254 || !/^[\x21-\x7e]+$/.test(value) || !/^[^@]+@[^@]+\.[^@]+$/.test(value))
    invalid('e-mail address', value, 'use an address such as ops@example.com');
  return value;
}

/**
 * The repository git:sync fetches: an https URL on a host that is not this
 * server or its networks (the names' addresses are checked again when it is
 * fetched), with no user, password, "?" or "#" part, 400 characters at most;
 * or an http(s) URL under a prefix the operator allows for buildpacks
 * (BERTH_BUILDPACK_URLS), as a buildpack URL is checked.
 */
export function gitRepoUrl(
  value: string,
  allowed: readonly string[],
  /** What the URL is, for the error line (git:from-archive's is an archive URL). */
  kind = 'repository URL',
): { url: string; host: string; port: number; operatorAllowed: boolean } {
  if (value.length > 400 || !BUILDPACK_URL_CHARS.test(value) || value.startsWith('-'))
    invalid(kind, value, 'use an https:// git URL such as https://github.com/owner/app.git');
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return invalid(kind, value, 'use an https:// git URL such as https://github.com/owner/app.git');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    invalid(kind, value, 'use an https:// URL');
  if (u.username || u.password)
    invalid(kind, value, 'no user or password in it: a public repository');
  if (u.search || u.hash) invalid(kind, value, 'no "?" or "#" part; the ref is the next argument');
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') invalid(kind, value, 'it names no host');
  const operatorAllowed = allowed.some((p) => p !== PUBLIC_HTTPS && u.href.startsWith(p));
  const port = u.port === '' ? (u.protocol === 'http:' ? 80 : 443) : Number(u.port);
  if (operatorAllowed) {
    if (u.protocol !== 'https:' && u.protocol !== 'http:')
      invalid(kind, value, 'use an https:// URL');
    return { url: u.href, host, port, operatorAllowed };
  }
  if (u.protocol !== 'https:') invalid(kind, value, 'use an https:// URL');
  if (!allowed.includes(PUBLIC_HTTPS))
    invalid(kind, value, 'this server fetches from no public host (BERTH_BUILDPACK_URLS)');
  if (isIP(host) !== 0 && !isPublicAddress(host))
    invalid(kind, value, `${host} is an address of this server or its networks; use a public host`);
  return { url: u.href, host, port, operatorAllowed };
}

/** A git ref git:sync fetches: a branch or tag name (branchName's rules) or a commit's hex id. */
export function gitFetchRef(value: string): string {
  if (/^[0-9a-f]{7,40}$/.test(value)) return value;
  try {
    return branchName(value);
  } catch {
    return invalid('git ref', value, 'use a branch, a tag or a commit id; no leading "-"');
  }
}

const REPO_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const IMAGE_REPO = new RegExp(`^${REPO_COMPONENT}(?:/${REPO_COMPONENT})*$`);

/**
 * A registry server (registry:login, registry:set server, BERTH_SWARM_REGISTRY):
 * HOST or HOST:PORT, the host a domain name or an IPv4 address, as Docker
 * names it in an image reference and in /etc/docker/certs.d/HOST:PORT.
 * No scheme, path or user: Docker speaks HTTPS to it. Dokku's trailing `/`
 * is taken off. Lower-cased.
 */
export function registryServer(value: string): string {
  const v = value.endsWith('/') ? value.slice(0, -1) : value;
  const m = /^([A-Za-z0-9.-]{1,253})(?::([0-9]{1,5}))?$/.exec(v);
  if (!m) {
    invalid(
      'registry server',
      value,
      'use HOST or HOST:PORT, such as ghcr.io or 10.0.0.5:5000 (no https://, no path)',
    );
  }
  const host = /^[0-9.]+$/.test(m[1] as string) ? (m[1] as string) : domain(m[1] as string);
  if (
    /^[0-9.]+$/.test(host) &&
    !/^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/.test(host)
  ) {
    invalid('registry server', value, 'not an IPv4 address');
  }
  if (m[2] !== undefined) port(m[2]);
  return m[2] === undefined ? host : `${host}:${m[2]}`;
}

/**
 * An image repository within a registry (registry:set image-repo): path
 * components of lower-case letters and digits with inner `.`, `_`, `__`
 * or dashes, separated by `/`, at most 200 characters (Docker's grammar);
 * no host and no tag.
 */
export function imageRepo(value: string): string {
  if (value.length > 200 || !IMAGE_REPO.test(value)) {
    invalid(
      'image repository',
      value,
      'lower-case letters and digits, with ., _ or - inside and / between parts, such as team/api',
    );
  }
  return value;
}

/** An image tag (registry:set push-extra-tags): letters, digits, _ . -, not starting with . or -, at most 128. */
export function imageTag(value: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(value)) {
    invalid(
      'image tag',
      value,
      'letters, digits, _, . and -, at most 128, not starting with . or -',
    );
  }
  return value;
}
