// When Berth starts, what runs is brought in line with what should run,
// app by app:
//   - a release still `pending` was being rolled out when Berth stopped (or
//     was killed): nothing finishes it now, so it is `failed`;
//   - instances of any release but the app's current one (the newest that
//     succeeded) are leftovers of such a rollout, or of one that was never
//     cleaned up: they are stopped;
//   - instances the current release's formation asks for and that are gone
//     (removed, or lost with the Engine's state), or exited with nothing to
//     restart them, are started again;
//   - the route table is rebuilt from the current release's web instances
//     that actually run. Healthy instances are left alone;
//   - process types ps:stop stopped stay stopped.
// The builder service runs this before it takes builds, then for an app as
// soon as its scheduler reports one of its instances started or died
// (./reconcile-loop.ts; docker-local hears it from the Engine's events), for
// every app when a scheduler answers again after an outage, and every
// RECONCILE_INTERVAL_MS in any case; each time with the app's build lock (an
// app whose push or change is under way is skipped). So instances the Engine
// lost or moved (a dockerd restart gives them new addresses) are routed again
// within moments.
import type { Redis } from 'ioredis';
import { errorLine } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { Store } from '../../core/store/index.ts';
import { getRoutes, setRoutes } from '../routes/routes.ts';
import type { Instance } from '../scheduler/scheduler.ts';
import type { SchedulerOf } from '../scheduler/schedulers.ts';
import { waitForTcp } from './health.ts';
import { instanceSpec } from './instance-spec.ts';
import { appliesTo, ROLLOUT_DEFAULTS } from './rollout.ts';

export const RECONCILE_INTERVAL_MS = 10_000;

/**
 * Restarts after which an instance is crash-looping: the Engine restarts a
 * dying container at once, then 0.2 s, 0.4 s, ... later, so three come
 * within a second or two of a process that cannot start, while an app that
 * crashed once in a while has counted far fewer.
 */
export const CRASH_LOOP_RESTARTS = 3;

/**
 * instance.crash-looping for the app's webhooks, once per container: each
 * death brings a pass here (the Engine's events), and every pass would
 * otherwise raise it again.
 */
async function noteCrashLoops(
  store: Store,
  app: string,
  version: number,
  instances: readonly Instance[],
  log: Logger | undefined,
): Promise<void> {
  for (const i of instances.filter((x) => x.restarts >= CRASH_LOOP_RESTARTS)) {
    const data = {
      at: new Date().toISOString(),
      version,
      instance: `${i.type}.${i.instance}`,
      restarts: i.restarts,
      ...(i.exitCode === undefined ? {} : { error: `exit code ${i.exitCode}` }),
    };
    await store.notifications
      .emitOnce(app, `crash.${i.id}`, 7 * 86_400, 'instance.crash-looping', data)
      .catch((e: unknown) => log?.warn({ err: e, app }, 'could not raise instance.crash-looping'));
  }
}

export interface ReconcileResult {
  /** app vN of every release marked failed. */
  failed: string[];
  /** Instances stopped. */
  stopped: number;
  /** Instances started. */
  started: number;
  /** Apps whose route table changed. */
  rerouted: string[];
}

export interface ReconcileDeps {
  store: Store;
  /** Each app's scheduler (appSchedulers). */
  schedulerOf: SchedulerOf;
  redis?: Redis;
  log?: Logger;
  port?: number;
  stopTimeoutSec?: number;
  readyTimeoutMs?: number;
  /** BERTH_DRAIN_TIMEOUT: a new current release's predecessors are left to drain this long. */
  drainMs?: number;
  /**
   * While Berth runs: takes the app's build lock, or says it is busy (a push
   * or a change is under way), and the app is skipped this time. Absent (at
   * start, before any build runs): every app is reconciled.
   */
  lock?: (app: string) => Promise<{ release(): Promise<void> } | undefined>;
  /** Only these apps (the Engine said their containers changed); absent: every app. */
  apps?: readonly string[];
}

export async function reconcile(d: ReconcileDeps): Promise<ReconcileResult> {
  const result: ReconcileResult = { failed: [], stopped: 0, started: 0, rerouted: [] };
  const all = await d.store.apps.names();
  for (const app of d.apps ? all.filter((a) => d.apps?.includes(a)) : all) {
    const lock = d.lock ? await d.lock(app) : undefined;
    if (d.lock && !lock) continue;
    try {
      await reconcileApp(d, app, result);
    } catch (e) {
      // One app's trouble does not keep the others down.
      d.log?.error({ err: e, app }, `reconciling ${app} failed: ${errorLine(e)}`);
    } finally {
      await lock?.release();
    }
  }
  return result;
}

async function reconcileApp(d: ReconcileDeps, app: string, r: ReconcileResult): Promise<void> {
  const { store } = d;
  const scheduler = await d.schedulerOf(app);
  const redis = d.redis ?? store.redis;
  const prefix = store.keys.prefix;
  for (const release of await store.releases.list(app)) {
    if (release.status !== 'pending') continue;
    await store.releases.setStatus(
      app,
      release.version,
      'failed',
      'Berth stopped while this release was rolled out; the previous one kept running',
    );
    r.failed.push(`${app} v${release.version}`);
  }
  const current = await store.releases.current(app);
  const instances = await scheduler.list(app);
  // A release that went live moments ago has predecessors still draining
  // (the rollout stops them itself when the drain period ends).
  const drainUntil =
    current === undefined
      ? 0
      : Date.parse(current.createdAt) +
        (d.drainMs ?? ROLLOUT_DEFAULTS.drainMs) +
        (d.readyTimeoutMs ?? ROLLOUT_DEFAULTS.readyTimeoutMs) +
        60_000;
  const draining = Date.now() < drainUntil;
  // A dead instance the Engine cannot remove yet (after a restart it has
  // refused with "failed to remove root filesystem ... busy") must not keep
  // its replacement from starting: it is left for the next pass. A running
  // one that will not stop still stops the pass, as two would run otherwise.
  const retire = async (i: Instance) => {
    try {
      await scheduler.stop(i);
      r.stopped++;
    } catch (e) {
      if (i.state === 'running' || i.state === 'restarting') throw e;
      d.log?.warn(
        { err: e, app, instance: i.id },
        `could not remove a dead instance of ${app} yet (${errorLine(e)}); trying again on the next pass`,
      );
    }
  };
  for (const i of instances) {
    if (draining && current && i.release < current.version && i.state === 'running') continue;
    // One-off processes (instance 0) end on their own.
    if ((current && i.release === current.version) || i.instance === 0) continue;
    await retire(i);
  }
  if (!current?.image) return;
  // ps:stop's types stay stopped (a stop cut short is finished here).
  const settings = await store.apps.deploySettings(app);
  const { stopped } = settings;
  const mine: Instance[] = [];
  for (const i of instances.filter((x) => x.release === current.version && x.instance > 0)) {
    if (appliesTo(stopped, i.type)) {
      await scheduler.stop(i);
      r.stopped++;
      continue;
    }
    // One container per (type, instance): a restart cut short can leave two.
    const twin = mine.find((m) => m.type === i.type && m.instance === i.instance);
    if (!twin) {
      mine.push(i);
      continue;
    }
    const keep =
      twin.state === 'running' && i.state !== 'running'
        ? twin
        : i.state === 'running' && twin.state !== 'running'
          ? i
          : (twin.startedAt ?? '') >= (i.startedAt ?? '')
            ? twin
            : i;
    const drop = keep === twin ? i : twin;
    await retire(drop);
    mine.splice(mine.indexOf(twin), 1, keep);
  }
  // An instance that exited and is not restarting has nothing to bring it
  // back (the Engine was killed under it, or stopped it), and one created but
  // never started is a start cut short (with the app's lock held, no rollout
  // of Berth's is starting it): both are replaced below.
  const replaced = scheduler.keepsCount
    ? []
    : mine.filter((x) => x.state === 'exited' || x.state === 'starting');
  for (const i of replaced) {
    await retire(i);
    mine.splice(mine.indexOf(i), 1);
  }
  await noteCrashLoops(store, app, current.version, mine, d.log);
  const running: Instance[] = mine.filter((i) => i.state === 'running');
  // A scheduler that keeps the count (Swarm) replaces its lost instances
  // itself; one started here besides would be one too many once it has.
  for (const [type, count] of scheduler.keepsCount ? [] : Object.entries(current.formation)) {
    if (!(type in current.processes) || appliesTo(stopped, type)) continue;
    for (let n = 1; n <= count; n++) {
      if (mine.some((i) => i.type === type && i.instance === n)) continue;
      const started = await scheduler.start(
        instanceSpec(current, settings, {
          type,
          instance: n,
          port: d.port ?? ROLLOUT_DEFAULTS.port,
          stopTimeoutSec: d.stopTimeoutSec ?? ROLLOUT_DEFAULTS.stopTimeoutSec,
        }),
      );
      r.started++;
      if (type === 'web' && started.address) {
        const ready = await waitForTcp({
          address: started.address,
          timeoutMs: d.readyTimeoutMs ?? ROLLOUT_DEFAULTS.readyTimeoutMs,
        });
        if (ready.ok) running.push(started);
      }
    }
  }
  const backends = running
    .filter((i) => i.type === 'web' && i.address)
    .map((i) => i.address as string)
    .sort();
  const routed = await getRoutes(redis, prefix, app);
  const same =
    routed?.release === current.version &&
    JSON.stringify([...routed.backends].sort()) === JSON.stringify(backends);
  if (!same) {
    await setRoutes(redis, prefix, app, current.version, backends);
    r.rerouted.push(app);
  }
}
