// Apps made from the fixture apps under test/fixtures/apps as a push leaves
// them: a work tree with the fixture's files committed by real git, fetched
// into the app's bare repository, and built by the run's build worker
// through the real queue. Shared by the tests that build fixtures
// (buildpack-builds, app-conventions, the language tests) instead of a copy
// in each.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { systemSearchPath } from '../../services/core/programs.ts';
import type { Store } from '../../services/core/store/index.ts';
import {
  type BuildQueue,
  type BuildResult,
  enqueueBuild,
  followBuild,
} from '../../services/platform/build/queue.ts';
import { ensureRepo } from '../../services/platform/git/repos.ts';
import { FIXTURE_APPS_DIR } from './buildpacks.ts';
import { testGitEnv } from './git.ts';

const execFileP = promisify(execFile);
const GIT_ENV = testGitEnv({ PATH: systemSearchPath(process.env.PATH) });

/** git in `cwd` with the tests' identity; its trimmed output. */
export const git = async (args: string[], cwd: string): Promise<string> =>
  (await execFileP('git', args, { cwd, env: GIT_ENV })).stdout.trim();

export interface Built {
  result: BuildResult;
  lines: string[];
  ms: number;
}

export interface FixtureReposOptions {
  store: Store;
  redis: Redis;
  prefix: string;
  queue: BuildQueue;
  /** The data directory's repositories folder. */
  repos: string;
  /** Where work trees go. */
  scratch: string;
  /** The start of each app's name (a few letters and the run's id); a count follows. */
  namePrefix: string;
  /** How long a build may take; default 300 s. */
  buildTimeoutMs?: number;
}

export function fixtureRepos(o: FixtureReposOptions) {
  let apps = 0;

  /** Writes `files` into the work tree, commits and fetches it into the app's repository. */
  async function commit(app: string, work: string, files: Record<string, string>): Promise<string> {
    for (const [name, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(work, name)), { recursive: true });
      await writeFile(path.join(work, name), content);
    }
    await git(['add', '-A'], work);
    await git(['commit', '-q', '--allow-empty', '-m', 'change'], work);
    const bare = path.join(o.repos, `${app}.git`);
    await git([`--git-dir=${bare}`, 'fetch', '-q', work, '+main:refs/heads/main'], o.scratch);
    return git(['rev-parse', 'HEAD'], work);
  }

  /** A new app (owned by ada) with the files of `fixture` (and `extra`) committed, and its config. */
  async function appFrom(
    fixture: string | undefined,
    extra: Record<string, string> = {},
    config: Record<string, string> = {},
  ): Promise<{ app: string; rev: string; work: string }> {
    const app = `${o.namePrefix}${++apps}`;
    await o.store.apps.create({ name: app, owner: 'ada' });
    if (Object.keys(config).length > 0) await o.store.config.set(app, config);
    await ensureRepo({ repos: o.repos }, app);
    const work = path.join(o.scratch, 'work', app);
    await mkdir(work, { recursive: true });
    if (fixture) await cp(path.join(FIXTURE_APPS_DIR, fixture), work, { recursive: true });
    await git(['init', '-q', '-b', 'main'], work);
    return { app, work, rev: await commit(app, work, extra) };
  }

  /** Builds `rev` of `app` through the queue; its result, its lines and how long it took. */
  async function build(app: string, rev: string): Promise<Built> {
    const started = performance.now();
    const id = await enqueueBuild(o.queue, { app, rev, ref: 'refs/heads/main', pusher: 'ada' });
    const lines: string[] = [];
    const result = await followBuild(
      o.redis,
      o.prefix,
      id,
      (l) => lines.push(l),
      AbortSignal.timeout(o.buildTimeoutMs ?? 300_000),
      { queue: o.queue },
    );
    return { result, lines, ms: performance.now() - started };
  }

  const ok = (b: Built) =>
    assert.equal(b.result.status, 'succeeded', `${b.result.error}\n${b.lines.join('\n')}`);

  return { appFrom, commit, build, ok };
}
