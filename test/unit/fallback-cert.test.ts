// The certificate a router process presents for a host it has none for
// (proxy/fallback-cert.ts), written in DER by hand: it must be one that
// OpenSSL (through node:crypto and node:tls) takes as it is.
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import tls from 'node:tls';
import { FALLBACK_NAME, fallbackCertificate } from '../../proxy/fallback-cert.ts';

test('the fallback certificate is a self-signed P-256 certificate for berth-fallback, valid now', () => {
  const pair = fallbackCertificate();
  const cert = new X509Certificate(pair.cert);
  assert.equal(cert.subject, `CN=${FALLBACK_NAME}`);
  assert.equal(cert.issuer, `CN=${FALLBACK_NAME}`);
  assert.equal(cert.subjectAltName, `DNS:${FALLBACK_NAME}`);
  assert.equal(cert.ca, false);
  assert.ok(cert.verify(cert.publicKey), 'signed by its own key');
  assert.ok(cert.checkPrivateKey(createPrivateKey(pair.key)), 'the key is its own');
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const now = Date.now();
  assert.ok(Date.parse(cert.validFrom) <= now && now < Date.parse(cert.validTo));
  assert.ok(Date.parse(cert.validTo) - now > 300 * 86_400_000, 'valid for about a year');
  assert.match(cert.serialNumber, /^[0-7][0-9A-F]{31}$/, 'positive, 16 bytes');
  assert.notEqual(new X509Certificate(fallbackCertificate().cert).serialNumber, cert.serialNumber);
  // What the router does with it.
  tls.createSecureContext(pair);
});
