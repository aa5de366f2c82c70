// Encryption of datastore backups sent to S3 (postgres:backup-set-encryption),
// by a passphrase: scrypt derives the keys from the passphrase and a random
// salt, AES-256-GCM seals the dump in 64 KiB chunks, each authenticated on
// its own, so that a restore never passes on a byte that was not checked
// and the stream needs no more memory than a chunk. The chunking is age's
// STREAM construction (each chunk's nonce is a random prefix, its counter
// and a last-chunk flag), so chunks cannot be reordered, dropped or the
// stream cut short without the last chunk failing to open.
//
//   header   "BERTHENC" | version 1 | log2 N, r, p of scrypt | salt (16)
//            | nonce prefix (7) | 0 | HMAC-SHA256 of those 36 bytes (32)
//   chunks   AES-256-GCM of 64 KiB of the dump, with its 16-byte tag;
//            nonce = prefix | counter (uint32 BE) | 1 on the last, else 0.
//            The last holds 0 to 64 KiB; there is always one.
//
// The header's HMAC is keyed from the same derivation, so a wrong
// passphrase is told from a damaged object before any chunk is opened.
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  scrypt,
  timingSafeEqual,
} from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

const MAGIC = Buffer.from('BERTHENC');
const VERSION = 1;
const CHUNK = 64 * 1024;
const TAG = 16;
const HEADER = 36;
const MAC = 32;
/** scrypt's cost: 2^15 x 8 is 32 MB and about 0.1 s, the cost age and libsodium use for files. */
const LOG2_N = 15;
const R = 8;
const P = 1;

/** Why a backup cannot be decrypted: the passphrase, or the bytes. */
export class DecryptError extends Error {
  constructor(
    readonly wrongPassphrase: boolean,
    message: string,
  ) {
    super(message);
    this.name = 'DecryptError';
  }
}

function deriveKeys(passphrase: string, salt: Buffer, log2N: number, r: number, p: number) {
  return new Promise<{ enc: Buffer; mac: Buffer }>((resolve, reject) => {
    scrypt(
      passphrase.normalize('NFC'),
      salt,
      64,
      { N: 2 ** log2N, r, p, maxmem: 256 * 2 ** log2N * r + 1024 * 1024 },
      (e, key) => (e ? reject(e) : resolve({ enc: key.subarray(0, 32), mac: key.subarray(32) })),
    );
  });
}

const nonceOf = (prefix: Buffer, counter: number, last: boolean) => {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(counter, 7);
  n[11] = last ? 1 : 0;
  return n;
};

/** A stream that encrypts what is written to it with `passphrase`. */
export async function encryptStream(passphrase: string): Promise<Transform> {
  const salt = randomBytes(16);
  const prefix = randomBytes(7);
  const keys = await deriveKeys(passphrase, salt, LOG2_N, R, P);
  const header = Buffer.concat([
    MAGIC,
    Buffer.from([VERSION, LOG2_N, R, P]),
    salt,
    prefix,
    Buffer.from([0]),
  ]);
  let counter = 0;
  let pending: Buffer = Buffer.alloc(0);
  const seal = (plain: Buffer, last: boolean) => {
    if (counter > 0xffffffff) throw new Error('a backup larger than 256 TB cannot be encrypted');
    const c = createCipheriv('aes-256-gcm', keys.enc, nonceOf(prefix, counter++, last));
    return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  };
  let started = false;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      try {
        if (!started) {
          started = true;
          this.push(
            Buffer.concat([header, createHmac('sha256', keys.mac).update(header).digest()]),
          );
        }
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        // Only a chunk that more data follows is sealed now: the last must carry its flag.
        while (pending.length > CHUNK) {
          this.push(seal(pending.subarray(0, CHUNK), false));
          pending = pending.subarray(CHUNK);
        }
        done();
      } catch (e) {
        done(e as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        if (!started)
          this.push(
            Buffer.concat([header, createHmac('sha256', keys.mac).update(header).digest()]),
          );
        this.push(seal(pending, true));
        done();
      } catch (e) {
        done(e as Error);
      }
    },
  });
}

/**
 * A stream that decrypts what encryptStream wrote with `passphrase`;
 * DecryptError (wrongPassphrase) from the header alone, before any of the
 * dump is passed on; DecryptError otherwise for a damaged or cut stream.
 */
export function decryptStream(passphrase: string): Transform {
  let keys: { enc: Buffer; mac: Buffer } | undefined;
  let prefix = Buffer.alloc(0);
  let counter = 0;
  let pending: Buffer = Buffer.alloc(0);
  const open = (sealed: Buffer, last: boolean) => {
    if (!keys) throw new DecryptError(false, 'not an encrypted backup');
    const d = createDecipheriv('aes-256-gcm', keys.enc, nonceOf(prefix, counter++, last));
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    try {
      return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()]);
    } catch {
      throw new DecryptError(
        false,
        last
          ? `its last part does not open (${counter - 1} parts read): cut short or damaged`
          : `part ${counter - 1} does not open: damaged`,
      );
    }
  };
  const readHeader = async (h: Buffer) => {
    if (!h.subarray(0, 8).equals(MAGIC) || h[8] !== VERSION) {
      throw new DecryptError(false, "it is not a backup in Berth's encrypted format");
    }
    const [log2N = 0, r = 0, p = 0] = [h[9], h[10], h[11]];
    // Bounds, so that a hostile header cannot ask for gigabytes of memory.
    if (log2N < 10 || log2N > 20 || r < 1 || r > 16 || p < 1 || p > 4) {
      throw new DecryptError(false, 'its header names key-derivation costs Berth does not use');
    }
    const k = await deriveKeys(passphrase, h.subarray(12, 28), log2N, r, p);
    const mac = createHmac('sha256', k.mac).update(h.subarray(0, HEADER)).digest();
    if (!timingSafeEqual(mac, h.subarray(HEADER, HEADER + MAC))) {
      throw new DecryptError(true, 'the passphrase is not the one it was encrypted with');
    }
    keys = k;
    prefix = Buffer.from(h.subarray(28, 35));
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const go = async () => {
        if (!keys) {
          if (pending.length < HEADER + MAC) return;
          await readHeader(pending);
          pending = pending.subarray(HEADER + MAC);
        }
        while (pending.length > CHUNK + TAG) {
          this.push(open(pending.subarray(0, CHUNK + TAG), false));
          pending = pending.subarray(CHUNK + TAG);
        }
      };
      go().then(() => done(), done);
    },
    flush(done: TransformCallback) {
      const go = async () => {
        if (!keys) {
          if (pending.length < HEADER + MAC)
            throw new DecryptError(false, 'it is shorter than its header: not an encrypted backup');
          await readHeader(pending);
          pending = pending.subarray(HEADER + MAC);
        }
        if (pending.length < TAG) throw new DecryptError(false, 'it was cut short');
        this.push(open(pending, true));
      };
      go().then(() => done(), done);
    },
  });
}
