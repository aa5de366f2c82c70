// Hostile backups: berth restore reads the archive into a staging folder
// and checks every entry against the manifest before it changes anything.
// Each archive here is built by hand the way an attacker would: a name that
// climbs out of the folder, a symbolic link, an entry larger than its kind
// allows or than the manifest said, bytes that do not match, not gzip.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { readArchive } from '../../services/platform/backup/archive-reader.ts';
import {
  FORMAT,
  FORMAT_VERSION,
  LIMITS,
  type Manifest,
} from '../../services/platform/backup/manifest.ts';
import { padding, TAR_END, tarHeader } from '../../services/platform/backup/tar.ts';
import { tempDir } from '../harness/tmp.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const REDIS = Buffer.from(`${JSON.stringify({ k: 'apps', x: 0, d: 'AAAA' })}\n`);
const CERT = Buffer.from('-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');

function manifest(files: Manifest['sections']['files']['files'] = []): Manifest {
  return {
    format: FORMAT,
    formatVersion: FORMAT_VERSION,
    berthVersion: '0.1.0',
    createdAt: new Date(0).toISOString(),
    schema: 1,
    source: { redisPrefix: 'berth:', redisVersion: '7.0.0', domain: 'localhost', dataDir: '/d' },
    apps: [],
    sections: {
      redis: {
        entry: { name: 'redis.jsonl', size: REDIS.length, sha256: sha(REDIS) },
        keys: 1,
        excluded: [],
      },
      repos: { repos: [], empty: [] },
      files: { files },
      services: { datastores: [], left: [] },
    },
  };
}

type Entry = { name: string; body: Buffer; type?: string; size?: number };

function tarOf(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const size = e.size ?? e.body.length;
    const header = tarHeader(e.name.length <= 100 ? e.name : 'x', size, new Date(0));
    if (e.name.length > 100) throw new Error('name too long for this test');
    if (e.type) {
      header.write(e.type, 156, 1, 'ascii');
      header.write('        ', 148, 8, 'ascii');
      let sum = 0;
      for (const b of header) sum += b;
      header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    }
    parts.push(header, e.body, padding(e.body.length));
  }
  parts.push(TAR_END);
  return gzipSync(Buffer.concat(parts));
}

const manifestEntry = (m: Manifest): Entry => ({
  name: 'manifest.json',
  body: Buffer.from(JSON.stringify(m)),
});
const certFile = {
  dir: 'certs' as const,
  path: 'shop.example.com.pem',
  entry: { name: 'files/0001', size: CERT.length, sha256: sha(CERT) },
};

async function read(archive: Buffer) {
  const stage = await tempDir('berth-restore-stage');
  const outcome = await readArchive(Readable.from([archive]), stage).then(
    (r) => ({ ok: r }),
    (e: Error) => ({ error: e }),
  );
  return { stage, outcome };
}

async function refused(archive: Buffer, pattern: RegExp) {
  const { outcome, stage } = await read(archive);
  assert.ok('error' in outcome, 'the archive was accepted');
  assert.equal(
    (outcome.error as { code?: string }).code,
    'BERTH_E_BACKUP_ARCHIVE',
    String(outcome.error),
  );
  assert.match(outcome.error.message, pattern);
  assert.doesNotMatch(outcome.error.message, /\n/);
  return stage;
}

test('a well-formed archive is read and staged', async () => {
  const m = manifest([certFile]);
  const { outcome } = await read(
    tarOf([
      manifestEntry(m),
      { name: 'redis.jsonl', body: REDIS },
      { name: 'files/0001', body: CERT },
    ]),
  );
  assert.ok('ok' in outcome, String((outcome as { error?: Error }).error));
  assert.equal(outcome.ok.files.size, 2);
});

test('an entry whose name climbs out of the folder is refused, and nothing is written there', async () => {
  const evil = '../../../../../../tmp/berth-restore-evil';
  const stage = await refused(
    tarOf([
      manifestEntry(manifest()),
      { name: 'redis.jsonl', body: REDIS },
      { name: evil, body: CERT },
    ]),
    /not an entry of a Berth backup/,
  );
  await assert.rejects(stat(path.resolve(stage, evil)));
  await assert.rejects(stat('/tmp/berth-restore-evil'));
});

test('a file path in the manifest that climbs out of its folder is refused', async () => {
  const m = manifest([{ ...certFile, path: '../../etc/cron.d/evil' }]);
  await refused(
    tarOf([
      manifestEntry(m),
      { name: 'redis.jsonl', body: REDIS },
      { name: 'files/0001', body: CERT },
    ]),
    /manifest is not one this Berth reads \(sections\.files\.files\.0\.path/,
  );
});

test('a symbolic link is refused', async () => {
  const m = manifest([certFile]);
  await refused(
    tarOf([
      manifestEntry(m),
      { name: 'redis.jsonl', body: REDIS },
      { name: 'files/0001', body: Buffer.alloc(0), type: '2' },
    ]),
    /files\/0001" is a symbolic link/,
  );
});

test('a hard link and a directory are refused', async () => {
  const kinds: [string, string][] = [
    ['1', 'a hard link'],
    ['5', 'a directory'],
  ];
  for (const [type, what] of kinds) {
    await refused(
      tarOf([manifestEntry(manifest()), { name: 'redis.jsonl', body: Buffer.alloc(0), type }]),
      new RegExp(what),
    );
  }
});

test('an entry larger than its kind allows is refused before it is read', async () => {
  const big = LIMITS.file + 1;
  const m = manifest([{ ...certFile, entry: { ...certFile.entry, size: big } }]);
  await refused(
    tarOf([
      manifestEntry(m),
      { name: 'redis.jsonl', body: REDIS },
      { name: 'files/0001', body: CERT },
    ]),
    /would hold 1048577 bytes, more than the 1048576 allowed/,
  );
});

test('an entry larger than its manifest says is refused, and not staged', async () => {
  const huge = Buffer.alloc(512 * 1024, 0x41);
  const stage = await refused(
    tarOf([
      manifestEntry(manifest([certFile])),
      { name: 'redis.jsonl', body: REDIS },
      { name: 'files/0001', body: huge },
    ]),
    /files\/0001 is 524288 bytes where its manifest says/,
  );
  const staged = await readdir(stage);
  assert.ok(staged.length <= 1, `staged: ${staged}`);
});

test('an entry the manifest does not name, a changed byte, a missing entry, not gzip', async () => {
  await refused(
    tarOf([
      manifestEntry(manifest()),
      { name: 'redis.jsonl', body: REDIS },
      { name: 'files/0009', body: CERT },
    ]),
    /which its manifest does not name/,
  );
  const changed = Buffer.from(REDIS);
  changed[2] = 0x78;
  await refused(
    tarOf([manifestEntry(manifest()), { name: 'redis.jsonl', body: changed }]),
    /does not match its SHA-256/,
  );
  await refused(tarOf([manifestEntry(manifest())]), /lacks redis.jsonl/);
  await refused(Buffer.from('not an archive at all'), /not a gzip file/);
  await refused(tarOf([{ name: 'redis.jsonl', body: REDIS }]), /first entry is "redis.jsonl"/);
});
