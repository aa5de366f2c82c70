// The few regular files of a small tar archive, read in memory: certs:add
// takes Dokku's `tar cf - server.crt server.key` on stdin. Nothing is written
// to disk and no program runs, so a name in the archive ("../x", "/etc/x")
// is only ever a string compared with "server.crt". POSIX ustar, with the
// pax ('x') and GNU long-name ('L') records GNU tar and bsdtar write.
import { gunzipSync } from 'node:zlib';

const BLOCK = 512;

/** Whether the first 512 bytes are a tar header: its checksum adds up (POSIX pax, "chksum"). */
export function looksLikeTar(data: Buffer): boolean {
  return data.length >= BLOCK && checksumOk(data.subarray(0, BLOCK));
}

/** Whether the data starts with gzip's magic number (a .tar.gz). */
export const isGzip = (data: Buffer): boolean => data[0] === 0x1f && data[1] === 0x8b;

/** Gunzips at most `limit` bytes; what is larger or not gzip throws. */
export function gunzip(data: Buffer, limit: number): Buffer {
  return gunzipSync(data, { maxOutputLength: limit });
}

function checksumOk(header: Buffer): boolean {
  const stored = octal(header, 148, 8);
  if (stored === undefined) return false;
  let sum = 0;
  // The checksum field itself counts as eight spaces.
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
  return sum === stored;
}

function octal(buf: Buffer, at: number, length: number): number | undefined {
  const text = text0(buf, at, length).trim();
  return /^[0-7]+$/.test(text) ? Number.parseInt(text, 8) : undefined;
}

/** A NUL-terminated field. */
function text0(buf: Buffer, at: number, length: number): string {
  const field = buf.subarray(at, at + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('utf8');
}

/** The path a pax extended header sets ("LEN path=VALUE\n" records). */
function paxPath(data: Buffer): string | undefined {
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = Number(data.subarray(at, space).toString('ascii'));
    if (space === -1 || !Number.isInteger(length) || length <= 0) return undefined;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    if (record.startsWith('path=')) return record.slice(5);
    at += length;
  }
  return undefined;
}

/**
 * The regular files of the archive by path ("./" dropped), later entries
 * replacing earlier ones as tar extracts them; throws Error with the reason
 * when it is not a readable tar.
 */
export function tarFiles(data: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let at = 0;
  let nextName: string | undefined;
  while (at + BLOCK <= data.length) {
    const header = data.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) break; // the end-of-archive blocks
    if (!checksumOk(header)) throw new Error(`damaged tar header at byte ${at}`);
    const size = octal(header, 124, 12);
    if (size === undefined) throw new Error(`unreadable size in the tar header at byte ${at}`);
    const body = at + BLOCK;
    if (body + size > data.length) throw new Error('the tar archive is cut short');
    const content = data.subarray(body, body + size);
    const type = String.fromCharCode(header[156] as number);
    // POSIX ustar's name prefix; GNU's own format ("ustar  ") keeps other fields there.
    const posix = header.subarray(257, 263).toString('latin1') === 'ustar\0';
    const prefix = posix ? text0(header, 345, 155) : '';
    const name =
      nextName ?? (prefix ? `${prefix}/${text0(header, 0, 100)}` : text0(header, 0, 100));
    if (type === 'x') nextName = paxPath(content) ?? nextName;
    else if (type === 'L') nextName = text0(content, 0, content.length);
    else {
      nextName = undefined;
      if (type === '0' || type === '\0') files.set(name.replace(/^(\.\/)+/, ''), content);
    }
    at = body + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}
