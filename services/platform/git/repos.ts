// The apps' bare git repositories, `<data dir>/repos/<app>.git`. Only names
// that passed validate.appName become paths here, and git runs through
// simple-git (repoGit) with argument arrays and an environment of our making
// (no user's or system git config). Only a push's and a fetch's
// git-receive-pack and git-upload-pack are spawned directly
// (services/ssh/git-service.ts), since they stream over the SSH channel.
//
// A repository keeps git's defaults, as any git remote does (a non-fast-forward
// push needs `git push --force`), except what deploys need:
// - the pre-receive hook that deploys (hooks/pre-receive.mjs, kept current on
//   every push, so a new Berth's hook reaches old repositories), and the
//   reference-transaction hook that makes an accepted push durable before
//   git acknowledges it (hooks/reference-transaction.sh);
// - a reflog (core.logAllRefUpdates), so an operator can see what was pushed when;
// - HEAD on the deploy branch, so a clone checks out what is deployed.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type SimpleGit, simpleGit } from 'simple-git';
import { BerthError } from '../../core/errors.ts';
import type { DataPaths } from '../../core/paths.ts';
import { systemSearchPath } from '../../core/programs.ts';
import { shipped } from '../../core/runtime.ts';
import * as validate from '../../core/validate.ts';

export type RepoPaths = Pick<DataPaths, 'repos'>;

export interface GitOptions {
  /** PATH to find git in; default the standard system directories. */
  searchPath?: string;
}

/** The hook every repository gets, as hooks/pre-receive. */
export const PRE_RECEIVE_SOURCE = shipped('services/platform/git/hooks/pre-receive.mjs');

/** Every repository's hooks (name: source), kept current on every push. */
const HOOKS = {
  'pre-receive': PRE_RECEIVE_SOURCE,
  // A push's refs and objects on the disk before git acknowledges it.
  'reference-transaction': shipped('services/platform/git/hooks/reference-transaction.sh'),
} as const;

/**
 * The environment Berth runs git in: the search path, a HOME of Berth's, and
 * neither the system's nor a user's git config (a global core.hooksPath or
 * receive.* setting would change what a push does).
 */
export function gitEnv(searchPath: string, home: string): Record<string, string> {
  return {
    PATH: searchPath,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
  };
}

/** The variables Berth gives git (gitEnv, and a push's quarantine); simple-git refuses any other. */
const GIT_VARIABLES = [
  'PATH',
  'HOME',
  'GIT_CONFIG_NOSYSTEM',
  'GIT_CONFIG_GLOBAL',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
];

/**
 * git on one repository (a bare repository is its own git directory),
 * through simple-git: argument arrays, the environment given and nothing
 * else, and strict mode, so an option, a config key or a variable that could
 * run a program is refused before git starts.
 *
 * simple-git waits 50 ms more after a command that printed nothing (its
 * completion plugin; no option turns it off). On a hot path, ask git in a
 * way that answers something: a folder's listing rather than a missing
 * file's (../build/source.ts), `archive --verbose`.
 */
export function repoGit(dir: string, env: Record<string, string>): SimpleGit {
  return simpleGit({
    baseDir: dir,
    strict: true,
    allowEnvironment: GIT_VARIABLES,
    allowConfig: ['core.logAllRefUpdates'],
    // Only for `git init --template=` (empty: no sample hooks), Berth's own constant.
    unsafe: { allowUnsafeTemplateDir: true },
  }).env(env);
}

/** A git step's failure as BERTH_E_GIT_FAILED: which command, and git's last line. */
export async function gitStep<T>(command: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    const reason = text.trim().split('\n').pop() || text;
    throw new BerthError('BERTH_E_GIT_FAILED', { command, reason });
  }
}

/** `<repos>/<app>.git`, for a valid app name. */
export function repoDir(paths: RepoPaths, app: string): string {
  return path.join(paths.repos, `${validate.appName(app)}.git`);
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** Installs (or refreshes) Berth's hook; atomic, so a running push sees the old or the new. */
async function installHooks(dir: string): Promise<void> {
  const hooks = path.join(dir, 'hooks');
  for (const [name, file] of Object.entries(HOOKS)) {
    const target = path.join(hooks, name);
    const source = await readFile(file);
    const current = await readFile(target).catch(() => undefined);
    if (current?.equals(source)) continue;
    await mkdir(hooks, { recursive: true });
    const tmp = `${target}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, source, { mode: 0o755 });
    await chmod(tmp, 0o755);
    await rename(tmp, target);
  }
}

/**
 * The app's bare repository, made when missing (git init --bare, HEAD on
 * `headBranch`, default main) and its hook brought up to date. Idempotent and
 * safe to race: a new repository is made aside and renamed into place.
 */
export async function ensureRepo(
  paths: RepoPaths,
  app: string,
  options: GitOptions & { headBranch?: string } = {},
): Promise<string> {
  const dir = repoDir(paths, app);
  if (await exists(path.join(dir, 'HEAD'))) {
    await installHooks(dir);
    return dir;
  }
  const branch = validate.branchName(options.headBranch ?? 'main');
  const env = gitEnv(options.searchPath ?? systemSearchPath(undefined), paths.repos);
  await mkdir(paths.repos, { recursive: true, mode: 0o750 });
  const tmp = path.join(paths.repos, `.new-${app}-${randomBytes(4).toString('hex')}.git`);
  try {
    await mkdir(tmp);
    const git = repoGit(tmp, env);
    // No template: no sample hooks, nothing but what Berth puts there.
    await gitStep('init', () =>
      git.init(true, ['--quiet', `--initial-branch=${branch}`, '--template=']),
    );
    await gitStep('config', () => git.addConfig('core.logAllRefUpdates', 'true'));
    await installHooks(tmp);
    try {
      await rename(tmp, dir);
    } catch (e) {
      // Another push made it first (rename onto a non-empty directory fails).
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      await installHooks(dir);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** Points HEAD at the deploy branch (git:set APP deploy-branch), so clones check it out. */
export async function setRepoHead(
  paths: RepoPaths,
  app: string,
  branch: string,
  options: GitOptions = {},
): Promise<void> {
  const dir = repoDir(paths, app);
  if (!(await exists(path.join(dir, 'HEAD')))) return;
  const env = gitEnv(options.searchPath ?? systemSearchPath(undefined), paths.repos);
  const ref = `refs/heads/${validate.branchName(branch)}`;
  await gitStep('symbolic-ref', () => repoGit(dir, env).raw(['symbolic-ref', 'HEAD', ref]));
}

/** Removes the app's repository; a repository that is half removed never looks like one. */
export async function removeRepo(paths: RepoPaths, app: string): Promise<void> {
  const dir = repoDir(paths, app);
  const trash = path.join(paths.repos, `.trash-${app}-${randomBytes(4).toString('hex')}`);
  try {
    await rename(dir, trash);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await rm(trash, { recursive: true, force: true });
}

/** Moves the repository with the app (apps:rename); nothing to do when it has none yet. */
export async function renameRepo(paths: RepoPaths, from: string, to: string): Promise<void> {
  const source = repoDir(paths, from);
  const target = repoDir(paths, to);
  if (!(await exists(source))) return;
  if (await exists(target)) throw new BerthError('BERTH_E_REPO_EXISTS', { app: to, path: target });
  try {
    await rename(source, target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw new BerthError('BERTH_E_REPO_EXISTS', { app: to, path: target });
    }
    throw e;
  }
}

/**
 * repo:gc: `git gc` on the app's repository (packs loose objects, drops
 * unreachable ones past git's two-week grace, so a push writing objects now
 * loses none). false when the app has no repository yet.
 */
export async function gcRepo(
  paths: RepoPaths,
  app: string,
  options: GitOptions = {},
): Promise<boolean> {
  const dir = repoDir(paths, app);
  if (!(await exists(dir))) return false;
  const env = gitEnv(options.searchPath ?? systemSearchPath(undefined), paths.repos);
  await gitStep('gc', () => repoGit(dir, env).raw(['gc', '--quiet']));
  return true;
}
