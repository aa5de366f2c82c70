// git:from-image: a prebuilt image becomes the app's next image, for teams
// that build in their own CI. It goes through the build queue like a push —
// the app's build lock, a build id, a log, builds:list — so an app still has
// one build at a time and one history; the builder tags the image
// berth/<app>:<id> (./run-build.ts) instead of building.
import { type Actor, actorName } from '../core/actor.ts';
import { BerthError } from '../core/errors.ts';
import type { Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { acquireAppLock } from './app-lock.ts';
import {
  type BuildResult,
  createBuildQueue,
  enqueueBuild,
  followBuild,
  requestCancel,
} from './queue.ts';

export interface FromImage {
  store: Store;
  actor: Actor;
  app: string;
  image: string;
  /** Each line of the build's log, as it comes. */
  onLine: (line: string) => void;
  /** Aborted: the caller went away; the build is cancelled. */
  signal: AbortSignal;
}

export async function deployFromImage(o: FromImage): Promise<BuildResult> {
  const image = validate.imageRef(o.image);
  const { redis } = o.store;
  const prefix = o.store.keys.prefix;
  const queue = createBuildQueue(redis, prefix);
  try {
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
      const id = await enqueueBuild(queue, { app: o.app, image, pusher: who });
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
