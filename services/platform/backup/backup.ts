// berth backup: one gzip'd tar of everything a fresh Berth needs to bring
// every app back (./manifest.ts says what, ./restore.ts reads it):
//   redis.jsonl        the platform's state at one instant (./redis-snapshot.ts)
//   repos/NNNN.bundle  each app's git repository as a bundle (`git bundle
//                      create --all`): git reads the refs, then packs what
//                      they reach, and a push only adds objects before it
//                      moves a ref, so a bundle is consistent without
//                      holding the app's build lock through a long build.
//                      The repositories are read after the snapshot, so
//                      every commit a release names is in them.
//   files/NNNN         certificates, ACME account keys, the SSH host key.
// Not in it: images (each is built again, or pulled again, from what its
// release records), build logs, Redis' own files, the stack image and the
// language runtimes (made again by npm start and the first build).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config.ts';
import { BerthError, errorLine } from '../../core/errors.ts';
import type { DataPaths } from '../../core/paths.ts';
import { Store } from '../../core/store/index.ts';
import { SCHEMA_VERSION } from '../../core/store/keys.ts';
import { VERSION } from '../../core/version.ts';
import { gitEnv, repoDir, repoGit } from '../git/repos.ts';
import { dumpDatastores } from './datastores-section.ts';
import {
  FILE_DIRS,
  type FileDir,
  FORMAT,
  FORMAT_VERSION,
  LIMITS,
  type Manifest,
  type ManifestEntry,
} from './manifest.ts';
import { LEFT_OUT, snapshotLine, takeSnapshot } from './redis-snapshot.ts';
import { padding, TAR_END, tarHeader } from './tar.ts';

export interface BackupDeps {
  redis: Redis;
  config: Config;
  paths: DataPaths;
  searchPath: string;
  /** Progress, one line at a time (stderr). */
  progress: (line: string) => void;
  /** The Engine the datastores run on: each one's dump goes in the archive. */
  docker: Docker;
  signal?: AbortSignal;
}

interface Staged {
  entry: ManifestEntry;
  /** The staged file, or the body itself. */
  file?: string;
  body?: Buffer;
}

async function hashFile(file: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}

const hashBody = (body: Buffer) => createHash('sha256').update(body).digest('hex');
const seq = (n: number) => String(n).padStart(4, '0');

/** The files of one data folder a backup keeps: regular files, a few kB each, plain names. */
async function dataFiles(root: string, dir: FileDir, progress: (l: string) => void) {
  const found: { dir: FileDir; path: string; body: Buffer }[] = [];
  const walk = async (rel: string, depth: number): Promise<void> => {
    const names = await readdir(path.join(root, rel)).catch(() => [] as string[]);
    for (const name of names.sort()) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const full = path.join(root, relPath);
      const s = await lstat(full);
      // Temporary files (".x.tmp") and anything not plainly named are not Berth's to keep.
      if (!/^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,254}$/.test(name) || name.endsWith('.tmp')) continue;
      if (s.isDirectory() && depth < 2) await walk(relPath, depth + 1);
      else if (s.isFile() && s.size <= LIMITS.file) {
        found.push({ dir, path: relPath, body: await readFile(full) });
      } else if (!s.isDirectory()) {
        progress(
          `backup: left out ${dir}/${relPath} (${s.isFile() ? 'too large' : 'not a regular file'})`,
        );
      }
    }
  };
  await walk('', 0);
  return found;
}

/**
 * Writes the archive to `out` (not ended: the caller's stream may carry
 * more). Returns the manifest. Staging goes under the data directory's
 * build-work folder and is removed, whatever happens.
 */
export async function writeBackup(d: BackupDeps, out: NodeJS.WritableStream): Promise<Manifest> {
  const { config, paths } = d;
  const prefix = config.redisPrefix;
  await mkdir(paths.buildWork, { recursive: true, mode: 0o750 });
  const stage = await mkdtemp(path.join(paths.buildWork, 'backup-'));
  try {
    const started = Date.now();
    const snapshot = await takeSnapshot(d.redis, prefix);
    const redisBody = Buffer.from(snapshot.keys.map(snapshotLine).join(''));
    const redisVersion = /redis_version:(\S+)/.exec(await d.redis.info('server'))?.[1] ?? '';
    d.progress(
      `backup: Redis: ${snapshot.keys.length} keys of ${snapshot.apps.length} apps taken at ${snapshot.at.toISOString()}`,
    );

    const env = gitEnv(d.searchPath, paths.repos);
    const repos: { app: string; staged: Staged }[] = [];
    const empty: string[] = [];
    for (const app of snapshot.apps) {
      const dir = repoDir(paths, app);
      const hasRepo = await stat(path.join(dir, 'HEAD')).then(
        () => true,
        () => false,
      );
      const git = repoGit(dir, env);
      const refs = hasRepo ? (await git.raw(['for-each-ref', '--count=1'])).trim() : '';
      if (refs === '') {
        empty.push(app);
        continue;
      }
      const name = `repos/${seq(repos.length + 1)}.bundle`;
      const file = path.join(stage, `${randomBytes(6).toString('hex')}.bundle`);
      try {
        await git.raw(['bundle', 'create', '--quiet', file, '--all']);
      } catch (e) {
        throw new BerthError('BERTH_E_BACKUP', {
          reason: `git bundle of ${app} failed: ${errorLine(e)}`,
        });
      }
      const { size, sha256 } = await hashFile(file);
      if (size > LIMITS.bundle) {
        throw new BerthError('BERTH_E_BACKUP', {
          reason: `the repository of ${app} is ${size} bytes, more than a backup holds (${LIMITS.bundle})`,
        });
      }
      repos.push({ app, staged: { entry: { name, size, sha256 }, file } });
      d.progress(`backup: repository of ${app}: ${size} bytes`);
    }

    const files: { dir: FileDir; path: string; staged: Staged }[] = [];
    for (const dir of FILE_DIRS) {
      for (const f of await dataFiles(paths[dir], dir, d.progress)) {
        const name = `files/${seq(files.length + 1)}`;
        files.push({
          dir,
          path: f.path,
          staged: { entry: { name, size: f.body.length, sha256: hashBody(f.body) }, body: f.body },
        });
      }
    }
    d.progress(`backup: ${files.length} certificate and key files`);

    // After the snapshot, which holds their records and links.
    const services = await dumpDatastores(
      {
        store: new Store(d.redis, prefix),
        docker: d.docker,
        ...(config.appNetworks ? { appNetworks: config.appNetworks } : {}),
      },
      stage,
      d.progress,
      d.signal ?? new AbortController().signal,
    );

    const redisEntry: Staged = {
      entry: { name: 'redis.jsonl', size: redisBody.length, sha256: hashBody(redisBody) },
      body: redisBody,
    };
    const manifest: Manifest = {
      format: FORMAT,
      formatVersion: FORMAT_VERSION,
      berthVersion: VERSION,
      createdAt: snapshot.at.toISOString(),
      schema: SCHEMA_VERSION,
      source: { redisPrefix: prefix, redisVersion, domain: config.domain, dataDir: paths.root },
      apps: snapshot.apps,
      sections: {
        redis: { entry: redisEntry.entry, keys: snapshot.keys.length, excluded: LEFT_OUT },
        repos: { repos: repos.map((r) => ({ app: r.app, entry: r.staged.entry })), empty },
        files: { files: files.map((f) => ({ dir: f.dir, path: f.path, entry: f.staged.entry })) },
        services: services.section,
      },
    };
    const manifestBody = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    const all: Staged[] = [
      {
        entry: { name: 'manifest.json', size: manifestBody.length, sha256: '' },
        body: manifestBody,
      },
      redisEntry,
      ...repos.map((r) => r.staged),
      ...files.map((f) => f.staged),
      ...services.section.datastores.map((s) => ({
        entry: s.entry,
        file: services.files.get(s.entry.name) as string,
      })),
    ];
    const mtime = snapshot.at;
    async function* tar(): AsyncGenerator<Buffer> {
      for (const s of all) {
        yield tarHeader(s.entry.name, s.entry.size, mtime);
        if (s.body) yield s.body;
        else if (s.file) for await (const chunk of createReadStream(s.file)) yield chunk as Buffer;
        yield padding(s.entry.size);
      }
      yield TAR_END;
    }
    let written = 0;
    // Forwards to `out` without ending it, waiting for each write (backpressure).
    const sink = new Writable({
      write(chunk: Buffer, _enc, callback) {
        written += chunk.length;
        out.write(chunk, (e) => callback(e ?? undefined));
      },
    });
    await pipeline(tar(), createGzip({ level: 6 }), sink);
    d.progress(
      `backup: done: ${snapshot.apps.length} apps, ${written} bytes, in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    return manifest;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
