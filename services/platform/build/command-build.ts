// Builds a command asks for — git:from-image (a prebuilt image becomes the
// app's next image) and ps:rebuild (the deploy branch's last pushed commit
// built again) — go through the build queue like a push: the app's build
// lock, a build id, a log, builds:list. So an app still has one build at a
// time and one history; the command prints the build's lines as they come.
import { type Actor, actorName } from '../../core/actor.ts';
import { BerthError } from '../../core/errors.ts';
import type { Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { acquireAppLock } from '../locks/app-lock.ts';
import { type BuildResult, enqueueBuild, followBuild, requestCancel } from './queue.ts';

export interface CommandBuild {
  store: Store;
  actor: Actor;
  app: string;
  /** Each line of the build's log, as it comes. */
  onLine: (line: string) => void;
  /** Aborted: the caller went away; the build is cancelled. */
  signal: AbortSignal;
  /** The build's id once it is queued (the web app shows its page rather than waiting for its end). */
  onQueued?: (id: string) => void;
}

/** What to build: an image (git:from-image) or a commit already in the app's repository. */
export type CommandBuildSource = { image: string } | { rev: string; ref: string };

async function buildFromCommand(o: CommandBuild, source: CommandBuildSource): Promise<BuildResult> {
  const { redis } = o.store;
  const prefix = o.store.keys.prefix;
  const { createBuildQueue } = await import('./queue-open.ts');
  const queue = createBuildQueue(redis, prefix);
  try {
    // apps:lock first: that is the user's to undo, and says why before anything else.
    if (await o.store.apps.isLocked(o.app))
      throw new BerthError('BERTH_E_APP_LOCKED', { app: o.app });
    if ((await queue.getWorkersCount()) === 0) throw new BerthError('BERTH_E_NO_BUILDER');
    const who = actorName(o.actor);
    const lost = new AbortController();
    const signal = AbortSignal.any([o.signal, lost.signal]);
    const lock = await acquireAppLock(redis, prefix, o.app, {
      who,
      what: 'deploy',
      signal,
      onWait: (first) => {
        if (first) o.onLine(`-----> Waiting for another build of ${o.app} to finish`);
      },
      onLost: () =>
        lost.abort(new BerthError('BERTH_E_CONFLICT', { what: `the build lock of ${o.app}` })),
    });
    try {
      const id = await enqueueBuild(
        queue,
        { app: o.app, pusher: who, ...source },
        { store: o.store },
      );
      o.onQueued?.(id);
      const cancel = () =>
        void requestCancel(redis, prefix, id, 'the command was interrupted').catch(() => {});
      signal.addEventListener('abort', cancel, { once: true });
      try {
        return await followBuild(redis, prefix, id, o.onLine, signal, { queue });
      } finally {
        signal.removeEventListener('abort', cancel);
      }
    } finally {
      await lock.release();
    }
  } finally {
    await queue.close();
  }
}

/** git:from-image: the image becomes the app's next release. */
export function deployFromImage(o: CommandBuild & { image: string }): Promise<BuildResult> {
  return buildFromCommand(o, { image: validate.imageRef(o.image) });
}

/** ps:rebuild: `rev` (the deploy branch's head in the app's repository) built and released again. */
export function rebuildCommit(
  o: CommandBuild & { rev: string; branch: string },
): Promise<BuildResult> {
  return buildFromCommand(o, { rev: o.rev, ref: `refs/heads/${validate.branchName(o.branch)}` });
}
