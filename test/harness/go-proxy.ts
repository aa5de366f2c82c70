// A Go module proxy (GOPROXY protocol: /<module>/@v/list, .info, .mod, .zip)
// on the Docker bridge for builds, serving modules made here from a few
// files, and the go.sum lines that name them (Go's dirhash "h1:" sums), so
// that the build checks them as it would a public module's. It counts the
// zips it serves: a build that reuses the module cache fetches none.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './tmp.ts';

const run = promisify(execFile);

export interface GoModule {
  path: string;
  version: string;
  /** Files by their path in the module (go.mod among them). */
  files: Record<string, string>;
}

export interface GoProxy {
  url: string;
  /** The go.sum lines of a module version. */
  sum(path: string, version: string): string;
  /** Zips served so far. */
  downloads(): number;
  close(): Promise<void>;
}

/** Go's dirhash.Hash1: sha256 over "<sha256 hex>  <name>\n" lines, sorted by name. */
function hash1(files: Record<string, string>): string {
  const summary = Object.keys(files)
    .sort()
    .map(
      (name) =>
        `${createHash('sha256')
          .update(files[name] as string)
          .digest('hex')}  ${name}\n`,
    )
    .join('');
  return `h1:${createHash('sha256').update(summary).digest('base64')}`;
}

export async function startGoProxy(host: string, modules: readonly GoModule[]): Promise<GoProxy> {
  const dir = await tempDir('berth-goproxy');
  const zips = new Map<string, Buffer>();
  const sums = new Map<string, string>();
  for (const m of modules) {
    const prefix = `${m.path}@${m.version}`;
    const root = path.join(dir, 'src', m.version);
    const inZip: Record<string, string> = {};
    for (const [name, content] of Object.entries(m.files)) {
      await mkdir(path.dirname(path.join(root, prefix, name)), { recursive: true });
      await writeFile(path.join(root, prefix, name), content);
      inZip[`${prefix}/${name}`] = content;
    }
    const zip = path.join(dir, `${m.version}.zip`);
    // -D: no directory entries, as Go's own module zips.
    await run('zip', ['-q', '-r', '-D', '-X', zip, m.path.split('/')[0] as string], { cwd: root });
    zips.set(prefix, await readFile(zip));
    const mod = m.files['go.mod'] ?? `module ${m.path}\n`;
    sums.set(
      prefix,
      `${m.path} ${m.version} ${hash1(inZip)}\n${m.path} ${m.version}/go.mod ${hash1({ 'go.mod': mod })}\n`,
    );
  }
  let downloads = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const match = /^\/(.+)\/@v\/(list|(v[^/]+)\.(info|mod|zip))$/.exec(url.pathname);
    const mods = modules.filter((m) => m.path === match?.[1]);
    if (!match || mods.length === 0) {
      res.writeHead(404).end();
      return;
    }
    if (match[2] === 'list') {
      res.end(mods.map((m) => `${m.version}\n`).join(''));
      return;
    }
    const m = mods.find((x) => x.version === match[3]);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    if (match[4] === 'info') {
      res.end(JSON.stringify({ Version: m.version, Time: '2026-01-01T00:00:00Z' }));
    } else if (match[4] === 'mod') {
      res.end(m.files['go.mod'] ?? `module ${m.path}\n`);
    } else {
      downloads++;
      res.end(zips.get(`${m.path}@${m.version}`));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    sum: (p, v) => sums.get(`${p}@${v}`) ?? '',
    downloads: () => downloads,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
