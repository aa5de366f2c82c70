// The entries of a tar (or gzipped tar) archive that git:from-archive
// deploys, read in memory and checked before anything is written: every
// path relative, no ".." part, no link that leaves the archive, no hard
// link, device or FIFO, at most ARCHIVE_MAX_FILES entries (Dokku's default),
// so writing them below a fresh directory cannot reach outside it (Dokku's
// "Archive Safety"). A single top folder (GitHub's release archives) is
// dropped, as Dokku does.
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BerthError } from '../../core/errors.ts';

/** The most an archive may hold, unpacked (a .tar.gz unpacks to at most this too). */
export const ARCHIVE_MAX_BYTES = 200 * 1024 * 1024;
/** Dokku's archive-max-files default. */
export const ARCHIVE_MAX_FILES = 10_000;

export type ArchiveEntry =
  | { kind: 'file'; path: string; data: Buffer; executable: boolean }
  | { kind: 'dir'; path: string }
  | { kind: 'symlink'; path: string; target: string };

const BLOCK = 512;
const bad = (reason: string) => new BerthError('BERTH_E_ARCHIVE', { reason });

function text0(buf: Buffer, at: number, length: number): string {
  const field = buf.subarray(at, at + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('utf8');
}

/** A numeric field: octal text, or base-256 when the high bit is set (GNU, large sizes). */
function number(buf: Buffer, at: number, length: number): number | undefined {
  const field = buf.subarray(at, at + length);
  if (((field[0] as number) & 0x80) !== 0) {
    let n = (field[0] as number) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] as number);
    return n;
  }
  const t = text0(buf, at, length).trim();
  return /^[0-7]+$/.test(t) ? Number.parseInt(t, 8) : undefined;
}

function checksumOk(header: Buffer): boolean {
  const stored = number(header, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
  return sum === stored;
}

/** pax records ("LEN key=value\n"): path and linkpath. */
function pax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = Number(data.subarray(at, space).toString('ascii'));
    if (space === -1 || !Number.isInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return out;
}

/** The archive's own path, checked: relative, no "..", no control characters; "" for its root. */
function checkedPath(name: string): string {
  if (/[\x00-\x1f\x7f\\]/.test(name))
    throw bad(
      `the path ${JSON.stringify(name.slice(0, 80))} has control characters or a backslash`,
    );
  if (name.startsWith('/')) throw bad(`${JSON.stringify(name.slice(0, 80))} is an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw bad(`${JSON.stringify(name.slice(0, 80))} leaves the archive ("..")`);
  if (parts[0] === '.git' || parts.includes('.git'))
    throw bad(`${JSON.stringify(name.slice(0, 80))} is inside a .git folder`);
  return parts.join('/');
}

/** The entries of a tar or .tar.gz; BERTH_E_ARCHIVE for anything unsafe or unreadable. */
export function archiveEntries(input: Buffer): ArchiveEntry[] {
  let data = input;
  if (data[0] === 0x1f && data[1] === 0x8b) {
    try {
      data = gunzipSync(data, { maxOutputLength: ARCHIVE_MAX_BYTES });
    } catch (e) {
      throw bad(
        `gzip data that does not unpack within ${ARCHIVE_MAX_BYTES / 1048576} MB (${(e as Error).message})`,
      );
    }
  }
  if (data.length < BLOCK || !checksumOk(data.subarray(0, BLOCK)))
    throw bad('it is not a tar archive (give --archive-type tar, or tar.gz)');
  const entries: ArchiveEntry[] = [];
  let at = 0;
  let next: Record<string, string> = {};
  while (at + BLOCK <= data.length) {
    const header = data.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) break;
    if (!checksumOk(header)) throw bad(`damaged tar header at byte ${at}`);
    const size = number(header, 124, 12);
    if (size === undefined) throw bad(`unreadable size in the tar header at byte ${at}`);
    const body = at + BLOCK;
    if (body + size > data.length) throw bad('the tar archive is cut short');
    const content = data.subarray(body, body + size);
    const type = String.fromCharCode(header[156] as number);
    const posix = header.subarray(257, 263).toString('latin1') === 'ustar\0';
    const prefix = posix ? text0(header, 345, 155) : '';
    const name =
      next.path ?? (prefix ? `${prefix}/${text0(header, 0, 100)}` : text0(header, 0, 100));
    const link = next.linkpath ?? text0(header, 157, 100);
    at = body + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      next = { ...next, ...pax(content) };
      continue;
    }
    if (type === 'L' || type === 'K') {
      next = { ...next, [type === 'L' ? 'path' : 'linkpath']: text0(content, 0, content.length) };
      continue;
    }
    if (type === 'g') continue; // a global pax header: nothing Berth reads
    next = {};
    const p = checkedPath(name);
    if (entries.length >= ARCHIVE_MAX_FILES)
      throw bad(`it has more than ${ARCHIVE_MAX_FILES} entries`);
    if (type === '0' || type === '\0' || type === '7') {
      if (p === '') throw bad('a file entry names the archive root');
      const mode = number(header, 100, 8) ?? 0o644;
      entries.push({
        kind: 'file',
        path: p,
        data: Buffer.from(content),
        executable: (mode & 0o111) !== 0,
      });
    } else if (type === '5') {
      if (p !== '') entries.push({ kind: 'dir', path: p });
    } else if (type === '2') {
      // Kept only when it points inside the archive, as a link in the app's repository.
      if (
        link.startsWith('/') ||
        path.posix.normalize(path.posix.join(path.posix.dirname(p), link)).split('/')[0] === '..'
      )
        throw bad(
          `the link ${JSON.stringify(p.slice(0, 80))} points outside the archive (${JSON.stringify(link.slice(0, 80))})`,
        );
      entries.push({ kind: 'symlink', path: p, target: link });
    } else if (type === '1') {
      throw bad(`${JSON.stringify(p.slice(0, 80))} is a hard link; give the file itself`);
    } else {
      throw bad(
        `${JSON.stringify(p.slice(0, 80))} is not a file, folder or link (tar type ${JSON.stringify(type)})`,
      );
    }
  }
  // Nothing is written through a link: an entry below one, or another entry
  // at a link's path, would be (s -> . then s/t/l -> ../../x leaves it).
  const links = new Set(entries.filter((e) => e.kind === 'symlink').map((e) => e.path));
  const seen = new Set<string>();
  for (const e of entries) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (links.has(parts.slice(0, i).join('/')))
        throw bad(`${JSON.stringify(e.path.slice(0, 80))} is below a link`);
    }
    if (e.kind === 'symlink' && seen.has(e.path))
      throw bad(`${JSON.stringify(e.path.slice(0, 80))} is a link and another entry`);
    if (links.has(e.path) && e.kind !== 'symlink')
      throw bad(`${JSON.stringify(e.path.slice(0, 80))} is a link and another entry`);
    seen.add(e.path);
  }
  return dropTopFolder(entries);
}

/** GitHub's archives hold one top folder (app-1.2.0/): its contents are the app. */
function dropTopFolder(entries: ArchiveEntry[]): ArchiveEntry[] {
  const tops = new Set(entries.map((e) => e.path.split('/')[0]));
  const [top] = tops;
  if (tops.size !== 1 || top === undefined) return entries;
  const only = entries.every(
    (e) => (e.kind === 'dir' && e.path === top) || e.path.startsWith(`${top}/`),
  );
  if (!only) return entries;
  return entries
    .filter((e) => e.path !== top)
    .map((e) => ({ ...e, path: e.path.slice(top.length + 1) }));
}
