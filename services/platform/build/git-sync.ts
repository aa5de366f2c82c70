// git:sync APP REPO [REF] (Dokku's): the app's repository takes a commit
// from a public git repository instead of a push. The URL is checked as a
// buildpack URL is (./buildpack-fetch.ts): https only, the host's
// addresses all public, git pinned to them (http.curloptResolve), no
// redirect, no other protocol, no user configuration, bounded in time and
// size; the ref goes after "--", so "--upload-pack=..." is a ref name git
// refuses, never an option. The fetched commit becomes the deploy branch
// (or, for a branch REF, that branch, made the deploy branch as on Dokku);
// the caller builds it when asked (--build).
import { lookup } from 'node:dns/promises';
import { BerthError } from '../../core/errors.ts';
import type { DataPaths } from '../../core/paths.ts';
import type { App, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { ensureRepo, gitEnv, repoGit } from '../git/repos.ts';
import { setGitSetting } from '../git/settings.ts';
import { runGit } from './buildpack-fetch.ts';

/** A sync taking longer than this is stopped. */
export const SYNC_TIMEOUT_MS = 5 * 60_000;
/** The app's repository may not grow past this while fetching. */
export const SYNC_MAX_BYTES = 1024 * 1024 * 1024;

export interface SyncOptions {
  store: Store;
  paths: DataPaths;
  searchPath: string;
  app: App;
  repo: string;
  ref?: string;
  /** BERTH_BUILDPACK_URLS: the same rule as a buildpack's URL. */
  allowed: readonly string[];
  /** --skip-deploy-branch: a branch REF does not become the deploy branch. */
  skipDeployBranch?: boolean;
  signal: AbortSignal;
  progress: (line: string) => void;
  /** Test seams for the bounds. */
  timeoutMs?: number;
  maxBytes?: number;
}

export interface SyncResult {
  rev: string;
  /** The branch that now points at it. */
  branch: string;
  /** Whether the branch moved. */
  changed: boolean;
}

export async function syncRepo(o: SyncOptions): Promise<SyncResult> {
  const target = validate.gitRepoUrl(o.repo, o.allowed);
  const ref = o.ref === undefined ? undefined : validate.gitFetchRef(o.ref);
  const fail = (reason: string) => new BerthError('BERTH_E_GIT_SYNC', { url: target.url, reason });
  const protocolConfig = [
    '-c',
    'protocol.allow=never',
    '-c',
    `protocol.${new URL(target.url).protocol.replace(/:$/, '')}.allow=always`,
    '-c',
    'http.followRedirects=false',
  ];
  if (!target.operatorAllowed) {
    const pinned = (await publicAddresses(target.host, fail)).map((a) =>
      a.includes(':') ? `[${a}]` : a,
    );
    // git is pinned to the addresses checked: no second lookup to rebind.
    protocolConfig.push(
      '-c',
      `http.curloptResolve=${target.host}:${target.port}:${pinned.join(',')}`,
    );
  }
  const dir = await ensureRepo(o.paths, o.app.name, {
    searchPath: o.searchPath,
    headBranch: o.app.deployBranch,
  });
  const env = gitEnv(o.searchPath, o.paths.repos);
  const git = (args: string[], what: string) =>
    runGit([...protocolConfig, '-C', dir, ...args], {
      searchPath: o.searchPath,
      home: o.paths.repos,
      signal: o.signal,
      timeoutMs: o.timeoutMs ?? SYNC_TIMEOUT_MS,
      watch: dir,
      maxBytes: o.maxBytes ?? SYNC_MAX_BYTES,
      url: target.url,
      what,
      fail,
    });
  o.progress(`Fetching ${target.url}${ref ? ` ${ref}` : ''}`);
  // A branch REF first (it may become the deploy branch), else a tag or commit.
  let branch: string | undefined;
  if (ref !== undefined && !/^[0-9a-f]{7,40}$/.test(ref)) {
    branch = await git(
      ['fetch', '-q', '--no-tags', '--', target.url, `refs/heads/${ref}`],
      `git fetch of ${ref}`,
    ).then(
      () => ref,
      () => undefined,
    );
  }
  if (branch === undefined) {
    await git(
      ['fetch', '-q', '--no-tags', '--', target.url, ref ?? 'HEAD'],
      `git fetch of ${ref ?? 'the default branch'}`,
    );
  }
  const rev = (
    await repoGit(dir, env)
      .revparse(['--verify', '--quiet', 'FETCH_HEAD^{commit}'])
      .catch(() => '')
  ).trim();
  if (!/^[0-9a-f]{40}$/.test(rev)) throw fail(`${ref ?? 'HEAD'} is not a commit`);
  let deployBranch = o.app.deployBranch;
  if (branch !== undefined && !o.skipDeployBranch && branch !== deployBranch) {
    await setGitSetting(o.store, o.paths, o.app, 'deploy-branch', branch);
    o.progress(`Set ${branch} as the deploy branch of ${o.app.name}`);
    deployBranch = branch;
  }
  const into = branch !== undefined && o.skipDeployBranch ? branch : deployBranch;
  const before = (
    await repoGit(dir, env)
      .revparse(['--verify', '--quiet', `refs/heads/${into}`])
      .catch(() => '')
  ).trim();
  await repoGit(dir, env).raw(['update-ref', `refs/heads/${validate.branchName(into)}`, rev]);
  o.progress(
    `${into} of ${o.app.name} is now ${rev.slice(0, 7)}${before === rev ? ' (unchanged)' : ''}`,
  );
  return { rev, branch: into, changed: before !== rev };
}

/** The host's addresses, every one public (not this server or its networks); else `fail`'s error. */
export async function publicAddresses(
  host: string,
  fail: (reason: string) => BerthError,
): Promise<string[]> {
  let found: { address: string }[];
  try {
    found = await lookup(host, { all: true, verbatim: true });
  } catch (e) {
    throw fail(`its host ${host} does not resolve (${(e as NodeJS.ErrnoException).code})`);
  }
  const internal = found.map((a) => a.address).filter((a) => !validate.isPublicAddress(a));
  if (internal.length > 0 || found.length === 0) {
    throw fail(
      `its host ${host} resolves to ${internal.join(', ') || 'nothing'}, an address of this server or its networks`,
    );
  }
  return found.map((a) => a.address);
}
