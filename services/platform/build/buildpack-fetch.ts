// Third-party buildpacks named by git URL (`.buildpacks`, `buildpacks:add
// APP https://...#v1`), fetched by the builder on the host and mounted
// read-only into the build container beside Berth's own, as Heroku and
// Dokku fetch them. The URL passed validate.buildpackUrl when it was given;
// it is checked again here under the operator's rule of now
// (BERTH_BUILDPACK_URLS), and a host name's addresses must all be public:
// git is then pinned to those addresses (http.curloptResolve), follows no
// redirect and speaks no protocol but the URL's, so a tenant's URL cannot
// reach this server's services or its network, nor read its files.
//
// A pinned ref (#v1) is fetched once and kept in <cacheDir>/<hash of url#ref>;
// the default branch is fetched for each build into the build's own work
// directory, as Heroku fetches a buildpack without a ref for each build.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { lstat, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../../core/errors.ts';
import * as validate from '../../core/validate.ts';

/** A fetch taking longer than this is stopped. */
export const FETCH_TIMEOUT_MS = 60_000;
/** A buildpack's checked-out files may not take more than this (the .git folder included while fetching). */
export const MAX_BUILDPACK_BYTES = 50 * 1024 * 1024;

export interface FetchOptions {
  /** The buildpack as stored: its canonical `url#ref`. */
  value: string;
  /** BERTH_BUILDPACK_URLS. */
  allowed: readonly string[];
  /** Where pinned refs are kept between builds. */
  cacheDir: string;
  /** The build's scratch directory: a default branch's checkout goes here. */
  workDir: string;
  /** PATH to find git in. */
  searchPath: string;
  signal: AbortSignal;
  /** A line for the build's log. */
  progress: (line: string) => void;
  timeoutMs?: number;
  maxBytes?: number;
}

const failed = (url: string, reason: string) =>
  new BerthError('BERTH_E_BUILDPACK_FETCH', { url, reason });

/** The directory holding the buildpack's bin/detect, bin/compile and bin/release. */
export async function fetchBuildpack(o: FetchOptions): Promise<string> {
  const shown = o.value;
  let b: validate.BuildpackUrl;
  try {
    b = validate.buildpackUrl(o.value, o.allowed);
  } catch (e) {
    throw failed(shown, (e as Error).message);
  }
  const key = createHash('sha256').update(validate.buildpackUrlText(b)).digest('hex').slice(0, 16);
  const cached = path.join(o.cacheDir, key);
  if (b.ref !== undefined && (await stat(path.join(cached, '.complete')).catch(() => undefined))) {
    o.progress(`Using buildpack ${shown} (fetched before; kept for its ref ${b.ref})`);
    return path.join(cached, 'tree');
  }
  const gitConfig = ['-c', 'protocol.allow=never', '-c', 'http.followRedirects=false'];
  const scheme = new URL(b.url).protocol.replace(/:$/, '');
  gitConfig.push('-c', `protocol.${scheme}.allow=always`);
  if (!b.operatorAllowed) {
    const addresses = await addressesOf(b.host, shown, o.signal);
    // One line per address: curl tries them in order, as git would have.
    const pinned = addresses.map((a) => (a.includes(':') ? `[${a}]` : a)).join(',');
    gitConfig.push('-c', `http.curloptResolve=${b.host}:${b.port}:${pinned}`);
  }
  const base = b.ref === undefined ? o.workDir : o.cacheDir;
  await mkdir(base, { recursive: true, mode: 0o755 });
  const tmp = path.join(base, `.tmp-buildpack-${randomBytes(6).toString('hex')}`);
  const tree = path.join(tmp, 'tree');
  o.progress(`Fetching buildpack ${shown}`);
  const started = performance.now();
  try {
    await mkdir(tree, { recursive: true });
    const git = (args: string[], what: string) =>
      runGit([...gitConfig, '-C', tree, ...args], {
        searchPath: o.searchPath,
        home: tmp,
        signal: o.signal,
        timeoutMs: o.timeoutMs ?? FETCH_TIMEOUT_MS,
        watch: tree,
        maxBytes: o.maxBytes ?? MAX_BUILDPACK_BYTES,
        url: shown,
        what,
      });
    await git(['init', '-q'], 'git init');
    await git(
      ['fetch', '-q', '--depth', '1', '--no-tags', '--', b.url, b.ref ?? 'HEAD'],
      b.ref === undefined ? 'git fetch of the default branch' : `git fetch of ${b.ref}`,
    );
    await git(
      ['-c', 'core.hooksPath=/dev/null', 'checkout', '-q', '--detach', 'FETCH_HEAD'],
      'git checkout',
    );
    await rm(path.join(tree, '.git'), { recursive: true, force: true });
    for (const script of ['detect', 'compile', 'release']) {
      const s = await lstat(path.join(tree, 'bin', script)).catch(() => undefined);
      if (!s?.isFile()) {
        throw failed(
          shown,
          `it has no bin/${script} file, so it is not a buildpack (Heroku's buildpack API)`,
        );
      }
    }
    o.progress(
      `Fetched buildpack ${shown} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    if (b.ref === undefined) return tree;
    await writeFile(path.join(tmp, '.complete'), '');
    await rm(cached, { recursive: true, force: true });
    try {
      await rename(tmp, cached);
    } catch (e) {
      // Another build fetched it meanwhile: use theirs.
      if (!(await stat(path.join(cached, '.complete')).catch(() => undefined))) throw e;
      await rm(tmp, { recursive: true, force: true });
    }
    return path.join(cached, 'tree');
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** The host's addresses, every one public; else why not. */
async function addressesOf(host: string, shown: string, signal: AbortSignal): Promise<string[]> {
  if (host === '')
    throw failed(shown, 'a file URL needs the operator to allow it (BERTH_BUILDPACK_URLS)');
  let found: { address: string }[];
  try {
    found = await lookup(host, { all: true, verbatim: true });
  } catch (e) {
    throw failed(
      shown,
      `its host ${host} does not resolve (${(e as NodeJS.ErrnoException).code ?? e})`,
    );
  }
  signal.throwIfAborted();
  const internal = found.map((a) => a.address).filter((a) => !validate.isPublicAddress(a));
  if (internal.length > 0) {
    throw failed(
      shown,
      `its host ${host} resolves to ${internal.join(', ')}, an address of this server or its networks; only an operator can allow that (BERTH_BUILDPACK_URLS)`,
    );
  }
  return found.map((a) => a.address);
}

export interface GitRun {
  searchPath: string;
  home: string;
  signal: AbortSignal;
  timeoutMs: number;
  /** A folder whose size is bounded while git runs. */
  watch: string;
  maxBytes: number;
  url: string;
  what: string;
  /** The error a failure becomes; BERTH_E_BUILDPACK_FETCH unless given (git:sync has its own). */
  fail?: (reason: string) => BerthError;
}

/** git with no configuration but its arguments, stopped past its time or size; BERTH_E_BUILDPACK_FETCH when it fails. */
export function runGit(args: string[], r: GitRun): Promise<void> {
  const failed = (url: string, reason: string) =>
    r.fail ? r.fail(reason) : new BerthError('BERTH_E_BUILDPACK_FETCH', { url, reason });
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        PATH: r.searchPath,
        HOME: r.home,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_TERMINAL_PROMPT: '0',
        GIT_ASKPASS: '/bin/false',
        GIT_PROTOCOL_FROM_USER: '0',
        LC_ALL: 'C',
      },
    });
    let stderr = '';
    let stopped: string | undefined;
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    const stop = (why: string) => {
      stopped ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () => stop(`${r.what} took longer than ${r.timeoutMs / 1000} s`),
      r.timeoutMs,
    );
    const onAbort = () => stop('the build was stopped');
    r.signal.addEventListener('abort', onAbort, { once: true });
    const sizeCheck = setInterval(() => {
      void folderSize(r.watch).then((bytes) => {
        if (bytes > r.maxBytes) stop(`it is larger than ${Math.round(r.maxBytes / 1048576)} MB`);
      });
    }, 250);
    child.on('error', (e) => {
      stopped ??= `git could not run (${e.message})`;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(sizeCheck);
      r.signal.removeEventListener('abort', onAbort);
      if (r.signal.aborted) return reject(r.signal.reason);
      if (stopped !== undefined) return reject(failed(r.url, stopped));
      if (code !== 0) {
        const last = stderr.trim().split('\n').filter(Boolean).pop() ?? `exit code ${code}`;
        return reject(failed(r.url, `${r.what}: ${last.replace(/^fatal: /, '')}`));
      }
      void folderSize(r.watch).then((bytes) =>
        bytes > r.maxBytes
          ? reject(failed(r.url, `it is larger than ${Math.round(r.maxBytes / 1048576)} MB`))
          : resolve(),
      );
    });
  });
}

/** The bytes of the regular files under `dir` (symbolic links not followed). */
async function folderSize(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile()) continue;
    const s = await lstat(path.join(e.parentPath, e.name)).catch(() => undefined);
    total += s?.size ?? 0;
  }
  return total;
}
