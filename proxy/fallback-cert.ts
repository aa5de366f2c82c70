// The certificate a router process presents when it has none for the host:
// an unknown host, a host without a certificate, a file that does not load,
// or no SNI while BERTH_DOMAIN has no certificate (certificates.ts). Made once per process at start, never stored: it only keeps an
// HTTPS handshake from hanging or being reset, and no client trusts it.
//
// Written out in DER by hand (RFC 5280 4.1) with node:crypto's key and
// signature: an X.509 library (and its ASN.1 schemas) loaded for this one
// certificate cost about 10 MB in every router process (issue 17), and a
// module, once loaded, stays for the life of the process.
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/** The name the fallback certificate is issued to (and by): it names no real host. */
export const FALLBACK_NAME = 'berth-fallback';

/** Long enough to outlive any router process; nobody verifies it anyway. */
const VALID_DAYS = 365;

export interface PemPair {
  key: string;
  cert: string;
}

/** One DER element: tag, definite length, contents (X.690 8.1). */
function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const length =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const SEQUENCE = 0x30;
const SET = 0x31;
const oid = (bytes: number[]) => der(0x06, Buffer.from(bytes));
/** ecdsa-with-SHA256, 1.2.840.10045.4.3.2 (RFC 5758 3.2: no parameters). */
const ECDSA_SHA256 = der(SEQUENCE, oid([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]));
const COMMON_NAME = oid([0x55, 0x04, 0x03]);
const SUBJECT_ALT_NAME = oid([0x55, 0x1d, 0x11]);
const BASIC_CONSTRAINTS = oid([0x55, 0x1d, 0x13]);

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
function time(at: Date): Buffer {
  const iso = at.toISOString().replace(/\.\d+/, '').replace(/[-:T]/g, '');
  return at.getUTCFullYear() < 2050
    ? der(0x17, Buffer.from(iso.slice(2)))
    : der(0x18, Buffer.from(iso));
}

/** A fresh self-signed P-256 certificate for FALLBACK_NAME (a few ms). */
export function fallbackCertificate(): PemPair {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const name = der(
    SEQUENCE,
    der(SET, der(SEQUENCE, COMMON_NAME, der(0x0c, Buffer.from(FALLBACK_NAME)))),
  );
  const extensions = der(
    0xa3,
    der(
      SEQUENCE,
      // dNSName is [2] IMPLICIT IA5String.
      der(
        SEQUENCE,
        SUBJECT_ALT_NAME,
        der(0x04, der(SEQUENCE, der(0x82, Buffer.from(FALLBACK_NAME)))),
      ),
      // cA false (the default, so absent): no certificate may be issued under it.
      der(SEQUENCE, BASIC_CONSTRAINTS, der(0x04, der(SEQUENCE))),
    ),
  );
  const tbs = der(
    SEQUENCE,
    der(0xa0, der(0x02, Buffer.from([2]))), // v3
    // Positive (top bit clear), 16 random bytes as RFC 5280 4.1.2.2 allows.
    der(0x02, Buffer.concat([Buffer.from([1]), randomBytes(15)])),
    ECDSA_SHA256,
    name,
    der(SEQUENCE, time(new Date(now - 60_000)), time(new Date(now + VALID_DAYS * 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
  );
  // ECDSA signatures come out as the DER Ecdsa-Sig-Value X.509 wants.
  const signature = sign('sha256', tbs, privateKey);
  const cert = der(SEQUENCE, tbs, ECDSA_SHA256, der(0x03, Buffer.from([0]), signature));
  return {
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    cert: `-----BEGIN CERTIFICATE-----\n${cert
      .toString('base64')
      .replace(/.{64}/g, '$&\n')
      .replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`,
  };
}
