// What an instance of a release runs with, in one place for rollouts, the
// release phase, reconcile and one-off runs: the release's image, command and
// config, and the app's settings that outlive releases (storage, limits,
// the shared networks it joins). As on Heroku, the process learns where to
// listen from PORT (the app's own PORT config var when it set one, which
// Berth then checks and routes to; else Berth's) and which process it is
// from DYNO (`web.1`, `worker.2`, `run.1` for a one-off).
import { dockerOptionFields } from '../../core/docker-options.ts';
import type { DeploySettings, Release } from '../../core/store/index.ts';
import { parseHealthchecks } from '../build/app-json.ts';
import type { InstanceSpec } from '../scheduler/scheduler.ts';
import { containerPort } from './listen-port.ts';

export function instanceSpec(
  release: Release,
  settings:
    | (Pick<DeploySettings, 'storage' | 'resources' | 'networks' | 'portsMap' | 'portsDetected'> &
        Partial<
          Pick<
            DeploySettings,
            | 'restartPolicy'
            | 'stopTimeoutSeconds'
            | 'logMaxSize'
            | 'dockerOptions'
            | 'placementConstraints'
            | 'placementPreferences'
            | 'global'
            | 'globalConfig'
            | 'checksDisabled'
            | 'checksSkipped'
          >
        >)
    | undefined,
  o: {
    type: string;
    /** 1-based; 0 for a one-off. */
    instance: number;
    /** The release's command for `type` unless given (one-offs). */
    command?: string | null;
    port: number;
    stopTimeoutSec: number;
  },
): InstanceSpec {
  if (release.image === null) throw new Error(`release v${release.version} has no image`);
  // The type's own limits, the app's every-type ones, then resource:limit --global's.
  const limits =
    settings?.resources[o.type] ??
    settings?.resources._all_ ??
    settings?.global?.resources ??
    undefined;
  const { port } = containerPort(settings, release.config, o.port);
  // ps:set and logs:set: the app's value, else the --global one; the
  // scheduler's own default where neither is set. A one-off (instance 0)
  // runs once and is stopped by its caller's own timeout.
  const longRunning = o.instance > 0;
  const restartPolicy = settings?.restartPolicy ?? settings?.global?.restartPolicy ?? null;
  const stopTimeout = settings?.stopTimeoutSeconds ?? settings?.global?.stopTimeoutSeconds ?? null;
  const logMaxSize = settings?.logMaxSize ?? settings?.global?.logMaxSize ?? null;
  const options = settings?.dockerOptions
    ? dockerOptionFields(settings.dockerOptions, longRunning ? 'deploy' : 'run')
    : undefined;
  // The checks the rollout runs for this type (as rollout.ts's readyCheck).
  const unchecked = [settings?.checksDisabled, settings?.checksSkipped].some(
    (t) => t !== undefined && (t.includes('_all_') || t.includes(o.type)),
  );
  const commandChecks =
    longRunning && !unchecked && Object.keys(release.healthchecks).length > 0
      ? (
          parseHealthchecks(JSON.stringify({ healthchecks: release.healthchecks }))[o.type] ?? []
        ).filter((c) => c.command !== undefined)
      : [];
  return {
    app: release.app,
    type: o.type,
    release: release.version,
    instance: o.instance,
    image: release.image,
    command: o.command === undefined ? (release.processes[o.type] ?? null) : o.command,
    // config:set --global under the app's own (the release's), which wins.
    env: {
      ...settings?.globalConfig,
      ...release.config,
      DYNO: `${o.type}.${Math.max(o.instance, 1)}`,
    },
    port,
    stopTimeoutSec: longRunning && stopTimeout !== null ? stopTimeout : o.stopTimeoutSec,
    ...(settings && settings.storage.length > 0 ? { mounts: settings.storage } : {}),
    ...(limits ? { limits } : {}),
    ...(settings && settings.networks.length > 0 ? { networks: settings.networks } : {}),
    ...(longRunning && restartPolicy !== null ? { restartPolicy } : {}),
    ...(logMaxSize !== null ? { logMaxSize } : {}),
    ...(options ? { dockerOptions: options } : {}),
    ...placementOf(settings),
    ...(commandChecks.length > 0 ? { commandChecks } : {}),
  };
}

/** The app's placement on the swarm, when it set any. */
function placementOf(
  settings:
    | Partial<Pick<DeploySettings, 'placementConstraints' | 'placementPreferences'>>
    | undefined,
): Pick<InstanceSpec, 'placement'> {
  const constraints = settings?.placementConstraints ?? [];
  const preferences = settings?.placementPreferences ?? [];
  return constraints.length + preferences.length > 0
    ? { placement: { constraints, preferences } }
    : {};
}
