// The encryption of datastore backups sent to S3 (backup-crypt.ts): what
// is encrypted comes back byte for byte at every length around a chunk's
// edge; a wrong passphrase is told from the header alone; a stream cut
// short, a chunk dropped, swapped or altered never opens.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import {
  DecryptError,
  decryptStream,
  encryptStream,
} from '../../services/platform/datastores/backup-crypt.ts';

const CHUNK = 64 * 1024;
const PASS = 'correct horse battery staple';

async function seal(plain: Buffer, pass = PASS): Promise<Buffer> {
  // Written in uneven pieces, as a dump arrives.
  const pieces: Buffer[] = [];
  for (let i = 0; i < plain.length; i += 7777) pieces.push(plain.subarray(i, i + 7777));
  return buffer(Readable.from(pieces).pipe(await encryptStream(pass)));
}

const open = (sealed: Buffer, pass = PASS) =>
  buffer(Readable.from([sealed.subarray(0, 100), sealed.subarray(100)]).pipe(decryptStream(pass)));

describe('backup encryption', () => {
  test('round trip at every length around a chunk edge; no plaintext in what is sealed', async () => {
    for (const n of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5]) {
      const plain = Buffer.alloc(n);
      for (let i = 0; i < n; i += 32) Buffer.from(`row ${i} secret-table-content `).copy(plain, i);
      const sealed = await seal(plain);
      assert.equal(sealed.length, 68 + n + 16 * Math.max(1, Math.ceil(n / CHUNK)));
      if (n > 100) assert.ok(!sealed.includes('secret-table-content'), 'no plaintext');
      assert.ok((await open(sealed)).equals(plain), `length ${n}`);
    }
  });

  test('a wrong passphrase is refused from the header, as such', async () => {
    const sealed = await seal(randomBytes(3 * CHUNK));
    await assert.rejects(open(sealed, 'not the passphrase at all'), (e: unknown) => {
      assert.ok(e instanceof DecryptError);
      assert.equal(e.wrongPassphrase, true);
      return true;
    });
  });

  test('cut short, a chunk dropped, swapped or altered: refused, not as a wrong passphrase', async () => {
    const sealed = await seal(randomBytes(3 * CHUNK + 10));
    const header = sealed.subarray(0, 68);
    const c = (i: number) => sealed.subarray(68 + i * (CHUNK + 16), 68 + (i + 1) * (CHUNK + 16));
    const altered = Buffer.from(sealed);
    altered[68 + CHUNK + 100] = (altered[68 + CHUNK + 100] ?? 0) ^ 1;
    for (const [what, bad] of [
      ['cut at a chunk edge', sealed.subarray(0, 68 + 2 * (CHUNK + 16))],
      ['cut mid-chunk', sealed.subarray(0, sealed.length - 5)],
      [
        'a chunk dropped',
        Buffer.concat([header, c(0), c(2), sealed.subarray(68 + 3 * (CHUNK + 16))]),
      ],
      [
        'chunks swapped',
        Buffer.concat([header, c(1), c(0), sealed.subarray(68 + 2 * (CHUNK + 16))]),
      ],
      ['a byte altered', altered],
      [
        'not encrypted',
        Buffer.from('PGDMP plain dump of a database, not sealed at all '.repeat(10)),
      ],
      ['empty', Buffer.alloc(0)],
    ] as const) {
      await assert.rejects(open(bad), (e: unknown) => {
        assert.ok(e instanceof DecryptError, `${what}: ${e}`);
        assert.equal(e.wrongPassphrase, false, what);
        return true;
      });
    }
  });
});
