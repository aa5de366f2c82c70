// Issues a self-signed certificate with @peculiar/x509 (the fallback
// certificate, fallback-cert.ts).
// A module of its own, imported only when the file must be made: the library
// and its ASN.1 schemas cost about 10 MB in a process that loads them, and a
// module, once loaded, stays for the life of the process (issue 17).
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CERT_ALGORITHM, certSerial, privateKeyPem } from './own-certs.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** A fresh self-signed P-256 certificate for `name`, valid for `days` (a few ms); PEM. */
export async function issueSelfSigned(
  name: string,
  days: number,
): Promise<{ key: string; cert: string }> {
  const keys = await webcrypto.subtle.generateKey(CERT_ALGORITHM, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: certSerial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days * 86_400_000),
    signingAlgorithm: CERT_ALGORITHM,
    keys: keys as unknown as x509.X509CertificateCreateSelfSignedParams['keys'],
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }]),
      new x509.BasicConstraintsExtension(false),
    ],
  });
  return {
    key: await privateKeyPem(webcrypto.subtle, keys.privateKey),
    cert: cert.toString('pem'),
  };
}
