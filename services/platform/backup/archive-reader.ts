// Reads a backup into a staging folder and checks all of it before a
// restore changes anything: the manifest comes first and names every entry
// with its size and SHA-256; an entry it does not name, one larger than its
// kind allows or than the manifest said, one whose bytes do not match, a
// link or a device is refused with one line. The bytes read are bounded by
// the manifest's sizes, each bounded by LIMITS, so neither a gzip bomb nor
// a huge entry fills the disk.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { isBerthError } from '../../core/errors.ts';
import {
  ENTRY_NAME,
  entriesOf,
  LIMITS,
  limitOf,
  type Manifest,
  parseManifest,
} from './manifest.ts';
import { ByteReader, badArchive, nextEntry, skipPadding } from './tar.ts';

export interface StagedArchive {
  manifest: Manifest;
  /** Entry name → its staged file (for the manifest: none). */
  files: Map<string, string>;
}

const shown = (name: string) => JSON.stringify(name.slice(0, 120));

/** Reads `input` (a gzip'd tar) into `stage`, checked against its manifest. */
export async function readArchive(
  input: NodeJS.ReadableStream,
  stage: string,
): Promise<StagedArchive> {
  const gunzip = createGunzip();
  const source = input.pipe(gunzip);
  input.on('error', (e) => gunzip.destroy(e));
  const reader = new ByteReader(source as AsyncIterable<Buffer>);
  try {
    return await readEntries(reader, stage);
  } catch (e) {
    if (isBerthError(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') {
      throw badArchive('it is not a gzip file, or it is damaged');
    }
    throw e;
  } finally {
    gunzip.destroy();
  }
}

async function readEntries(reader: ByteReader, stage: string): Promise<StagedArchive> {
  const first = await nextEntry(reader).catch((e: unknown) => {
    if (isBerthError(e) && /ends without/.test(e.message)) throw badArchive('it is empty');
    throw e;
  });
  if (first === undefined) throw badArchive('it holds nothing');
  if (first.name !== 'manifest.json') {
    throw badArchive(`its first entry is ${shown(first.name)}, not manifest.json`);
  }
  if (first.size > LIMITS.manifest) {
    throw badArchive(`its manifest is ${first.size} bytes, more than ${LIMITS.manifest}`);
  }
  const body = await reader.read(first.size);
  if (body === undefined) throw badArchive('it ends in the middle of the manifest');
  await skipPadding(reader, first.size);
  const manifest = parseManifest(body.toString('utf8'));
  const expected = new Map(entriesOf(manifest).map((e) => [e.name, e]));
  const files = new Map<string, string>();
  for (;;) {
    const entry = await nextEntry(reader);
    if (entry === undefined) break;
    if (!ENTRY_NAME.test(entry.name)) {
      throw badArchive(`it holds ${shown(entry.name)}, which is not an entry of a Berth backup`);
    }
    const want = expected.get(entry.name);
    if (want === undefined) {
      throw badArchive(
        files.has(entry.name)
          ? `it holds ${entry.name} twice`
          : `it holds ${entry.name}, which its manifest does not name`,
      );
    }
    if (entry.size > limitOf(entry.name)) {
      throw badArchive(
        `${entry.name} is ${entry.size} bytes, more than the ${limitOf(entry.name)} allowed`,
      );
    }
    if (entry.size !== want.size) {
      throw badArchive(`${entry.name} is ${entry.size} bytes where its manifest says ${want.size}`);
    }
    expected.delete(entry.name);
    const file = path.join(stage, `entry-${files.size + 1}`);
    const handle = await open(file, 'wx', 0o600);
    const hash = createHash('sha256');
    let complete: boolean;
    try {
      complete = await reader.forward(entry.size, async (chunk) => {
        hash.update(chunk);
        await handle.write(chunk);
      });
    } finally {
      await handle.close();
    }
    if (!complete) throw badArchive(`it ends in the middle of ${entry.name}`);
    await skipPadding(reader, entry.size);
    if (hash.digest('hex') !== want.sha256) {
      throw badArchive(`${entry.name} does not match its SHA-256 in the manifest`);
    }
    files.set(entry.name, file);
  }
  const missing = [...expected.keys()];
  if (missing.length > 0) {
    throw badArchive(
      `it lacks ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}, which its manifest names`,
    );
  }
  return { manifest, files };
}
