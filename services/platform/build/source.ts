// The commit a build is for, read from the app's bare repository: its files
// (to detect how to build) and the whole tree as a tar archive (the Docker
// build context) made with `git archive`, so no checkout and no `.git`.
//
// While a push waits for its build, the pushed objects are only in the push's
// quarantine directory (BuildRequest.quarantine); git reads them there with
// GIT_OBJECT_DIRECTORY=<quarantine> and the repository's own objects as the
// alternate. Without a quarantine the commit is in the repository proper.
import { mkdir, mkdtemp, readdir, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { SimpleGit } from 'simple-git';
import { BerthError } from '../../core/errors.ts';
import { dataPaths } from '../../core/paths.ts';
import { gitEnv, gitStep, repoDir, repoGit } from '../git/repos.ts';
import type { GitBuildRequest } from './types.ts';

export interface SourcePaths {
  /** The data directory. */
  root: string;
  /** dataPaths(root).repos */
  repos: string;
}

export interface TreeEntry {
  /** git's mode: 100644 a file, 100755 an executable, 120000 a symlink, 040000 a directory. */
  mode: string;
  type: 'blob' | 'tree' | 'commit';
}

/** A file larger than this is not read into memory (a Procfile, app.json, package.json are small). */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** A commit to build and the git (repository and environment) that can read it. */
export class CommitSource {
  private constructor(
    readonly app: string,
    readonly rev: string,
    readonly gitDir: string,
    private readonly git: SimpleGit,
  ) {}

  private readonly listings = new Map<string, Promise<Map<string, TreeEntry>>>();

  /**
   * Checks that `request.rev` is a commit this machine can read (in the
   * quarantine it names, or in the repository). BERTH_E_BUILD_SOURCE when not.
   */
  static async open(
    paths: SourcePaths,
    request: GitBuildRequest,
    searchPath: string,
  ): Promise<CommitSource> {
    const fail = (reason: string, cause?: unknown) =>
      new BerthError(
        'BERTH_E_BUILD_SOURCE',
        { rev: request.rev.slice(0, 7), app: request.app, reason },
        { cause },
      );
    // Job data comes from Redis: a rev that is not a commit id never reaches git's arguments.
    if (!/^[0-9a-f]{40}$/.test(request.rev)) throw fail('not a commit id');
    const gitDir = repoDir(paths, request.app);
    const objects = await realpath(path.join(gitDir, 'objects')).catch(() => undefined);
    if (objects === undefined) throw fail(`the app has no repository at ${gitDir}`);
    const env = gitEnv(searchPath, paths.repos);
    if (request.quarantine !== undefined) {
      // Job data comes from Redis: read only a quarantine inside this repository.
      const q = await realpath(request.quarantine).catch(() => undefined);
      if (q === undefined) {
        throw fail('the pushed objects are gone (the push that asked for this build has ended)');
      }
      if (path.dirname(q) !== objects)
        throw fail(`${request.quarantine} is not a quarantine of the repository`);
      env.GIT_OBJECT_DIRECTORY = q;
      env.GIT_ALTERNATE_OBJECT_DIRECTORIES = objects;
    }
    const git = repoGit(gitDir, env);
    const type = await git.catFile(['-t', request.rev]).catch((e: unknown) => {
      throw fail('the commit is not in the repository', e);
    });
    if (type.trim() !== 'commit') throw fail(`it is a ${type.trim()}, not a commit`);
    return new CommitSource(request.app, request.rev, gitDir, git);
  }

  /** The entry at `name` (a path from the root of the tree), or undefined. */
  async entry(name: string): Promise<TreeEntry | undefined> {
    const slash = name.lastIndexOf('/');
    return (await this.listing(slash === -1 ? '' : name.slice(0, slash + 1))).get(name);
  }

  /**
   * The entries of the directory `dir` ('' the root, else ending in '/'),
   * read once per build. One listing answers every question about a folder
   * (detect asks for a dozen files at the root), and a listing is never
   * silent, which matters: simple-git waits 50 ms more for a git command
   * that printed nothing (an ls-tree of a missing file), which a build paid
   * for every file it looked for and did not find.
   */
  private listing(dir: string): Promise<Map<string, TreeEntry>> {
    let found = this.listings.get(dir);
    if (found === undefined) {
      found = gitStep('ls-tree', () =>
        this.git.raw(['ls-tree', '-z', this.rev, '--', dir === '' ? '.' : dir]),
      ).then((out) => {
        const entries = new Map<string, TreeEntry>();
        // <mode> SP <type> SP <object> TAB <path> NUL
        for (const m of out.matchAll(/(\d{6}) (blob|tree|commit) [0-9a-f]+\t([^\0]*)\0/g)) {
          entries.set(m[3] as string, { mode: m[1] as string, type: m[2] as TreeEntry['type'] });
        }
        return entries;
      });
      this.listings.set(dir, found);
    }
    return found;
  }

  /** The content of the file at `name` (utf8), at most MAX_FILE_BYTES. */
  async readFile(name: string): Promise<string> {
    const object = `${this.rev}:${name}`;
    const size = Number(await gitStep('cat-file', () => this.git.catFile(['-s', object])));
    if (!(size <= MAX_FILE_BYTES)) {
      throw new BerthError('BERTH_E_GIT_FAILED', {
        command: 'cat-file',
        reason: `${name} is ${size} bytes, more than the ${MAX_FILE_BYTES} read from a commit`,
      });
    }
    return gitStep('cat-file', () => this.git.catFile(['blob', object]));
  }

  /** Writes the commit's tree as a tar archive to `file`. */
  async exportArchive(file: string): Promise<void> {
    // --verbose names each file on stderr: a silent git costs 50 ms more in simple-git (see listing).
    await gitStep('archive', () =>
      this.git.raw(['archive', '--verbose', '--format=tar', `--output=${file}`, this.rev]),
    );
  }
}

/** A fresh scratch directory for build `id`; remove it when the build ends. */
export async function makeWorkDir(dataDir: string, id: string): Promise<string> {
  const root = dataPaths(dataDir).buildWork;
  await mkdir(root, { recursive: true, mode: 0o750 });
  return mkdtemp(path.join(root, `${id}-`));
}

/**
 * Removes scratch directories older than `olderThanMs` (left by a builder that
 * was killed); a running build's directory is younger than the build timeout.
 */
export async function removeStaleWorkDirs(dataDir: string, olderThanMs: number): Promise<number> {
  const root = dataPaths(dataDir).buildWork;
  const names = await readdir(root).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    const dir = path.join(root, name);
    const s = await stat(dir).catch(() => undefined);
    if (s === undefined || Date.now() - s.mtimeMs < olderThanMs) continue;
    await rm(dir, { recursive: true, force: true });
    removed++;
  }
  return removed;
}
