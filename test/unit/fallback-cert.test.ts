// The certificate a router process presents for a host it has none for
// (services/platform/certs/fallback-cert.ts): made once with @peculiar/x509
// and kept in the data directory, where every router process reads it.
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import {
  ensureFallbackCertificate,
  FALLBACK_NAME,
  fallbackCertFile,
  readFallbackCertificate,
} from '../../services/platform/certs/fallback-cert.ts';

const DAY = 86_400_000;

async function certsDir(t: { after: (fn: () => Promise<void>) => void }) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'berth-fallback-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return { root };
}

test('the fallback certificate is a self-signed P-256 certificate for berth-fallback, valid now, kept 0600', async (t) => {
  const paths = await certsDir(t);
  assert.equal(await ensureFallbackCertificate(paths), true);
  const pair = await readFallbackCertificate(paths);
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
  assert.ok(Date.parse(cert.validTo) - now > 300 * DAY, 'valid for about a year');
  assert.match(cert.serialNumber, /^[0-7][0-9A-F]{31}$/, 'positive, 16 bytes');
  assert.equal((await stat(fallbackCertFile(paths))).mode & 0o777, 0o600);
  // What the router does with it.
  tls.createSecureContext(pair);
});

test('a start keeps the stored one; a damaged one, or one within 30 days of its end, is made again', async (t) => {
  const paths = await certsDir(t);
  await ensureFallbackCertificate(paths);
  const first = await readFile(fallbackCertFile(paths), 'utf8');
  assert.equal(await ensureFallbackCertificate(paths), false);
  assert.equal(await readFile(fallbackCertFile(paths), 'utf8'), first);

  assert.equal(await ensureFallbackCertificate(paths, Date.now() + 340 * DAY), true);
  const renewed = await readFile(fallbackCertFile(paths), 'utf8');
  assert.notEqual(renewed, first);

  await writeFile(
    fallbackCertFile(paths),
    renewed.replace(/-----BEGIN CERTIFICATE-----[\s\S]*/, ''),
  );
  await assert.rejects(readFallbackCertificate(paths), /holds no key and certificate/);
  assert.equal(await ensureFallbackCertificate(paths), true);
  await readFallbackCertificate(paths);

  // A key that is not the certificate's.
  const other = await certsDir(t);
  await ensureFallbackCertificate(other);
  const otherKey = (await readFallbackCertificate(other)).key;
  const mine = await readFallbackCertificate(paths);
  await writeFile(fallbackCertFile(paths), `${otherKey}${mine.cert}`);
  assert.equal(await ensureFallbackCertificate(paths), true);
  const fixed = await readFallbackCertificate(paths);
  assert.ok(new X509Certificate(fixed.cert).checkPrivateKey(createPrivateKey(fixed.key)));
});
