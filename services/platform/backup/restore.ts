// berth restore: a backup (./backup.ts) brought back on a fresh Berth.
// Everything is read and checked first (./archive-reader.ts), every git
// bundle fetched into a staged repository: a bad archive changes nothing.
// Then, holding the build lock of every app in it (so the builder's
// reconciler leaves them alone), Redis' keys are replaced in one MULTI,
// the repositories moved into place and the certificate and key files
// written. Each app's images are made again, oldest release first, by the
// builder (a build of the recorded commit, or a pull of the recorded image,
// under the image's own build id so the releases name them unchanged), and
// the current release is rolled out with its formation, config and
// domains. An app whose image cannot be made is reported and the others go on.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { BerthError, errorLine } from '../../core/errors.ts';
import type { DataPaths } from '../../core/paths.ts';
import type { Release, Store } from '../../core/store/index.ts';
import { SCHEMA_VERSION } from '../../core/store/keys.ts';
import * as validate from '../../core/validate.ts';
import { appImageRepo } from '../build/image-names.ts';
import { BUILD_ID_PATTERN, type BuildQueue, enqueueBuild, followBuild } from '../build/queue.ts';
import { ensureRepo, gitEnv, removeRepo, repoDir, repoGit, setRepoHead } from '../git/repos.ts';
import { type AppLock, acquireAppLock } from '../locks/app-lock.ts';
import { reconcile } from '../release/reconcile.ts';
import type { SchedulerOf } from '../scheduler/schedulers.ts';
import { readArchive } from './archive-reader.ts';
import { restoreDatastores } from './datastores-section.ts';
import { parseSnapshotLine, restoreSnapshot, type SnapshotKey } from './redis-snapshot.ts';
import { badArchive } from './tar.ts';

export interface RestoreDeps {
  store: Store;
  paths: DataPaths;
  searchPath: string;
  schedulerOf: SchedulerOf;
  progress: (line: string) => void;
  signal: AbortSignal;
  /** BERTH_IMAGE_RETENTION: how many of an app's newest release images are made again. */
  imageRetention: number;
  drainMs?: number;
  /** The Engine the backup's datastores are made again on, and BERTH_APP_NETWORKS for theirs. */
  docker: Docker;
  appNetworks?: string;
}

export interface RestoreOptions {
  /** Replace a Berth that has apps. */
  force: boolean;
  /** Make only the current release's image of each app. */
  currentOnly: boolean;
}

export interface AppOutcome {
  app: string;
  ok: boolean;
  note: string;
}

/** What made an image: a commit to build, or an image to pull. */
type Source = { commit: string } | { image: string };

/**
 * The image's source, from the newest release naming it that records one;
 * for releases older than that field, from the description of the first
 * release with the image ("Deploy 3f2a1c9", "Deploy team/api:1.4").
 */
async function sourceOf(
  image: string,
  releases: readonly Release[],
  resolve: (short: string) => Promise<string | undefined>,
): Promise<Source | undefined> {
  const using = releases.filter((r) => r.image === image);
  const recorded = using.find((r) => r.source !== null)?.source;
  if (recorded?.startsWith('commit:')) return { commit: recorded.slice('commit:'.length) };
  if (recorded?.startsWith('image:')) return { image: recorded.slice('image:'.length) };
  const first = [...using].sort((a, b) => a.version - b.version)[0];
  const m = /^Deploy (\S+)$/.exec(first?.description ?? '');
  if (!m?.[1]) return undefined;
  if (/^[0-9a-f]{7,40}$/.test(m[1])) {
    const commit = await resolve(m[1]);
    return commit ? { commit } : undefined;
  }
  try {
    return { image: validate.imageRef(m[1]) };
  } catch {
    return undefined;
  }
}

/** The images to make again, oldest release first; the current release's always among them. */
function imagesToMake(releases: readonly Release[], current: Release | undefined, keep: number) {
  const ordered = releases
    .filter((r) => r.status === 'succeeded' && r.image !== null)
    .sort((a, b) => a.version - b.version);
  const newestFirst: string[] = [];
  for (const r of [...ordered].reverse()) {
    if (!newestFirst.includes(r.image as string)) newestFirst.push(r.image as string);
  }
  const chosen = new Set(newestFirst.slice(0, keep));
  if (current?.image) chosen.add(current.image);
  const out: string[] = [];
  for (const r of ordered) {
    if (chosen.has(r.image as string) && !out.includes(r.image as string))
      out.push(r.image as string);
  }
  return out;
}

/** Refuses a Berth that has apps, unless forced: before the archive is read. */
export async function checkTarget(store: Store, force: boolean): Promise<void> {
  const apps = await store.redis.smembers(store.keys.apps);
  if (apps.length > 0 && !force) {
    const shown = apps.sort().slice(0, 5).join(', ') + (apps.length > 5 ? ', …' : '');
    throw new BerthError('BERTH_E_RESTORE_NOT_EMPTY', { count: apps.length, apps: shown });
  }
}

export async function restoreBackup(
  d: RestoreDeps,
  input: NodeJS.ReadableStream,
  o: RestoreOptions,
): Promise<AppOutcome[]> {
  const { store, paths, progress } = d;
  const prefix = store.keys.prefix;
  await checkTarget(store, o.force);
  const { createBuildQueue } = await import('../build/queue-open.ts');
  const queue = createBuildQueue(store.redis, prefix);
  const locks = new Map<string, AppLock>();
  const stage = await mkdtemp(path.join(paths.root, '.restore-'));
  try {
    if ((await queue.getWorkersCount()) === 0) throw new BerthError('BERTH_E_NO_BUILDER');
    const started = Date.now();
    progress('restore: reading the archive');
    const { manifest, files } = await readArchive(input, stage);
    if (manifest.schema !== SCHEMA_VERSION) {
      throw badArchive(
        `its Redis data has schema version ${manifest.schema}; this Berth reads version ${SCHEMA_VERSION}`,
      );
    }
    const redisFile = files.get('redis.jsonl') as string;
    const text = await readFile(redisFile, 'utf8');
    const keys: SnapshotKey[] = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l, i) => parseSnapshotLine(l, i + 1));
    const keyNames = new Set(keys.map((k) => k.key));
    for (const app of manifest.apps) {
      if (!keyNames.has(`app:${app}`))
        throw badArchive(`its manifest names ${app}, which redis.jsonl lacks`);
    }
    progress(
      `restore: backup of ${manifest.createdAt} (Berth ${manifest.berthVersion}): ${manifest.apps.length} apps, ${keys.length} keys`,
    );

    // Each bundle into a staged repository first: git checks every object.
    const env = gitEnv(d.searchPath, paths.repos);
    const stagedRepos: { app: string; dir: string }[] = [];
    for (const [i, r] of manifest.sections.repos.repos.entries()) {
      if (!manifest.apps.includes(r.app))
        throw badArchive(`it has a repository of ${r.app}, an app it does not hold`);
      const dir = path.join(stage, `repo-${i + 1}.git`);
      await mkdir(dir);
      const git = repoGit(dir, env);
      try {
        await git.init(true, ['--quiet', '--initial-branch=main', '--template=']);
        await git.addConfig('core.logAllRefUpdates', 'true');
        await git.raw([
          '-c',
          'fetch.fsckObjects=true',
          'fetch',
          '--quiet',
          files.get(r.entry.name) as string,
          '+refs/*:refs/*',
        ]);
      } catch (e) {
        throw badArchive(
          `the repository of ${r.app} is not a usable git bundle (${errorLine(e).slice(0, 200)})`,
        );
      }
      stagedRepos.push({ app: r.app, dir });
    }
    progress(`restore: archive checked (${stagedRepos.length} repositories); restoring`);

    // From here on the platform changes: every app of the backup under its lock.
    const lost = new AbortController();
    const signal = AbortSignal.any([d.signal, lost.signal]);
    for (const app of manifest.apps) {
      locks.set(
        app,
        await acquireAppLock(store.redis, prefix, app, {
          who: 'root',
          what: 'restore',
          signal,
          onLost: () =>
            lost.abort(new BerthError('BERTH_E_CONFLICT', { what: `the build lock of ${app}` })),
        }),
      );
    }
    const written = await restoreSnapshot(store.redis, prefix, keys);
    progress(`restore: Redis: ${written} keys`);
    for (const r of stagedRepos) {
      await removeRepo(paths, r.app);
      await mkdir(paths.repos, { recursive: true, mode: 0o750 });
      await rename(r.dir, repoDir(paths, r.app));
      await ensureRepo(paths, r.app, { searchPath: d.searchPath });
      const app = await store.apps.get(r.app);
      if (app) await setRepoHead(paths, r.app, app.deployBranch, { searchPath: d.searchPath });
    }
    progress(`restore: ${stagedRepos.length} git repositories`);
    const certDomains: string[] = [];
    for (const f of manifest.sections.files.files) {
      const root = paths[f.dir];
      const target = path.resolve(root, f.path);
      if (!target.startsWith(`${path.resolve(root)}${path.sep}`)) {
        throw badArchive(`its file ${f.dir}/${f.path} is outside ${f.dir}`);
      }
      await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      const tmp = `${target}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, await readFile(files.get(f.entry.name) as string), { mode: 0o600 });
      await rename(tmp, target);
      if (f.dir === 'certs' && f.path.endsWith('.pem')) certDomains.push(f.path.slice(0, -4));
    }
    for (const domain of certDomains) await store.redis.publish(store.keys.certsChannel, domain);
    progress(`restore: ${manifest.sections.files.files.length} certificate and key files`);
    if (manifest.sections.files.files.some((f) => f.dir === 'ssh')) {
      progress(
        'restore: the SSH host key was restored; restart Berth so that its SSH server offers it (clients of the old server then see no change)',
      );
    }

    // Before the apps roll out, so that each finds its database at its start.
    const services = await restoreDatastores(
      {
        store,
        docker: d.docker,
        ...(d.appNetworks ? { appNetworks: d.appNetworks } : {}),
        schedulerOf: d.schedulerOf,
        workDir: paths.stack,
        progress,
        signal,
      },
      manifest.sections.services,
      files,
    );
    const outcomes = [
      ...(await Promise.all(manifest.apps.map((app) => restoreApp(d, queue, app, o, signal)))),
      ...services.map((s) => ({ app: s.service, ok: false, note: s.why })),
    ];
    for (const app of manifest.apps) {
      await locks.get(app)?.release();
      locks.delete(app);
    }
    const failed = outcomes.filter((a) => !a.ok);
    progress(
      `restore: done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${outcomes.length - failed.length} of ${outcomes.length - services.length} apps back${manifest.sections.services.datastores.length > 0 ? `, ${manifest.sections.services.datastores.length - services.length} of ${manifest.sections.services.datastores.length} datastores` : ''}${failed.length ? `; not back: ${failed.map((a) => a.app).join(', ')}` : ''}`,
    );
    return outcomes;
  } finally {
    for (const lock of locks.values()) await lock.release().catch(() => {});
    await queue.close();
    await rm(stage, { recursive: true, force: true });
  }
}

/** One app: its images made again, oldest first, then its current release rolled out. */
async function restoreApp(
  d: RestoreDeps,
  queue: BuildQueue,
  app: string,
  o: RestoreOptions,
  signal: AbortSignal,
): Promise<AppOutcome> {
  const { store, progress } = d;
  const say = (t: string) => progress(`restore: ${app}: ${t}`);
  try {
    const releases = await store.releases.list(app, { limit: 100_000 });
    const current = await store.releases.current(app);
    if (!current?.image) {
      say('no release with an image; nothing to roll out');
      return { app, ok: true, note: 'no release' };
    }
    const dir = repoDir(d.paths, app);
    const git = repoGit(dir, gitEnv(d.searchPath, d.paths.repos));
    const resolve = async (short: string) => {
      const rev = await git.revparse(['--verify', '--quiet', `${short}^{commit}`]).catch(() => '');
      return /^[0-9a-f]{40}$/.test(rev.trim()) ? rev.trim() : undefined;
    };
    const images = imagesToMake(releases, current, o.currentOnly ? 0 : d.imageRetention);
    for (const image of images) {
      const isCurrent = image === current.image;
      const id = image.startsWith(`${appImageRepo(app)}:`)
        ? image.slice(appImageRepo(app).length + 1)
        : '';
      const source = BUILD_ID_PATTERN.test(id)
        ? await sourceOf(image, releases, resolve)
        : undefined;
      if (source === undefined) {
        const why = `cannot tell what ${image} was made from`;
        if (isCurrent) return fail(say, app, why);
        say(`${why}; skipped (an older release)`);
        continue;
      }
      const what =
        'commit' in source ? `commit ${source.commit.slice(0, 7)}` : `image ${source.image}`;
      say(`making ${image} from ${what}`);
      const t0 = Date.now();
      const base = { app, pusher: 'root', restore: true as const };
      const buildId = await enqueueBuild(
        queue,
        'commit' in source
          ? {
              ...base,
              rev: source.commit,
              ref: `refs/heads/${(await store.apps.require(app)).deployBranch}`,
            }
          : { ...base, image: source.image },
        { restoreId: id },
      );
      const result = await followBuild(store.redis, store.keys.prefix, buildId, () => {}, signal, {
        queue,
      });
      if (result.status !== 'succeeded') {
        const why = `${image} could not be made (${result.error ?? 'the build failed'})`;
        if (isCurrent) return fail(say, app, why);
        say(`${why}; an older release, going on`);
        continue;
      }
      say(`${image} made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    const r = await reconcile({
      store,
      schedulerOf: d.schedulerOf,
      apps: [app],
      readyTimeoutMs: 60_000,
      ...(d.drainMs === undefined ? {} : { drainMs: d.drainMs }),
    });
    if (r.failed.length > 0) return fail(say, app, `rolling out failed (${r.failed.join(', ')})`);
    say(`v${current.version} rolled out (${r.started} instances started)`);
    return { app, ok: true, note: `v${current.version}` };
  } catch (e) {
    return fail(say, app, errorLine(e));
  }
}

function fail(say: (t: string) => void, app: string, why: string): AppOutcome {
  say(`NOT BACK: ${why}`);
  return { app, ok: false, note: why };
}
