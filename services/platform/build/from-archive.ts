// git:from-archive (Dokku's): the checked entries of an archive
// (./archive.ts) become a commit on the app's deploy branch, its parent the
// branch's last commit, as if they had been pushed; the caller builds it.
// The files are written below a fresh folder of Berth's with O_NOFOLLOW and
// O_EXCL (archive.ts refuses entries below or at a link), and git reads them
// from there with its own index file: the app's repository never has a work tree.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BerthError } from '../../core/errors.ts';
import type { DataPaths } from '../../core/paths.ts';
import type { App } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { ensureRepo, gitEnv } from '../git/repos.ts';
import type { ArchiveEntry } from './archive.ts';

const exec = promisify(execFile);

export interface ArchiveCommit {
  paths: DataPaths;
  searchPath: string;
  app: App;
  entries: readonly ArchiveEntry[];
  /** Dokku's optional git user.name and user.email. */
  author?: { name: string; email: string };
}

/** A git author name: printable, one line, 100 characters at most. */
export function authorName(value: string): string {
  if (value.length === 0 || value.length > 100 || /[\x00-\x1f\x7f<>]/.test(value))
    throw new BerthError('BERTH_E_INVALID_NAME', {
      kind: 'git user name',
      value: JSON.stringify(value.slice(0, 40)).slice(1, -1),
      reason: 'one printable line without < or >, 100 characters at most',
    });
  return value;
}

export async function commitArchive(
  o: ArchiveCommit,
): Promise<{ rev: string; branch: string; changed: boolean }> {
  const dir = await ensureRepo(o.paths, o.app.name, {
    searchPath: o.searchPath,
    headBranch: o.app.deployBranch,
  });
  const branch = validate.branchName(o.app.deployBranch);
  const tmp = path.join(o.paths.repos, `.archive-${o.app.name}-${randomBytes(6).toString('hex')}`);
  const tree = path.join(tmp, 'tree');
  const author = o.author ?? { name: 'Berth', email: 'automated@berth.invalid' };
  const env = {
    ...gitEnv(o.searchPath, o.paths.repos),
    GIT_INDEX_FILE: path.join(tmp, 'index'),
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: author.name,
    GIT_COMMITTER_EMAIL: author.email,
  };
  const git = async (...args: string[]) =>
    (await exec('git', ['--git-dir', dir, '--work-tree', tree, ...args], { env })).stdout.trim();
  try {
    await mkdir(tree, { recursive: true, mode: 0o700 });
    for (const e of o.entries) {
      const at = path.join(tree, e.path);
      if (e.kind === 'dir') {
        await mkdir(at, { recursive: true });
        continue;
      }
      await mkdir(path.dirname(at), { recursive: true });
      if (e.kind === 'symlink') {
        await symlink(e.target, at);
        continue;
      }
      const handle = await open(
        at,
        constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
        e.executable ? 0o755 : 0o644,
      );
      try {
        await handle.writeFile(e.data);
      } finally {
        await handle.close();
      }
    }
    await git('add', '--all', '--force', '.');
    const newTree = await git('write-tree');
    const parent = await git(
      'rev-parse',
      '--verify',
      '--quiet',
      `refs/heads/${branch}^{commit}`,
    ).catch(() => '');
    if (parent !== '' && (await git('rev-parse', `${parent}^{tree}`)) === newTree)
      return { rev: parent, branch, changed: false };
    const rev = await git(
      'commit-tree',
      newTree,
      ...(parent === '' ? [] : ['-p', parent]),
      '-m',
      'Deploy from an archive (git:from-archive)',
    );
    // Only from the parent read above: a push meanwhile is not overwritten.
    await git('update-ref', `refs/heads/${branch}`, rev, parent === '' ? '0'.repeat(40) : parent);
    return { rev, branch, changed: true };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
