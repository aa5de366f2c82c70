// Changes the web app rolls out: rollback, scale, config, restart,
// through the same service functions as their SSH commands, handed what
// they get over SSH (cli/release-run.ts): the store, the Engine, who asks,
// and the operator's rolloutSettings (drain timeout, log archive).
//
// The API answers such a change as Heroku's does: once it is recorded (the
// new release exists, pending) with 202 and where to watch it, while the
// rollout goes on here; its lines go to the service log, its outcome to the
// release's status. Errors found before the rollout starts (a bad count, no
// release yet, the wrong right) are the answer itself. A build or change of
// the app in progress holds the app's lock: the answer waits for it, as the
// SSH command does, since the release to point at exists only then. The page's rollback
// still waits (runFor), since the page shows the outcome.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BerthError } from '../core/errors.ts';
import type { Release, Store } from '../core/store/index.ts';
import type { ReleaseRun, RolloutSettings } from '../platform/release/releases.ts';
import type { EngineClient } from './app-page.ts';
import { actorOf } from './auth.ts';

/** How long a change from the web may take before it is given up (the rollout's own checks are shorter). */
export const CHANGE_TIMEOUT_MS = 5 * 60_000;

export interface ReleaseRunOptions {
  store: Store;
  engine?: EngineClient;
  /** rolloutSettings(config); tests: shorter stops and checks too. */
  settings?: RolloutSettings;
}

export interface Rollouts {
  /** What a release-making service function is handed for this request; the rollout's lines go to `lines`. */
  runFor(req: FastifyRequest, lines: string[]): Promise<ReleaseRun>;
  /**
   * Starts `change` and resolves with the release that rolls out as soon as
   * its rollout begins (the change goes on in the background), or undefined
   * when the change finished without one; rejects with its error when it
   * failed before.
   */
  begin(
    req: FastifyRequest,
    what: string,
    change: (run: ReleaseRun) => Promise<unknown>,
  ): Promise<Release | undefined>;
}

export function rollouts(server: FastifyInstance, o: ReleaseRunOptions): Rollouts {
  const running = new Set<Promise<void>>();
  // Closing the web app stops its rollouts (each marks its release failed and
  // leaves the previous one serving) rather than waiting minutes for them.
  const closing = new AbortController();
  server.addHook('onClose', async () => {
    closing.abort(
      new BerthError('BERTH_E_CHANGE_INTERRUPTED', {
        what: 'a change from the web',
        reason: 'the web service is stopping',
      }),
    );
    await Promise.allSettled(running);
  });

  async function runFor(req: FastifyRequest, lines: string[]): Promise<ReleaseRun> {
    if (!o.engine) {
      throw new BerthError('BERTH_E_USAGE', {
        reason: 'the web app has no Docker Engine configured; run the command over SSH',
      });
    }
    return {
      store: o.store,
      docker: await o.engine(),
      actor: actorOf(req),
      log: { heading: (t) => lines.push(t), detail: (t) => lines.push(`  ${t}`) },
      // Not the request's: a client that goes away must not stop a rollout halfway.
      signal: AbortSignal.any([AbortSignal.timeout(CHANGE_TIMEOUT_MS), closing.signal]),
      ...o.settings,
    };
  }

  async function begin(
    req: FastifyRequest,
    what: string,
    change: (run: ReleaseRun) => Promise<unknown>,
  ): Promise<Release | undefined> {
    const lines: string[] = [];
    let started: (r: Release) => void = () => {};
    const rolling = new Promise<Release>((resolve) => {
      started = resolve;
    });
    const done = change({ ...(await runFor(req, lines)), onRollout: (r) => started(r) });
    const log = req.log;
    const tracked = done.then(
      () => log.info({ what, rollout: lines }, 'change rolled out'),
      (e: unknown) => log.warn({ what, err: e, rollout: lines }, 'change failed'),
    );
    running.add(tracked);
    void tracked.finally(() => running.delete(tracked));
    return Promise.race([rolling, done.then(() => undefined)]);
  }

  return { runFor, begin };
}
