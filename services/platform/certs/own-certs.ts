// What the certificates Berth makes itself share (the router's fallback,
// self-signed.ts; the registry's CA and certificate, registry/ca.ts): the
// key algorithm, the serial and the private key's PEM. No X.509 library
// here: each of those loads @peculiar/x509 only when a file must be made.
import { randomBytes, type webcrypto } from 'node:crypto';

/** ECDSA P-256 with SHA-256, for the keys and the signatures. */
export const CERT_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A positive serial (top bit clear) of 16 random bytes, as RFC 5280 4.1.2.2 allows. */
export const certSerial = (): string => `01${randomBytes(15).toString('hex')}`;

/** A private key as PKCS #8 PEM. */
export async function privateKeyPem(
  subtle: webcrypto.SubtleCrypto,
  key: webcrypto.CryptoKey,
): Promise<string> {
  const der = Buffer.from(await subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString('base64')
    .replace(/.{64}/g, '$&\n')
    .replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}
