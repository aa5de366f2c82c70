// A Python package index for build containers, which have no route to PyPI
// (nor has this machine). The wheels are made from Debian's packages of the
// same projects (test/fixtures/pypi/debian-wheels.py, in a container of the
// stack image, which reaches Debian's archive): Django 3.2 and its
// dependencies, gunicorn, WhiteNoise, dj-database-url, psycopg2; Flask and
// its dependencies. Made once per machine into a cache kept between runs,
// and served on the bridge's gateway as a PEP 503 "simple" index (PIP_INDEX_URL with PIP_TRUSTED_HOST: plain HTTP).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';

const SCRIPT = path.join(import.meta.dirname, '..', 'fixtures', 'pypi', 'debian-wheels.py');
const WHEELS_CACHE = path.join(os.homedir(), '.cache', 'berth-test', 'wheels');

/** Debian's packages behind the wheels the Django fixture's requirements.txt names. */
export const DJANGO_DEBS = [
  'python3-django',
  'python3-asgiref',
  'python3-sqlparse',
  'python3-tz',
  'python3-whitenoise',
  'python3-gunicorn',
  'python3-dj-database-url',
  // Debian's pytz reads it from the system; its wheel carries it (debian-wheels.py).
  'tzdata',
  // PostgreSQL's driver, and libpq with the libraries it needs that the stack
  // lacks, which its wheel carries as psycopg2-binary's does (debian-wheels.py).
  'python3-psycopg2',
  'libpq5',
  'libldap-2.5-0',
  'libsasl2-2',
] as const;

/** Debian's packages behind the wheels of the Flask fixture (python-flask). */
export const FLASK_DEBS = [
  'python3-flask',
  'python3-werkzeug',
  'python3-jinja2',
  'python3-markupsafe',
  'python3-itsdangerous',
  'python3-click',
  'python3-gunicorn',
] as const;

/** A folder of wheels made from `debs` (Debian package names); cached between runs. */
export async function debianWheels(
  docker: Docker,
  stackImage: string,
  labels: Record<string, string>,
  debs: readonly string[] = DJANGO_DEBS,
): Promise<string> {
  const key = createHash('sha256')
    .update(`${debs.join(' ')}\n${await readFile(SCRIPT, 'utf8')}`)
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(WHEELS_CACHE, key);
  if (await stat(path.join(dir, '.complete')).catch(() => undefined)) return dir;
  const partial = `${dir}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  const container = await docker.createContainer({
    Image: stackImage,
    Cmd: [
      'bash',
      '-c',
      [
        'set -euo pipefail',
        'apt-get update -qq',
        'mkdir -p /tmp/debs/root && cd /tmp/debs',
        // apt's _apt user may not write here: download as root, without a warning's worth of noise.
        `apt-get download -q -o APT::Sandbox::User=root ${debs.join(' ')}`,
        'for d in *.deb; do dpkg-deb -x "$d" root; done',
        'python3 /berth-test/debian-wheels.py root /out',
      ].join('\n'),
    ],
    Labels: labels,
    HostConfig: { Binds: [`${partial}:/out`, `${SCRIPT}:/berth-test/debian-wheels.py:ro`] },
  });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    if (StatusCode !== 0) {
      const logs = ((await container.logs({ stdout: true, stderr: true })) as Buffer).toString();
      throw new Error(`making wheels from ${debs.join(', ')} failed (${StatusCode}):\n${logs}`);
    }
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
  await writeFile(path.join(partial, '.complete'), '');
  await rename(partial, dir).catch(async (e) => {
    // Another run made them meanwhile.
    if (!(await stat(path.join(dir, '.complete')).catch(() => undefined))) throw e;
    await rm(partial, { recursive: true, force: true });
  });
  return dir;
}

export interface PypiIndex {
  /** http://host:port/simple/ (PIP_INDEX_URL). */
  url: string;
  /** host (PIP_TRUSTED_HOST: the index is plain HTTP). */
  host: string;
  /** How many wheel files were downloaded so far. */
  downloads(): number;
  close(): Promise<void>;
}

/** PEP 503's normalised project name. */
const normalise = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');

/** Serves the wheels of `dir` on `host` as a simple index. */
export async function startPypiIndex(host: string, dir: string): Promise<PypiIndex> {
  const wheels = new Map<string, { file: string; sha256: string }[]>();
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.whl'))) {
    const project = normalise(file.split('-')[0] as string);
    const sha256 = createHash('sha256')
      .update(await readFile(path.join(dir, file)))
      .digest('hex');
    wheels.set(project, [...(wheels.get(project) ?? []), { file, sha256 }]);
  }
  let downloads = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://index');
    const html = (body: string) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(`<!DOCTYPE html><html><body>\n${body}</body></html>\n`);
    };
    if (url.pathname === '/simple/') {
      return html([...wheels.keys()].map((p) => `<a href="/simple/${p}/">${p}</a>\n`).join(''));
    }
    const project = /^\/simple\/([^/]+)\/$/.exec(url.pathname)?.[1];
    if (project !== undefined) {
      const files = wheels.get(normalise(project));
      if (!files) {
        res.writeHead(404).end();
        return;
      }
      return html(
        files.map((w) => `<a href="/files/${w.file}#sha256=${w.sha256}">${w.file}</a>\n`).join(''),
      );
    }
    const file = /^\/files\/([^/]+\.whl)$/.exec(url.pathname)?.[1];
    if (file !== undefined && [...wheels.values()].flat().some((w) => w.file === file)) {
      downloads++;
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      createReadStream(path.join(dir, file)).pipe(res);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/simple/`,
    host,
    downloads: () => downloads,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
