// Secrets Berth hands out (sign-in links, session cookies, API tokens): made
// from 32 random bytes, shown once, and stored only as their SHA-256. A
// secret with 256 bits of entropy needs no slow hash (bcrypt and friends
// defend guessable passwords), and SHA-256 lets a lookup be one Redis key.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new secret: `prefix` then 32 random bytes as base64url (43 characters). */
export function newSecret(prefix = ''): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** The SHA-256 of a secret as 64 hex digits: what Redis keeps instead of the secret. */
export function sha256hex(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compares two strings in time independent of where they differ (CSRF tokens). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
