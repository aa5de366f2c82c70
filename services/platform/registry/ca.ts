// The TLS of Berth's own registry (own-registry.ts): a certificate
// authority of Berth's, made once in <data>/registry/ (ca.crt, and ca.key
// mode 0600), and the registry's certificate signed by it for the address
// the nodes reach it at (an IP SAN for an address, a DNS SAN for a name).
// Docker trusts a registry's certificate through
// /etc/docker/certs.d/HOST:PORT/ca.crt: the operator copies ca.crt there on
// every node and on Berth's own host (README, "Images on every node"); a
// CA rather than a self-signed server certificate, so the registry's
// certificate can be made again (a new address) without touching the nodes.
//
// @peculiar/x509 is loaded only here, when a file must be made (issue 17:
// about 10 MB in a process that loads it).
import { webcrypto, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import type * as X509 from '@peculiar/x509';
import { writeFileDurably } from '../../core/durable-file.ts';
import { CERT_ALGORITHM, certSerial, privateKeyPem } from '../certs/own-certs.ts';

const CA_DAYS = 3650;
const SERVER_DAYS = 825;
/** A server certificate this close to its end is made again at the next start of the registry. */
const RENEW_DAYS = 30;

export interface RegistryTlsFiles {
  /** The CA's certificate: what the nodes' /etc/docker/certs.d/HOST:PORT/ca.crt holds. */
  ca: string;
  /** The registry's certificate and key, PEM files the registry reads. */
  cert: string;
  key: string;
}

export const caFile = (dir: string) => path.join(dir, 'ca.crt');

const pemKey = (key: webcrypto.CryptoKey) => privateKeyPem(webcrypto.subtle, key);

const readOr = (file: string) => readFile(file, 'utf8').catch(() => undefined);

/** Whether the PEM certificate names `host` and has RENEW_DAYS or more left. */
function fits(pem: string | undefined, host: string): boolean {
  if (pem === undefined) return false;
  try {
    const cert = new X509Certificate(pem);
    const named = isIP(host) ? cert.checkIP(host) : cert.checkHost(host);
    return named !== undefined && Date.parse(cert.validTo) - Date.now() > RENEW_DAYS * 86_400_000;
  } catch {
    return false;
  }
}

async function loadX509() {
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  return x509;
}

/**
 * The CA's certificate file, made with its key when missing: what the
 * operator copies to every node (registry:report --global --registry-ca-file).
 */
export async function ensureCa(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await ensureCaFiles(dir);
  return caFile(dir);
}

async function ensureCaFiles(dir: string): Promise<{ caPem: string; caKeyPem: string }> {
  const files = { ca: caFile(dir), caKey: path.join(dir, 'ca.key') };
  let caPem = await readOr(files.ca);
  let caKeyPem = await readOr(files.caKey);
  if (caPem !== undefined && caKeyPem !== undefined) return { caPem, caKeyPem };
  const x509 = await loadX509();
  const now = Date.now();
  const keys = await webcrypto.subtle.generateKey(CERT_ALGORITHM, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: certSerial(),
    name: 'CN=Berth registry CA',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + CA_DAYS * 86_400_000),
    signingAlgorithm: CERT_ALGORITHM,
    keys: keys as unknown as X509.X509CertificateCreateSelfSignedParams['keys'],
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
    ],
  });
  caKeyPem = await pemKey(keys.privateKey);
  caPem = ca.toString('pem');
  await writeFileDurably(files.caKey, caKeyPem, 0o600);
  await writeFileDurably(files.ca, caPem, 0o644);
  return { caPem, caKeyPem };
}

/**
 * The CA (made when missing) and a registry certificate for `host` (made
 * again when missing, for another host, or near its end); the files' paths.
 */
export async function registryTls(dir: string, host: string): Promise<RegistryTlsFiles> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = { ca: caFile(dir), caKey: path.join(dir, 'ca.key') };
  // The registry's own files are in serve/, which its container mounts: the CA's key is not.
  await mkdir(path.join(dir, 'serve'), { recursive: true, mode: 0o700 });
  const cert = path.join(dir, 'serve', 'tls.crt');
  const key = path.join(dir, 'serve', 'tls.key');
  if (fits(await readOr(cert), host) && (await readOr(files.ca)) !== undefined) {
    return { ca: files.ca, cert, key };
  }
  const x509 = await loadX509();
  const { caPem, caKeyPem } = await ensureCaFiles(dir);
  const now = Date.now();
  const caCert = new x509.X509Certificate(caPem);
  const caKey = await webcrypto.subtle.importKey(
    'pkcs8',
    Buffer.from(caKeyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  const keys = await webcrypto.subtle.generateKey(CERT_ALGORITHM, true, ['sign', 'verify']);
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: certSerial(),
    subject: `CN=${host}`,
    issuer: caCert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + SERVER_DAYS * 86_400_000),
    signingAlgorithm: CERT_ALGORITHM,
    publicKey: keys.publicKey as unknown as X509.PublicKeyType,
    signingKey: caKey as unknown as X509.X509CertificateCreateWithKeyParams['signingKey'],
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: isIP(host) ? 'ip' : 'dns', value: host }]),
      new x509.BasicConstraintsExtension(false),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  await writeFileDurably(key, await pemKey(keys.privateKey), 0o600);
  await writeFileDurably(cert, server.toString('pem'), 0o644);
  return { ca: files.ca, cert, key };
}
