// A domain's certificate on disk: one PEM file under the data directory's
// certs/ folder holding the private key and the chain (the domain's
// certificate first), mode 0600, replaced in one rename so a router never
// reads half of a new pair. Redis holds only what the file is (store/certs.ts).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { syncDir, writeFileDurably } from '../../core/durable-file.ts';
import { BerthError } from '../../core/errors.ts';
import type { DataPaths } from '../../core/paths.ts';
import type { CertSource, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';

export interface CertPair {
  /** PEM: the domain's certificate, then the intermediates. */
  chain: string;
  /** PEM private key. */
  key: string;
}

export interface CertInfo {
  issuer: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?\r?\n-----END \1-----/g;

/** The file of a domain's certificate. */
export const certFile = (paths: Pick<DataPaths, 'certs'>, domain: string) =>
  path.join(paths.certs, `${validate.domainOrWildcard(domain)}.pem`);

/** Splits PEM text into the private key and the certificates, in their order. */
export function splitPem(text: string): CertPair {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  const key = blocks.filter((b) => /PRIVATE KEY$/.test(b[1] ?? '')).map((b) => b[0]);
  const certs = blocks.filter((b) => b[1] === 'CERTIFICATE').map((b) => b[0]);
  return { key: key.length === 1 ? `${key[0]}\n` : '', chain: certs.map((c) => `${c}\n`).join('') };
}

/**
 * Checks that the pair serves `domain` now: a parsable chain whose first
 * certificate names the domain (wildcards count), is valid at `now`, and
 * matches the key. Its issuer, serial and validity; BERTH_E_CERT_INVALID otherwise.
 */
export function checkCertPair(domain: string, pair: CertPair, now = new Date()): CertInfo {
  const bad = (reason: string) => new BerthError('BERTH_E_CERT_INVALID', { domain, reason });
  const first = [...pair.chain.matchAll(PEM_BLOCK)][0]?.[0];
  if (first === undefined) throw bad('no PEM certificate was given');
  if (pair.key === '') throw bad('give exactly one PEM private key');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(first);
  } catch (e) {
    throw bad(`the certificate cannot be read (${(e as Error).message})`);
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(pair.key)))
      throw bad('the private key does not match the certificate');
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw bad(`the private key cannot be read (${(e as Error).message})`);
  }
  if (cert.checkHost(domain) === undefined) throw bad(`the certificate does not name ${domain}`);
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (notAfter <= now) throw bad(`it expired on ${notAfter.toISOString()}`);
  if (notBefore > now) throw bad(`it is valid only from ${notBefore.toISOString()}`);
  const issuer = /(?:^|\n)CN=([^\n]*)/.exec(cert.issuer)?.[1] ?? cert.issuer.replace(/\n/g, ', ');
  return { issuer, serial: cert.serialNumber, notBefore, notAfter };
}

/** Whole days until `notAfter` (negative once expired); null when there is no certificate. */
export const daysLeft = (notAfter: string | null, now = new Date()): number | null =>
  notAfter === null ? null : Math.floor((Date.parse(notAfter) - now.getTime()) / 86_400_000);

/** The pair of a domain, or undefined when it has no file. */
export async function readCertFile(
  paths: DataPaths,
  domain: string,
): Promise<CertPair | undefined> {
  try {
    return splitPem(await readFile(certFile(paths, domain), 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Checks the pair, replaces the domain's file, then records what it is (which
 * tells every router to read it again). The metadata goes last, so a crash
 * between the two leaves a served file that the next install or renewal fixes.
 * `builtIn`: the domain is one Berth serves by itself, not an app's custom
 * domain (BERTH_DOMAIN, the status page's, or an app's default host
 * <app>.<BERTH_DOMAIN>), so it is not in the domains index; the caller has
 * checked that it is (acme.ts builtInHost).
 */
export async function installCert(
  store: Store,
  paths: DataPaths,
  domain: string,
  pair: CertPair,
  source: CertSource,
  { builtIn = false } = {},
): Promise<CertInfo> {
  const name = validate.domainOrWildcard(domain);
  const info = checkCertPair(name, pair);
  if (!builtIn && (await store.domains.owner(name)) === undefined) {
    throw new BerthError('BERTH_E_DOMAIN_UNKNOWN', { domain: name });
  }
  await mkdir(paths.certs, { recursive: true, mode: 0o700 });
  // On the disk before Redis records it: the record is what certs:add acknowledges.
  await writeFileDurably(
    certFile(paths, name),
    `${pair.key.trimEnd()}\n${pair.chain.trimEnd()}\n`,
    0o600,
  );
  await store.certs.set(
    name,
    {
      source,
      issuer: info.issuer,
      serial: info.serial,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      lastRenewalAt: new Date(),
      lastError: null,
      nextAttemptAt: null,
      failures: null,
    },
    // The store's name for a domain outside its index.
    { platform: builtIn },
  );
  return info;
}

/**
 * Removes a domain's certificate: its file, then its metadata (which tells
 * the routers to drop it). In the other order a router reading the file in
 * between (a handshake, or its no-SNI certificate: proxy/certificates.ts)
 * kept serving the removed certificate, and redirecting to it, until the
 * next change. A crash between the two leaves metadata with no file: the
 * router serves the fallback, and removing again clears it.
 */
export async function removeCert(
  store: Store,
  paths: Pick<DataPaths, 'certs'>,
  domain: string,
): Promise<boolean> {
  const name = validate.domainOrWildcard(domain);
  await rm(certFile(paths, name), { force: true });
  // Gone from the disk too before it is gone from Redis: after a power cut a
  // file back from the page cache would be served again, unrecorded.
  await syncDir(paths.certs).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
  return store.certs.remove(name);
}
