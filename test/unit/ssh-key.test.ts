// The fingerprint must be byte-for-byte what `ssh-keygen -lf` prints, because
// admins compare the two; so the reference here is the real ssh-keygen.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { BerthError } from '../../services/core/errors.ts';
import {
  fingerprint,
  formatPublicKey,
  keyFingerprint,
  parsePublicKey,
} from '../../services/core/ssh-key.ts';
import { tempDir } from '../harness/tmp.ts';

const run = promisify(execFile);
const dir = await tempDir('berth-ssh-key');

interface Generated {
  pub: string;
  /** ssh-keygen -lf: "BITS SHA256:... COMMENT (TYPE)" */
  listed: string;
  privatePath: string;
}

async function keygen(name: string, args: string[], comment: string): Promise<Generated> {
  const file = path.join(dir, name);
  await run('ssh-keygen', ['-q', ...args, '-N', '', '-C', comment, '-f', file]);
  const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`]);
  return { pub: await readFile(`${file}.pub`, 'utf8'), listed: stdout.trim(), privatePath: file };
}

const [ed25519, ecdsa256, ecdsa384, ecdsa521, rsa3072, rsa1024] = await Promise.all([
  keygen('ed25519', ['-t', 'ed25519'], 'alice@laptop'),
  keygen('ecdsa256', ['-t', 'ecdsa', '-b', '256'], 'bob@desk'),
  keygen('ecdsa384', ['-t', 'ecdsa', '-b', '384'], 'carol'),
  keygen('ecdsa521', ['-t', 'ecdsa', '-b', '521'], 'dave with spaces in comment'),
  keygen('rsa3072', ['-t', 'rsa', '-b', '3072'], 'erin@ci'),
  keygen('rsa1024', ['-t', 'rsa', '-b', '1024'], 'old'),
]);

const invalidKey = (reason: RegExp) => (e: unknown) =>
  e instanceof BerthError && e.code === 'BERTH_E_KEY_INVALID' && reason.test(e.message);

describe('fingerprints match ssh-keygen -lf', () => {
  for (const [label, key, type] of [
    ['ed25519', ed25519, 'ssh-ed25519'],
    ['ecdsa 256', ecdsa256, 'ecdsa-sha2-nistp256'],
    ['ecdsa 384', ecdsa384, 'ecdsa-sha2-nistp384'],
    ['ecdsa 521', ecdsa521, 'ecdsa-sha2-nistp521'],
    ['rsa 3072', rsa3072, 'ssh-rsa'],
  ] as const) {
    test(label, () => {
      const parsed = parsePublicKey(key.pub);
      const [, fp, ...rest] = key.listed.split(' ');
      assert.equal(parsed.fingerprint, fp);
      assert.equal(parsed.type, type);
      // ssh-keygen prints the comment, then the type in parentheses.
      assert.equal(parsed.comment, rest.slice(0, -1).join(' '));
      assert.equal(parsed.key, key.pub.split(' ')[1]);
      assert.equal(fingerprint(Buffer.from(parsed.key, 'base64')), fp);
    });
  }
});

describe('parsePublicKey', () => {
  test('accepts CRLF, surrounding blanks and a missing comment', () => {
    const [type, b64] = ed25519.pub.trim().split(' ');
    const bare = parsePublicKey(`  ${type} ${b64}\r\n`);
    assert.equal(bare.comment, '');
    assert.equal(bare.fingerprint, parsePublicKey(ed25519.pub).fingerprint);
    assert.equal(formatPublicKey(bare), `${type} ${b64}`);
    assert.equal(formatPublicKey(parsePublicKey(ed25519.pub)), ed25519.pub.trim());
  });

  test('matches a key made by node:crypto, not only by ssh-keygen', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
    const blob = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
    const parsed = parsePublicKey(`ssh-ed25519 ${blob.toString('base64')}`);
    assert.equal(parsed.fingerprint, fingerprint(blob));
  });

  test('refuses RSA keys under 2048 bits', () => {
    assert.throws(
      () => parsePublicKey(rsa1024.pub),
      invalidKey(/at least 2048 bits, this has 1024/),
    );
  });

  test('refuses a private key without echoing it', async () => {
    const secret = await readFile(ed25519.privatePath, 'utf8');
    assert.throws(
      () => parsePublicKey(secret),
      (e: unknown) =>
        invalidKey(/private key/)(e) &&
        !(e as Error).message.includes(secret.split('\n')[1] ?? '') &&
        !JSON.stringify((e as BerthError).params).includes('OPENSSH'),
    );
  });

  test('refuses garbage with BERTH_E_KEY_INVALID', () => {
    const [type, b64 = ''] = ed25519.pub.trim().split(' ');
    const rsaB64 = rsa3072.pub.split(' ')[1] ?? '';
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['hello', /TYPE BASE64/],
      ['ssh-ed25519 !!!notbase64', /not base64/],
      [`ssh-ed25519 ${b64.slice(0, 40)}`, /not canonical|not a ssh-ed25519|malformed/],
      [`ssh-ed25519 ${rsaB64}`, /not a ssh-ed25519 key/],
      [`ssh-ed25519 ${b64.slice(0, -2)}Z=`, /canonical|malformed/],
      [`${type} ${b64}\n${type} ${b64}`, /one line/],
      [`command="rm -rf /" ${type} ${b64}`, /options are not supported/],
      [`ssh-dss ${b64}`, /"ssh-dss" is not a supported key type/],
      [`sk-ssh-ed25519@openssh.com ${b64}`, /not a supported key type/],
      [`${type} ${b64} evil\x1b[2Jcomment`, /control characters/],
      [`${type} ${'A'.repeat(20_000)}`, /longer/],
      [`${type} ${b64} ${'c'.repeat(300)}`, /longer than 256/],
    ];
    for (const [line, reason] of cases) {
      assert.throws(
        () => parsePublicKey(line),
        invalidKey(reason),
        JSON.stringify(line.slice(0, 60)),
      );
    }
  });
});

describe('keyFingerprint', () => {
  test('accepts the SHA256 form and refuses anything else', () => {
    const fp = parsePublicKey(ed25519.pub).fingerprint;
    assert.equal(keyFingerprint(fp), fp);
    for (const bad of [
      '',
      'MD5:ab:cd',
      `${fp}x`,
      'SHA256:*',
      `${fp.slice(0, -1)}\n`,
      'SHA256:../..',
    ]) {
      assert.throws(
        () => keyFingerprint(bad),
        (e: unknown) => e instanceof BerthError && e.code === 'BERTH_E_INVALID_NAME',
      );
    }
  });
});
