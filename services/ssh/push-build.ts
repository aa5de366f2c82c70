// What a push of an app's deploy branch does in its pre-receive hook (the
// git side is git-service.ts): check the update, enqueue the build, stream the
// build's lines back to the pusher as they come, and say yes only when the
// build (and its release) succeeded, so git updates the branch only then. A
// push abandoned by its client cancels its build.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { actorName } from '../core/actor.ts';
import { BerthError, errorLine, isBerthError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store/index.ts';
import { holdWaiterLease } from '../platform/build/push-waiter.ts';
import {
  type BuildQueue,
  type BuildResult,
  enqueueBuild,
  followBuild,
  queuedNotice,
  requestCancel,
} from '../platform/build/queue.ts';
import { gitEnv, type RepoPaths, repoGit } from '../platform/git/repos.ts';
import type { UserActor } from './auth.ts';
import { type HookHandler, ZERO_SHA } from './hook-server.ts';

export interface PushBuildDeps {
  store: Store;
  /** The build queue, made on first use. */
  queue: () => Promise<BuildQueue>;
  paths: RepoPaths;
  /** PATH for git, the running node's directory first. */
  searchPath: string;
  log?: Logger;
  /** After the client went away: how long to wait for the cancelled build to end. */
  cancelGraceMs: number;
  /** A push stops waiting for its build after this long and fails. */
  maxBuildMs: number;
}

/** The quarantine directory the hook reported, if it really is one of this repository's. */
async function checkedQuarantine(
  reported: string | undefined,
  objects: string,
): Promise<string | undefined> {
  if (reported === undefined) return undefined;
  const real = await realpath(reported).catch(() => undefined);
  if (real === undefined || path.dirname(real) !== objects) return undefined;
  return /^(?:tmp_objdir-)?incoming-[A-Za-z0-9]+$/.test(path.basename(real)) ? real : undefined;
}

/** Follows the build to its end; when the push is abandoned, cancels it and waits a grace period. */
async function awaitBuild(
  d: PushBuildDeps,
  id: string,
  onLine: (line: string) => void,
  pushGone: AbortSignal,
): Promise<BuildResult> {
  const follow = new AbortController();
  const deadline = setTimeout(
    () =>
      follow.abort(
        new Error(`the build did not end within ${Math.round(d.maxBuildMs / 60_000)} min`),
      ),
    d.maxBuildMs,
  );
  let grace: NodeJS.Timeout | undefined;
  const onGone = () => {
    d.log?.info({ build: id }, 'push abandoned; cancelling its build');
    void requestCancel(d.store.redis, d.store.keys.prefix, id, 'the push was interrupted').catch(
      () => {},
    );
    // Not started yet: take it off the queue (an active job is locked and stays).
    void d
      .queue()
      .then((q) => q.remove(id))
      .catch(() => 0);
    grace = setTimeout(
      () => follow.abort(new Error('the build did not stop after it was cancelled')),
      d.cancelGraceMs,
    );
  };
  if (pushGone.aborted) onGone();
  else pushGone.addEventListener('abort', onGone, { once: true });
  try {
    return await followBuild(d.store.redis, d.store.keys.prefix, id, onLine, follow.signal, {
      queue: await d.queue(),
      onQueued: queuedNotice(onLine, d.maxBuildMs),
    });
  } catch (e) {
    if (!follow.signal.aborted) throw e;
    return { status: 'failed', error: errorLine(follow.signal.reason) };
  } finally {
    clearTimeout(deadline);
    if (grace) clearTimeout(grace);
    pushGone.removeEventListener('abort', onGone);
  }
}

/** The pre-receive decision for one push to `app` by `actor`. */
export function preReceive(
  d: PushBuildDeps,
  actor: UserActor,
  app: string,
  dir: string,
  state: { accepted: boolean },
): HookHandler {
  return async ({ updates, quarantine }, reply, signal) => {
    const current = await d.store.apps.get(app);
    if (current === undefined) {
      reply.line(` !     App ${app} was destroyed during the push`);
      return 1;
    }
    const branch = current.deployBranch;
    const update = updates.find((u) => u.ref === `refs/heads/${branch}`);
    if (update === undefined) {
      // Other branches and tags are stored, not deployed; a pushed branch
      // says so, as Dokku's "you must push to main" does, with both ways on.
      for (const u of updates) {
        if (!u.ref.startsWith('refs/heads/') || u.new === ZERO_SHA) continue;
        const pushed = u.ref.slice('refs/heads/'.length);
        reply.line(
          `-----> ${pushed} was stored, not deployed: the deploy branch of ${app} is ${branch}`,
        );
        reply.line(
          `       To deploy it: git push <remote> ${pushed}:${branch}, or make it the deploy branch: berth git:set ${app} deploy-branch ${pushed}`,
        );
      }
      state.accepted = true;
      return 0;
    }
    if (update.new === ZERO_SHA) {
      reply.line(` !     ${branch} is the deploy branch of ${app}; it cannot be deleted`);
      reply.line(` !     Pick another first: berth git:set ${app} deploy-branch BRANCH`);
      return 1;
    }
    // Where git keeps the pushed objects until the hook says yes (checked, not trusted).
    const objects = await realpath(path.join(dir, 'objects'));
    const q = await checkedQuarantine(quarantine, objects);
    const env = {
      ...gitEnv(d.searchPath, d.paths.repos),
      ...(q === undefined
        ? {}
        : { GIT_OBJECT_DIRECTORY: q, GIT_ALTERNATE_OBJECT_DIRECTORIES: objects }),
    };
    const type = await repoGit(dir, env)
      .catFile(['-t', update.new])
      .catch(() => '');
    if (type.trim() !== 'commit') {
      reply.line(` !     ${branch} must point to a commit; ${update.new} is not one`);
      return 1;
    }
    // apps:lock: refused before anything is built, and the branch keeps its old commit.
    if (await d.store.apps.isLocked(app)) {
      reply.line(` !     ${new BerthError('BERTH_E_APP_LOCKED', { app }).toLine()}`);
      reply.line(` !     Push rejected: nothing was built, so ${branch} was not updated.`);
      return 1;
    }
    // A build nobody will run would hold the push (and the app's lock) for
    // hours: with no builder connected, say so now and keep the old code.
    const queue = await d.queue();
    if ((await queue.getWorkersCount()) === 0) {
      reply.line(
        ' !     No builder is running, so this push cannot be built; nothing was deployed.',
      );
      reply.line(
        ' !     Check that the builder service runs (see the log of npm start), then push again.',
      );
      return 1;
    }
    let id: string;
    try {
      id = await enqueueBuild(
        queue,
        {
          app,
          rev: update.new,
          ref: update.ref,
          pusher: actorName(actor),
          ...(q === undefined ? {} : { quarantine: q }),
          waited: true,
        },
        { store: d.store },
      );
    } catch (e) {
      if (!isBerthError(e) || (e.code !== 'BERTH_E_QUOTA' && e.code !== 'BERTH_E_APP_LOCKED'))
        throw e;
      reply.line(` !     ${e.toLine()}`);
      reply.line(` !     Push rejected: nothing was built, so ${branch} was not updated.`);
      return 1;
    }
    d.log?.info({ app, build: id, rev: update.new, user: actor.user }, 'build enqueued');
    const release = await holdWaiterLease(d.store.redis, d.store.keys.prefix, id);
    let result: BuildResult;
    try {
      result = await awaitBuild(
        d,
        id,
        (line) => {
          if (!signal.aborted) reply.line(line);
        },
        signal,
      );
    } finally {
      await release();
    }
    d.log?.info({ app, build: id, status: result.status, error: result.error }, 'build ended');
    if (signal.aborted) return 1;
    if (result.status !== 'succeeded') {
      if (result.error !== undefined) reply.line(` !     ${result.error}`);
      if (result.failedAt === 'release') {
        reply.line(
          ` !     Push rejected: the build succeeded but its release did not go live, so ${branch} was not updated; the previous release serves on.`,
        );
      } else {
        reply.line(` !     Push rejected: the build failed, so ${branch} was not updated.`);
      }
      reply.line(` !     Fix it and push again.`);
      return 1;
    }
    state.accepted = true;
    return 0;
  };
}
