// SSH public keys as users hand them to Berth: one line of a .pub file
// ("TYPE BASE64 [COMMENT]"). A key's identity is its fingerprint, computed
// exactly as `ssh-keygen -lf` does, because the SSH server looks keys up by it
// on every connection and admins compare it with what their ssh client prints.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type ssh2 from 'ssh2';
import { BerthError } from './errors.ts';

/**
 * ssh2, loaded the first time a key is parsed: every process reads the store,
 * which knows keys, but only those that add keys parse one, and ssh2 costs
 * each process that loads it about 5 MB (issue 17).
 */
let ssh2Module: typeof ssh2 | undefined;
const loadSsh2 = (): typeof ssh2 => {
  ssh2Module ??= createRequire(import.meta.url)('ssh2') as typeof ssh2;
  return ssh2Module;
};

/**
 * The key types Berth accepts: those ssh2 can verify signatures for, minus
 * ssh-dss (disabled by default since OpenSSH 7.0). Security-key types
 * (sk-*@openssh.com) are absent because ssh2's server cannot verify them.
 */
export const KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export interface PublicKey {
  type: KeyType;
  /** The key blob, base64 as in the .pub file. */
  key: string;
  /** Free text after the key (often user@host); '' when there is none. */
  comment: string;
  /** SHA256:<base64 without padding>, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

// OpenSSH itself refuses RSA keys under 1024 bits; 2048 is today's floor.
const MIN_RSA_BITS = 2048;
// The longest real line (RSA 16384) is about 2.8 KB; anything longer is not a key.
const MAX_LINE = 16 * 1024;
const MAX_COMMENT = 256;

/** The fingerprint of a key blob (the decoded base64 of a .pub line). */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** Validates a fingerprint typed by a user (e.g. ssh-keys:remove) before it reaches Redis. */
export function keyFingerprint(value: string): string {
  if (!FINGERPRINT.test(value)) {
    const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value).slice(1, -1);
    throw new BerthError('BERTH_E_INVALID_NAME', {
      kind: 'key fingerprint',
      value: shown,
      reason: 'use the SHA256:... form that "ssh-keygen -lf KEY.pub" prints',
    });
  }
  return value;
}

// Reasons never quote the input: a pasted private key must not end up in a log.
function invalid(reason: string): never {
  throw new BerthError('BERTH_E_KEY_INVALID', { reason });
}

/** Reads one SSH wire-format string (uint32 length + bytes) at `offset`. */
function readString(blob: Buffer, offset: number): { value: Buffer; next: number } | undefined {
  if (offset + 4 > blob.length) return undefined;
  const length = blob.readUInt32BE(offset);
  const end = offset + 4 + length;
  if (end > blob.length) return undefined;
  return { value: blob.subarray(offset + 4, end), next: end };
}

function rsaBits(blob: Buffer): number {
  const type = readString(blob, 0);
  const e = type && readString(blob, type.next);
  const n = e && readString(blob, e.next);
  if (n === undefined) return 0;
  // An mpint: big-endian, with a leading zero byte when the top bit is set.
  let i = 0;
  while (i < n.value.length && n.value[i] === 0) i++;
  if (i === n.value.length) return 0;
  return (n.value.length - i) * 8 - Math.clz32(n.value[i] ?? 0) + 24;
}

/**
 * Parses one public key line ("TYPE BASE64 [COMMENT]", as in a .pub file or
 * authorized_keys without options) and checks that ssh2 can use the key.
 * Throws BERTH_E_KEY_INVALID with a reason that does not echo the input.
 */
export function parsePublicKey(line: string): PublicKey {
  if (line.length > MAX_LINE) invalid('far longer than any public key');
  if (line.includes('PRIVATE KEY')) invalid('this is a private key; pass the .pub file instead');
  const text = line.trim();
  if (text === '') invalid('the input is empty');
  if (/[\r\n]/.test(text)) invalid('pass exactly one key, on one line');
  const match = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(text);
  if (match === null) invalid('expected "TYPE BASE64 [COMMENT]"');
  const [, typeText = '', base64 = '', rawComment = ''] = match;
  if (!(KEY_TYPES as readonly string[]).includes(typeText)) {
    if (/[=",]/.test(typeText))
      invalid('authorized_keys options are not supported; pass the key only');
    const shown = /^[\w@.-]{1,64}$/.test(typeText) ? `"${typeText}"` : 'this type';
    invalid(`${shown} is not a supported key type (use ${KEY_TYPES.join(', ')})`);
  }
  const type = typeText as KeyType;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) invalid('the key is not base64');
  const blob = Buffer.from(base64, 'base64');
  // Re-encoding must give the same text, so one key has exactly one spelling.
  if (blob.toString('base64') !== base64) invalid('the key is not canonical base64');
  if (readString(blob, 0)?.value.toString('latin1') !== type) {
    invalid(`the key data is not a ${type} key`);
  }

  const parsed = loadSsh2().utils.parseKey(`${type} ${base64}`);
  if (parsed instanceof Error) invalid(`malformed ${type} key`);
  if (parsed.isPrivateKey()) invalid('this is a private key; pass the .pub file instead');
  if (parsed.type !== type || !parsed.getPublicSSH().equals(blob)) {
    invalid(`malformed ${type} key`);
  }
  if (type === 'ssh-rsa') {
    const bits = rsaBits(blob);
    if (bits < MIN_RSA_BITS)
      invalid(`RSA keys need at least ${MIN_RSA_BITS} bits, this has ${bits}`);
  }

  const comment = rawComment.trim();
  // Comments are printed in key listings; control characters could rewrite the terminal.
  if (/[\x00-\x1f\x7f]/.test(comment)) invalid('the comment contains control characters');
  if (comment.length > MAX_COMMENT) invalid(`the comment is longer than ${MAX_COMMENT} characters`);
  return { type, key: base64, comment, fingerprint: fingerprint(blob) };
}

/** The .pub line of a key, as parsePublicKey reads it back. */
export function formatPublicKey(key: Pick<PublicKey, 'type' | 'key' | 'comment'>): string {
  return key.comment === '' ? `${key.type} ${key.key}` : `${key.type} ${key.key} ${key.comment}`;
}
