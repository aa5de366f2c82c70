// Certificates for tests, made on the spot: self-signed, for the names and
// validity a test asks for, with a serial it can look for in a handshake.
import { execFile } from 'node:child_process';
import { randomBytes, webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export interface TestCert {
  /** PEM private key (PKCS#8). */
  key: string;
  /** PEM certificate. */
  cert: string;
  /** Upper-case hex, as X509Certificate and getPeerCertificate() give it. */
  serial: string;
}

const newSerial = () => `1${randomBytes(8).toString('hex').slice(1)}`.toUpperCase();

const pem = (label: string, der: ArrayBuffer) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString('base64')
    .replace(/.{64}/g, '$&\n')
    .replace(/\n?$/, '\n')}-----END ${label}-----\n`;

/** A self-signed P-256 certificate naming `names` (the first is the CN); valid now unless told. */
export async function makeCert(
  names: readonly string[],
  o: { notBefore?: Date; notAfter?: Date } = {},
): Promise<TestCert> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const serial = newSerial();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial,
    name: `CN=${names[0]}`,
    notBefore: o.notBefore ?? new Date(Date.now() - DAY),
    notAfter: o.notAfter ?? new Date(Date.now() + 90 * DAY),
    signingAlgorithm: ALGORITHM,
    keys: keys as unknown as x509.X509CertificateCreateSelfSignedParams['keys'],
    extensions: [
      new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns', value }))),
    ],
  });
  return {
    key: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
    cert: cert.toString('pem'),
    serial,
  };
}

/**
 * The files an operator makes with openssl (RSA, traditional PEM names) in
 * `dir`: server.key and server.crt, as Dokku's certs:add tar holds them.
 */
export async function opensslCert(dir: string, names: readonly string[]): Promise<TestCert> {
  const serial = newSerial();
  const key = path.join(dir, 'server.key');
  const cert = path.join(dir, 'server.crt');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '30',
    '-set_serial',
    `0x${serial}`,
    '-subj',
    `/CN=${names[0]}`,
    '-addext',
    `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
  ]);
  return { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8'), serial };
}
