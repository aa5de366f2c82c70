// What an instance of a release runs with, in one place for rollouts, the
// release phase, reconcile and one-off runs: the release's image, command and
// config, and the app's settings that outlive releases (storage, limits,
// the shared networks it joins). As on Heroku, the process learns where to
// listen from PORT (the app's own PORT config var when it set one, which
// Berth then checks and routes to; else Berth's) and which process it is
// from DYNO (`web.1`, `worker.2`, `run.1` for a one-off).
import type { DeploySettings, Release } from '../../core/store/index.ts';
import type { InstanceSpec } from '../scheduler/scheduler.ts';
import { containerPort } from './listen-port.ts';

export function instanceSpec(
  release: Release,
  settings:
    | Pick<DeploySettings, 'storage' | 'resources' | 'networks' | 'portsMap' | 'portsDetected'>
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
  const limits = settings?.resources[o.type] ?? settings?.resources._all_;
  const { port } = containerPort(settings, release.config, o.port);
  return {
    app: release.app,
    type: o.type,
    release: release.version,
    instance: o.instance,
    image: release.image,
    command: o.command === undefined ? (release.processes[o.type] ?? null) : o.command,
    env: { ...release.config, DYNO: `${o.type}.${Math.max(o.instance, 1)}` },
    port,
    stopTimeoutSec: o.stopTimeoutSec,
    ...(settings && settings.storage.length > 0 ? { mounts: settings.storage } : {}),
    ...(limits ? { limits } : {}),
    ...(settings && settings.networks.length > 0 ? { networks: settings.networks } : {}),
  };
}
