// The certificate a router process presents when it has none for the host:
// an unknown host, a host without a certificate, a file that does not load,
// or no SNI while BERTH_DOMAIN has no certificate (proxy/certificates.ts).
// It only keeps an HTTPS handshake from hanging or being reset; no client
// trusts it. One self-signed certificate in the data directory, made with
// @peculiar/x509 (self-signed.ts) by the process that prepares the
// machine, or by the router's primary when it is started on its own, and
// read by every router process: a router process, one per CPU, never loads
// the X.509 library (about 10 MB each, issue 17).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurably } from '../../core/durable-file.ts';
import type { DataPaths } from '../../core/paths.ts';
import { splitPem } from './cert-files.ts';

/** The name the fallback certificate is issued to (and by): it names no real host. */
export const FALLBACK_NAME = 'berth-fallback';

/** How long a new fallback certificate is valid. */
const VALID_DAYS = 365;
/** A fallback certificate this close to its end is replaced at the next start. */
const RENEW_DAYS = 30;

export interface PemPair {
  key: string;
  cert: string;
}

/**
 * Where it is kept: with the router's other state in `<data>/run/` (private
 * key and certificate in one file, mode 0600), not among the domains'
 * certificates, which a backup takes and the router serves by name. Nothing
 * is lost with it: the next start makes another.
 */
export const fallbackCertFile = (paths: Pick<DataPaths, 'root'>) =>
  path.join(paths.root, 'run', 'fallback.pem');

/** The stored fallback certificate; throws when it is missing or does not hold a pair. */
export async function readFallbackCertificate(paths: Pick<DataPaths, 'root'>): Promise<PemPair> {
  const { key, chain } = splitPem(await readFile(fallbackCertFile(paths), 'utf8'));
  if (!key || !chain) throw new Error(`${fallbackCertFile(paths)} holds no key and certificate`);
  return { key, cert: chain };
}

/**
 * Makes the fallback certificate unless the one stored is readable and
 * valid for RENEW_DAYS more; returns whether it made one.
 */
export async function ensureFallbackCertificate(
  paths: Pick<DataPaths, 'root'>,
  now = Date.now(),
): Promise<boolean> {
  try {
    const pair = await readFallbackCertificate(paths);
    const cert = new X509Certificate(pair.cert);
    const valid = Date.parse(cert.validTo) - now > RENEW_DAYS * 86_400_000;
    if (valid && cert.checkPrivateKey(createPrivateKey(pair.key))) return false;
  } catch {
    // Missing, unreadable or damaged: made again below.
  }
  const { issueSelfSigned } = await import('./self-signed.ts');
  const pair = await issueSelfSigned(FALLBACK_NAME, VALID_DAYS);
  await mkdir(path.dirname(fallbackCertFile(paths)), { recursive: true, mode: 0o700 });
  await writeFileDurably(fallbackCertFile(paths), `${pair.key}${pair.cert}`, 0o600);
  return true;
}
