// A release goes live: for each process type with instances in its formation
// (web first), start the new release's instances, wait until each is ready
// (its app.json startup checks; by default web: accepts TCP on its PORT,
// others: still running after Dokku's default wait, 10 s), then switch the app's routes
// to the new web instances in one step, and only then retire the previous
// release's instances. When an instance is not ready, the new instances go
// away, the old ones keep serving, and the rollout fails with the check's
// result and the last lines the instance wrote. A `release` process runs once
// first (RELEASE_PHASE). The previous release's instances stop after a drain
// period (checks:set APP wait-to-retire, else BERTH_DRAIN_TIMEOUT). Types
// ps:stop stopped are left stopped.
// A web process without app.json checks that does not listen on its PORT
// fails soon after the default wait, saying why (./listener-check.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { BerthError } from '../../core/errors.ts';
import type { DeploySettings, Release } from '../../core/store/index.ts';
import { type Healthchecks, parseHealthchecks } from '../build/app-json.ts';
import { setRoutes } from '../routes/routes.ts';
import type { Instance, Scheduler } from '../scheduler/scheduler.ts';
import { type CheckResult, checkCommand, checkHttp, waitForTcp } from './health.ts';
import { instanceSpec } from './instance-spec.ts';
import { containerPort, describeSource } from './listen-port.ts';
import { waitForListener } from './listener-check.ts';

/** The process type that runs once before a rollout instead of staying up. */
export const RELEASE_PHASE = 'release';

export const ROLLOUT_DEFAULTS = {
  /** PORT of every process, as Heroku and Dokku set it. */
  port: 5000,
  /** SIGTERM, then SIGKILL after this long. */
  stopTimeoutSec: 30,
  /** A web instance that accepts no connection within this long fails the rollout. */
  readyTimeoutMs: 60_000,
  /** A process without checks must still run after this long (Dokku's default-wait). */
  uptimeMs: 10_000,
  /** A web process that listens on nothing and uses under this much CPU (percent of one) is idle. */
  idleCpuPercent: 2,
  /** The previous release's instances keep running this long after the switch (BERTH_DRAIN_TIMEOUT). */
  drainMs: 30_000,
} as const;

export interface RolloutLog {
  heading(text: string): void;
  detail(text: string): void;
}

export interface RolloutDeps {
  scheduler: Scheduler;
  /** The route table's connection and prefix. */
  redis: Redis;
  redisPrefix: string;
  log: RolloutLog;
  signal: AbortSignal;
  port?: number;
  stopTimeoutSec?: number;
  readyTimeoutMs?: number;
  uptimeMs?: number;
  drainMs?: number;
  /** Run the Procfile's release command first (default true; false for a restart). */
  releasePhase?: boolean;
  /** Only these process types (ps:restart TYPE, ps:start): the others are left as they run. */
  types?: readonly string[];
  /** checks:disable, checks:skip and ps:stop of the app; absent: every type is checked and runs. */
  settings?: DeploySettings;
  /** Where a retirement that fails in the background is reported. */
  onRetireError?: (e: unknown) => void;
  /**
   * Instances of the app on another scheduler (scheduler:set of a running
   * app), retired with the previous release's after the switch.
   */
  elsewhere?: { scheduler: Scheduler; instances: readonly Instance[] };
}

/**
 * Whether a new instance is ready: its app.json startup checks, else the
 * default — web: accepts TCP on its PORT; others: still run after a moment.
 */
async function readyCheck(
  d: RolloutDeps,
  release: Release,
  type: string,
  instance: Instance,
  alive: () => Promise<boolean>,
): Promise<CheckResult> {
  const port = containerPort(d.settings, release.config, d.port ?? ROLLOUT_DEFAULTS.port).port;
  const address = instance.address ?? `unknown:${port}`;
  const checks = (healthchecksOf(release)[type] ?? []).filter(
    (c) => c.path !== undefined || c.command !== undefined,
  );
  if (checks.length > 0) {
    let ms = 0;
    // A path can only answer once the process accepts connections.
    if (checks.some((c) => c.path !== undefined)) {
      const up = await waitForTcp({
        address,
        timeoutMs: d.readyTimeoutMs ?? ROLLOUT_DEFAULTS.readyTimeoutMs,
        alive,
        signal: d.signal,
      });
      if (!up.ok) return up;
      ms = up.ms;
    }
    let last: CheckResult = { ok: true, ms: 0, attempts: 0 };
    for (const c of checks) {
      last =
        c.path !== undefined
          ? await checkHttp({ ...c, path: c.path, address, alive, signal: d.signal })
          : await checkCommand({
              ...c,
              command: c.command ?? [],
              exec: (argv, timeoutMs) => d.scheduler.exec(instance, argv, timeoutMs),
              alive,
              signal: d.signal,
            });
      if (!last.ok) return last;
      ms += last.ms;
      d.log.detail(
        `${type}.${instance.instance}: ${c.name ?? c.path ?? c.command?.join(' ')} passed`,
      );
    }
    return { ...last, ms };
  }
  const waitMs = defaultWaitMs(d);
  if (type === 'web') {
    return waitForListener({
      scheduler: d.scheduler,
      instance,
      address,
      port,
      timeoutMs: d.readyTimeoutMs ?? ROLLOUT_DEFAULTS.readyTimeoutMs,
      waitMs,
      idleCpuPercent: ROLLOUT_DEFAULTS.idleCpuPercent,
      alive,
      signal: d.signal,
      log: d.log,
    });
  }
  const t0 = performance.now();
  await sleep(waitMs, undefined, { signal: d.signal });
  const ms = Math.round(performance.now() - t0);
  return (await alive())
    ? { ok: true, ms, attempts: 1 }
    : { ok: false, ms, attempts: 1, reason: 'the process exited', exited: true };
}

/** checks:set APP default-wait, else the deployment's, else Dokku's 10 s. */
const defaultWaitMs = (d: RolloutDeps) =>
  d.settings?.defaultWait != null
    ? d.settings.defaultWait * 1000
    : (d.uptimeMs ?? ROLLOUT_DEFAULTS.uptimeMs);

/** The release's app.json startup checks, read again with their rules (defaults filled in). */
function healthchecksOf(release: Release): Healthchecks {
  if (Object.keys(release.healthchecks).length === 0) return {};
  return parseHealthchecks(JSON.stringify({ healthchecks: release.healthchecks }));
}

/** Whether a checks:* or ps:stop list (types, or `_all_`) covers `type`. */
export const appliesTo = (types: readonly string[] | undefined, type: string) =>
  types !== undefined && (types.includes('_all_') || types.includes(type));

/** The order types go in: web first (it takes traffic), then the others by name. */
const order = (types: string[]) =>
  types.sort((a, b) => (a === 'web' ? -1 : b === 'web' ? 1 : a.localeCompare(b)));

/** How many of a failed instance's last lines the push shows. */
const LAST_LINES = 20;
const tail = (lines: string[]) => lines.slice(-LAST_LINES).map((l) => l.slice(0, 300));

/** What to do about an instance that did not become ready, by how it failed. */
function fixFor(
  release: Release,
  type: string,
  check: Extract<CheckResult, { ok: false }>,
  address: string,
  waitMs: number,
): string {
  const app = release.app;
  const exited = check.exited === true;
  const port = address.split(':').pop();
  const other = check.listens?.[0];
  if (check.loopback) {
    return `make it listen on all addresses (0.0.0.0 or ::, such as --bind 0.0.0.0:$PORT), not 127.0.0.1`;
  }
  if (!exited && other !== undefined && (release.healthchecks[type] ?? []).length === 0) {
    return `route to the port it listens on with ports:set ${app} http:80:${other} (or config:set ${app} PORT=${other}), or make it listen on $PORT (${port})`;
  }
  if (!exited && check.listens?.length === 0) {
    return `a web process must listen on $PORT (${port}); one that serves no HTTP belongs under another Procfile type (worker: ..., then ps:scale ${app} web=0 worker=1), or deploys as it is with checks:skip ${app} web; one that listens later than ${Math.round(waitMs / 1000)} s: checks:set ${app} default-wait N`;
  }
  if (exited) {
    return `it exited: its last lines are above (logs:failed ${app} shows its whole log); fix it, then push again`;
  }
  if ((release.healthchecks[type] ?? []).length > 0) {
    return `fix what the app.json healthchecks of ${type} ask for, or deploy without them: checks:skip ${app} ${type}`;
  }
  return `make it listen on $PORT (${port} here), or set PORT to the port it listens on (config:set ${app} PORT=N); a process that serves no HTTP is deployed with checks:skip ${app} ${type}`;
}

export async function rollout(d: RolloutDeps, release: Release): Promise<Instance[]> {
  const { scheduler, log, signal } = d;
  const listen = containerPort(d.settings, release.config, d.port ?? ROLLOUT_DEFAULTS.port);
  const port = listen.port;
  if (release.image === null) throw new Error(`release v${release.version} has no image`);
  const before = await scheduler.list(release.app);
  const started: Instance[] = [];
  const included = (type: string) => d.types === undefined || d.types.includes(type);
  // Running, and never restarted: its restart policy brings a process that
  // exited back at once, which must not pass for one that kept running.
  const alive = (id: string) => async () =>
    (await scheduler.list(release.app)).some(
      (i) => i.id === id && i.state === 'running' && i.restarts === 0,
    );
  const stopTimeoutSec = d.stopTimeoutSec ?? ROLLOUT_DEFAULTS.stopTimeoutSec;
  // The release phase (Heroku's): the Procfile's `release` command runs once,
  // to its end, before any instance of the release starts; failing, it stops
  // the deploy with nothing changed (a migration that failed, say).
  const phase = release.processes[RELEASE_PHASE];
  if (phase !== undefined && phase !== null && d.releasePhase !== false) {
    log.heading(`Running the release phase: ${phase}`);
    const ran = await scheduler.runOnce(
      instanceSpec(release, d.settings, {
        type: RELEASE_PHASE,
        instance: 0,
        command: phase,
        port,
        stopTimeoutSec,
      }),
      (line) => log.detail(line),
      signal,
    );
    if (ran.exitCode !== 0) {
      throw new BerthError('BERTH_E_DEPLOY_RELEASE_PHASE', {
        app: release.app,
        code: ran.exitCode,
        last:
          ran.lines
            .filter((l) => l.trim() !== '')
            .at(-1)
            ?.slice(0, 200) ?? '(no output)',
      });
    }
  }
  try {
    for (const type of order(Object.keys(release.formation))) {
      const count = release.formation[type] ?? 0;
      if (count === 0 || type === RELEASE_PHASE) continue;
      if (!included(type)) continue;
      if (!(type in release.processes)) {
        throw new BerthError('BERTH_E_DEPLOY_NO_PROCESS', { app: release.app, type });
      }
      if (appliesTo(d.settings?.stopped, type)) {
        log.heading(
          `${type} of ${release.app} is stopped (ps:stop): v${release.version} starts it at ps:start`,
        );
        continue;
      }
      const disabled = appliesTo(d.settings?.checksDisabled, type);
      const skipped = disabled || appliesTo(d.settings?.checksSkipped, type);
      if (disabled) {
        // checks:disable: no zero-downtime for this type — the old ones go first.
        const going = before.filter((i) => i.type === type && i.instance > 0);
        if (going.length > 0) log.heading(`Stopping the ${type} instances first (checks:disable)`);
        for (const i of going) await scheduler.stop(i).catch(() => {});
      }
      log.heading(
        `Starting ${count} ${type} ${count === 1 ? 'instance' : 'instances'} of v${release.version}`,
      );
      if (type === 'web' && listen.from !== 'default') {
        log.detail(`PORT=${port}, checked and routed to: ${describeSource(listen.from)}`);
      }
      if (type === 'web' && listen.from === 'ports:set' && release.config.PORT !== undefined) {
        if (release.config.PORT !== String(port)) {
          log.detail(
            `the app's PORT=${release.config.PORT} is not used: its port mapping names ${port} (ports:clear ${release.app} uses PORT)`,
          );
        }
      }
      for (let n = 1; n <= count; n++) {
        signal.throwIfAborted();
        const instance = await scheduler.start(
          instanceSpec(release, d.settings, { type, instance: n, port, stopTimeoutSec }),
        );
        started.push(instance);
        const check = skipped
          ? ({ ok: true, ms: 0, attempts: 0 } as const)
          : await readyCheck(d, release, type, instance, alive(instance.id));
        if (!check.ok) {
          const lines = tail(await scheduler.logs(instance, LAST_LINES).catch(() => []));
          log.detail(
            `${type}.${n} is not ready: ${check.reason}; ${lines.length === 0 ? 'it wrote nothing' : `its last ${lines.length === 1 ? 'line' : `${lines.length} lines`}:`}`,
          );
          for (const line of lines) log.detail(`  ${line}`);
          throw new BerthError('BERTH_E_DEPLOY_CHECK', {
            app: release.app,
            instance: `${type}.${n}`,
            reason: check.reason,
            fix: fixFor(release, type, check, instance.address ?? `:${port}`, defaultWaitMs(d)),
          });
        }
        log.detail(
          skipped
            ? `${type}.${n} started (checks ${disabled ? 'disabled' : 'skipped'})`
            : `${type}.${n} ready in ${check.ms} ms`,
        );
      }
    }
    // One write moves the app's traffic to the new web instances (when only
    // another type was restarted, web keeps running and its route stands).
    if (included('web')) {
      const web = started
        .filter((i) => i.type === 'web' && i.address)
        .map((i) => i.address as string);
      await setRoutes(d.redis, d.redisPrefix, release.app, release.version, web);
    }
  } catch (e) {
    for (const instance of started) await scheduler.stop(instance).catch(() => {});
    throw e;
  }
  // Whatever ran before this rollout goes (the same release too: a restart);
  // one-off processes (run:detached) end on their own and are not retired.
  const old: { scheduler: Scheduler; instance: Instance }[] = [
    ...before.filter((i) => i.instance > 0 && included(i.type)),
    ...(d.elsewhere?.instances ?? []),
  ].map((instance) => ({
    instance,
    scheduler: before.includes(instance) ? scheduler : (d.elsewhere?.scheduler ?? scheduler),
  }));
  const drainMs =
    d.settings?.waitToRetire != null
      ? d.settings.waitToRetire * 1000
      : (d.drainMs ?? ROLLOUT_DEFAULTS.drainMs);
  const retire = async () => {
    for (const o of old) await o.scheduler.stop(o.instance).catch(d.onRetireError ?? (() => {}));
  };
  if (old.length > 0 && drainMs === 0) {
    log.heading(
      `Stopping ${old.length} ${old.length === 1 ? 'instance' : 'instances'} of the previous release`,
    );
    await retire();
  } else if (old.length > 0) {
    // The deploy is done: the old instances get no new requests and finish
    // what they serve, then stop, without holding the push. A Berth that
    // stops first leaves them to the next start's reconcile.
    log.detail(
      `The previous release's ${old.length} ${old.length === 1 ? 'instance stops' : 'instances stop'} in ${Math.round(drainMs / 1000)} s, once it has finished what it serves`,
    );
    setTimeout(() => void retire(), drainMs).unref();
  }
  return started;
}
