// The tar stream a backup is: POSIX ustar, regular files only, written and
// read as a stream so an archive of many gigabytes never sits in memory.
// Berth writes entry names of a fixed shape (manifest.json, redis.jsonl,
// repos/0001.bundle, files/0001); what each holds is said by the manifest,
// so a hostile name ("../etc/passwd", "/root/x") is only ever a string that
// fails to match, never a path. The reader takes nothing but regular files:
// a symbolic link, a hard link, a device or a pax header is refused.
import { BerthError } from '../../core/errors.ts';

const BLOCK = 512;

export const badArchive = (reason: string) => new BerthError('BERTH_E_BACKUP_ARCHIVE', { reason });

function octalField(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** The 512-byte ustar header of a regular file. */
export function tarHeader(name: string, size: number, mtime: Date): Buffer {
  const header = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long: ${name}`);
  header.write(name, 0, 100, 'utf8');
  header.write(octalField(0o600, 8), 100, 8, 'ascii');
  header.write(octalField(0, 8), 108, 8, 'ascii');
  header.write(octalField(0, 8), 116, 8, 'ascii');
  // 11 octal digits: up to 8 GiB; larger entries use base-256 (GNU), as tar does.
  if (size < 8 ** 11) header.write(octalField(size, 12), 124, 12, 'ascii');
  else {
    header[124] = 0x80;
    header.writeBigUInt64BE(BigInt(size), 128);
  }
  header.write(octalField(Math.floor(mtime.getTime() / 1000), 12), 136, 12, 'ascii');
  header.write('        ', 148, 8, 'ascii');
  header.write('0', 156, 1, 'ascii');
  header.write('ustar\u000000', 257, 8, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return header;
}

/** The zero bytes that round an entry of `size` bytes up to whole blocks. */
export const padding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

/** Two zero blocks: the end of the archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

/** Reads exact byte counts from a stream of chunks (a gunzip). */
export class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
    return this.buffered >= n;
  }

  /** Exactly n bytes (n small), or undefined at the end of the stream. */
  async read(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) return undefined;
    const all = Buffer.concat(this.chunks);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.buffered = all.length - n;
    return all.subarray(0, n);
  }

  /** Hands the next n bytes to `sink` chunk by chunk; false when the stream ends first. */
  async forward(n: number, sink: (chunk: Buffer) => Promise<void> | void): Promise<boolean> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.fill(1))) return false;
      const chunk = this.chunks.shift() as Buffer;
      const take = Math.min(left, chunk.length);
      if (take < chunk.length) this.chunks.unshift(chunk.subarray(take));
      this.buffered -= take;
      left -= take;
      await sink(chunk.subarray(0, take));
    }
    return true;
  }
}

export interface TarEntry {
  name: string;
  size: number;
}

const TYPE_NAMES: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '5': 'a directory',
  '6': 'a FIFO',
  x: 'a pax header',
  g: 'a pax global header',
  L: 'a GNU long name',
  K: 'a GNU long link name',
};

function parseSize(header: Buffer, name: string): number {
  const field = header.subarray(124, 136);
  if ((field[0] as number) & 0x80) {
    const big = header.readBigUInt64BE(128);
    if (field.readUInt32BE(0) !== 0x80000000 || big > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw badArchive(`the size of ${name} is out of range`);
    }
    return Number(big);
  }
  const text = field.toString('ascii').replace(/[\0 ]+$/, '');
  if (!/^[0-7]{1,11}$/.test(text)) throw badArchive(`the size of ${name} is not a number`);
  return Number.parseInt(text, 8);
}

function checksumOk(header: Buffer): boolean {
  const text = header
    .subarray(148, 156)
    .toString('ascii')
    .replace(/[\0 ]+$/, '');
  if (!/^[0-7]{1,7}$/.test(text)) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
  return sum === Number.parseInt(text, 8);
}

/**
 * The next entry's header: its name and size. undefined at the end of the
 * archive. Anything but a regular file is refused, naming the entry.
 */
export async function nextEntry(reader: ByteReader): Promise<TarEntry | undefined> {
  const header = await reader.read(BLOCK);
  if (header === undefined) throw badArchive('it ends without the end of the tar archive');
  if (header.every((b) => b === 0)) return undefined;
  if (!checksumOk(header)) throw badArchive('a tar header is damaged (its checksum is wrong)');
  const rawName = header.subarray(0, 100);
  const end = rawName.indexOf(0);
  const prefix = header.subarray(345, 500);
  const prefixEnd = prefix.indexOf(0);
  const namePart = rawName.subarray(0, end === -1 ? 100 : end).toString('utf8');
  const prefixPart = prefix.subarray(0, prefixEnd === -1 ? 155 : prefixEnd).toString('utf8');
  const name = prefixPart === '' ? namePart : `${prefixPart}/${namePart}`;
  const shown = JSON.stringify(name.slice(0, 120));
  const type = String.fromCharCode(header[156] as number);
  if (type !== '0' && type !== '\0') {
    throw badArchive(
      `entry ${shown} is ${TYPE_NAMES[type] ?? `of type ${JSON.stringify(type)}`}; a backup holds regular files only`,
    );
  }
  return { name, size: parseSize(header, shown) };
}

/** Skips the padding after an entry's body. */
export async function skipPadding(reader: ByteReader, size: number): Promise<void> {
  const pad = (BLOCK - (size % BLOCK)) % BLOCK;
  if (pad > 0 && (await reader.read(pad)) === undefined) {
    throw badArchive('it ends in the middle of an entry');
  }
}
