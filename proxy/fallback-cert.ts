// The certificate a router process presents when it has none for the host:
// an unknown host, a host without a certificate, a file that does not load,
// or no SNI while BERTH_DOMAIN has no certificate (certificates.ts). Made once per process at start, never stored: it only keeps an
// HTTPS handshake from hanging or being reset, and no client trusts it.
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** The name the fallback certificate is issued to (and by): it names no real host. */
export const FALLBACK_NAME = 'berth-fallback';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** Long enough to outlive any router process; nobody verifies it anyway. */
const VALID_DAYS = 365;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface PemPair {
  key: string;
  cert: string;
}

/** A fresh self-signed P-256 certificate for FALLBACK_NAME (a few ms). */
export async function fallbackCertificate(): Promise<PemPair> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    // Positive (top bit clear), 16 random bytes as RFC 5280 4.1.2.2 allows.
    serialNumber: `01${randomBytes(15).toString('hex')}`,
    name: `CN=${FALLBACK_NAME}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + VALID_DAYS * 86_400_000),
    signingAlgorithm: ALGORITHM,
    keys: keys as unknown as x509.X509CertificateCreateSelfSignedParams['keys'],
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: FALLBACK_NAME }]),
      new x509.BasicConstraintsExtension(false),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8
    .toString('base64')
    .replace(/.{64}/g, '$&\n')
    .replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  return { key, cert: cert.toString('pem') };
}
