// app.json's deployment tasks, as Dokku runs them
// (docs/advanced-usage/deployment-tasks.md of Dokku):
//
//   scripts.dokku.predeploy   after the image is built, before any instance of
//                             the release starts (and before the Procfile's
//                             `release` command): one container of the new
//                             image with the new release's config, its
//                             storage, networks and the limits of resource:limit
//                             APP predeploy (else _all_, else the defaults), its
//                             output streamed into the push. Exit 0: its file
//                             changes are committed to the release's image (as
//                             Dokku does: assets bundled there are served).
//                             Otherwise the deploy stops and nothing changed.
//   scripts.dokku.postdeploy  once the new release serves. Dokku fails the
//                             deploy when it fails but leaves the containers as
//                             they are: the push fails and says the release is
//                             live; nothing is rolled back.
//
// Each is stopped after DEPLOY_TASK_TIMEOUT_MS: a push waits on it while it
// holds the app's build lock, so a hung migration must not hold the app for
// ever; 10 minutes is a long migration's time, a third of the build's own
// default limit.
import { BerthError } from '../../core/errors.ts';
import type { DeploySettings, Release } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import { instanceSpec } from './instance-spec.ts';
import { ROLLOUT_DEFAULTS, type RolloutLog } from './rollout.ts';

export const DEPLOY_TASK_TIMEOUT_MS = 10 * 60_000;

/** A time limit as the push says it: `90 s`, `10m`. */
export const seconds = (ms: number): string =>
  ms < 120_000 ? `${Math.round(ms / 1000)} s` : validate.formatDuration(ms);

/** How many of a failed task's last lines the push shows again at the end. */
const LAST_LINES = 20;

export interface DeployScripts {
  predeploy?: string;
  postdeploy?: string;
}

export interface DeployTaskDeps {
  scheduler: Scheduler;
  log: RolloutLog;
  signal: AbortSignal;
  settings?: DeploySettings;
  port?: number;
  /** DEPLOY_TASK_TIMEOUT_MS unless given (tests). */
  timeoutMs?: number;
}

/** Runs one task of `release` to its end; BERTH_E_DEPLOY_PREDEPLOY or _POSTDEPLOY when it fails. */
export async function runDeployTask(
  d: DeployTaskDeps,
  release: Release,
  phase: 'predeploy' | 'postdeploy',
  command: string,
): Promise<void> {
  const timeoutMs = d.timeoutMs ?? DEPLOY_TASK_TIMEOUT_MS;
  d.log.heading(
    `Running ${phase}: ${command.length > 200 ? `${command.slice(0, 200)}…` : command}`,
  );
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([d.signal, timeout]);
  let exitCode: number | undefined;
  // Kept here too: a task stopped at its limit returns none.
  const lines: string[] = [];
  try {
    const ran = await d.scheduler.runOnce(
      instanceSpec(release, d.settings, {
        type: phase,
        instance: 0,
        command,
        port: d.port ?? ROLLOUT_DEFAULTS.port,
        stopTimeoutSec: 10,
      }),
      (line) => {
        if (lines.push(line) > LAST_LINES) lines.shift();
        d.log.detail(line);
      },
      signal,
      // Dokku commits what predeploy changed into the image the release runs.
      phase === 'predeploy' && release.image ? { commitAs: release.image } : {},
    );
    exitCode = ran.exitCode;
  } catch (e) {
    // The push went away (or Berth stops): that is not the task's failure.
    if (!timeout.aborted) throw e;
  }
  if (exitCode === 0) {
    d.log.detail(`${phase} done`);
    return;
  }
  const how =
    exitCode === undefined
      ? `stopped after ${seconds(timeoutMs)}, the longest it may run`
      : `exit code ${exitCode}`;
  const last = lines.filter((l) => l.trim() !== '').slice(-LAST_LINES);
  d.log.detail(
    `${phase} failed (${how}); ${last.length === 0 ? 'it wrote nothing' : `its last ${last.length === 1 ? 'line' : `${last.length} lines`}:`}`,
  );
  for (const line of last) d.log.detail(`  ${line.slice(0, 300)}`);
  throw new BerthError(
    phase === 'predeploy' ? 'BERTH_E_DEPLOY_PREDEPLOY' : 'BERTH_E_DEPLOY_POSTDEPLOY',
    {
      app: release.app,
      how,
      last: last.at(-1)?.slice(0, 200) ?? '(no output)',
      version: String(release.version),
    },
  );
}
