// The app's `.dockerignore` applied to the build context, as `docker build`
// does: what it excludes never reaches the Engine, so `COPY . /app` does not
// copy it and changing it does not break the cache. The patterns follow
// Docker's rules (@balena/dockerignore, a port of Moby's matcher: paths from
// the context root, `**`, `!` exceptions, `#` comments, a leading `/` or `./`
// dropped, matching is case-sensitive). As the Docker CLI does, the
// `.dockerignore` and the Dockerfile are always sent, so the Engine can read
// them (it then leaves them out of COPY/ADD itself when they are listed).
//
// The context is `git archive`'s tar; filtering copies the kept entries'
// bytes unchanged (headers, pax records, contents), so nothing else differs.
import { open } from 'node:fs/promises';
import dockerignore from '@balena/dockerignore';

export const DOCKERIGNORE = '.dockerignore';

/** A test of a context path (no leading `./`, no trailing `/`): true when it is left out. */
export type ContextFilter = (name: string) => boolean;

/** The filter `.dockerignore`'s `content` describes; the Dockerfile and `.dockerignore` are always kept. */
export function dockerignoreFilter(content: string, dockerfile: string): ContextFilter {
  const rules = dockerignore
    .default({ ignorecase: false })
    .add(content)
    .add([`!${DOCKERIGNORE}`, `!${dockerfile}`]);
  return (name) => rules.ignores(name);
}

const BLOCK = 512;

/** A tar header's numeric field: octal text, or base-256 when the high bit is set. */
function tarNumber(field: Buffer): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let n = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
    return n;
  }
  const text = field
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

const cString = (field: Buffer) => {
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
};

/** The records of a pax extended header (`<len> <key>=<value>\n` ...). */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const length = Number.parseInt(data.subarray(at, space).toString('latin1'), 10);
    if (!(length > 0)) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return records;
}

const padded = (size: number) => Math.ceil(size / BLOCK) * BLOCK;

/**
 * Copies the tar archive `from` to `to` without the entries `excluded` says
 * are left out (with their pax headers). Resolves with how many were left out.
 */
export async function filterTar(
  from: string,
  to: string,
  excluded: ContextFilter,
): Promise<number> {
  const input = await open(from, 'r');
  const output = await open(to, 'wx', 0o600);
  try {
    const total = (await input.stat()).size;
    const header = Buffer.alloc(BLOCK);
    const chunk = Buffer.alloc(1 << 20);
    // The bytes of the pax/long-name headers before the entry they describe.
    let pending: Buffer[] = [];
    let pax = new Map<string, string>();
    let longName: string | undefined;
    let left = 0;
    let at = 0;
    const copy = async (start: number, length: number) => {
      for (let done = 0; done < length; ) {
        const n = Math.min(chunk.length, length - done);
        const { bytesRead } = await input.read(chunk, 0, n, start + done);
        if (bytesRead !== n) throw new Error('the context archive ends early');
        await output.write(chunk, 0, n);
        done += n;
      }
    };
    while (at + BLOCK <= total) {
      await input.read(header, 0, BLOCK, at);
      // The end: zero blocks; copied as they are.
      if (header.every((b) => b === 0)) {
        await copy(at, total - at);
        break;
      }
      const type = String.fromCharCode(header[156] ?? 0);
      const raw = tarNumber(header.subarray(124, 136));
      const described = type !== 'x' && type !== 'L' && type !== 'g';
      const size = described && pax.has('size') ? Number(pax.get('size')) : raw;
      const length = BLOCK + padded(size);
      if (at + length > total) throw new Error('the context archive ends early');
      if (type === 'x' || type === 'L') {
        // Describes the next entry: kept or dropped with it.
        const data = Buffer.alloc(size);
        await input.read(data, 0, size, at + BLOCK);
        if (type === 'x') for (const [k, v] of paxRecords(data)) pax.set(k, v);
        else longName = cString(data);
        const whole = Buffer.alloc(length);
        await input.read(whole, 0, length, at);
        pending.push(whole);
      } else if (type === 'g') {
        // A global header (git's commit id): always kept.
        await copy(at, length);
      } else {
        const prefix = cString(header.subarray(345, 500));
        const name =
          pax.get('path') ??
          longName ??
          (prefix === '' ? '' : `${prefix}/`) + cString(header.subarray(0, 100));
        const clean = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
        if (clean !== '' && excluded(clean)) left++;
        else {
          for (const b of pending) await output.write(b);
          await copy(at, length);
        }
        pending = [];
        pax = new Map();
        longName = undefined;
      }
      at += length;
    }
    return left;
  } finally {
    await input.close();
    await output.close();
  }
}
