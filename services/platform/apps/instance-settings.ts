// storage:* and resource:* — settings of an app's instances that outlive its
// releases (a rollback keeps them). A change is saved, then rolled out as a
// restart of what runs (new instances ready first), unless the caller says
// not to; an app not deployed yet gets them with its first release.
import { BerthError } from '../../core/errors.ts';
import type { DeploySettings } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { type ChangeDeps, restart } from '../release/release-change.ts';
import { schedulerFor } from '../scheduler/schedulers.ts';

export interface SettingChange extends ChangeDeps {
  /** false: saved only; the next deploy or ps:restart applies it (--no-restart). */
  restart: boolean;
}

/** "NAME:/path" of storage:mount and storage:unmount, checked. */
export function parseMount(arg: string): { name: string; path: string } {
  const colon = arg.indexOf(':');
  if (colon <= 0) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `"${arg.slice(0, 80)}" is not NAME:/path, such as uploads:/app/uploads`,
    });
  }
  return {
    name: validate.storageName(arg.slice(0, colon)),
    path: validate.containerPath(arg.slice(colon + 1)),
  };
}

/** Applies a saved change to what runs: a rolling restart, when something runs. */
async function apply(c: SettingChange, what: string): Promise<void> {
  const current = await c.store.releases.current(c.app);
  if (!c.restart || !current?.image) {
    c.log.heading(
      current?.image
        ? `${what}; "ps:restart ${c.app}" applies it`
        : `${what}; ${c.app} gets it with its first deploy`,
    );
    return;
  }
  c.log.heading(`${what}; restarting ${c.app} to apply it`);
  await restart(c);
}

/** storage:mount: the app's volume NAME (made when missing) at /path in every instance and one-off run. */
export async function mountStorage(c: SettingChange, mount: string): Promise<void> {
  const m = parseMount(mount);
  const { storage } = await c.store.apps.deploySettings(c.app);
  if (storage.some((s) => s.name === m.name && s.path === m.path)) {
    c.log.heading(`${m.name} is already mounted at ${m.path}`);
    return;
  }
  const taken = storage.find((s) => s.path === m.path);
  if (taken) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `${m.path} already has ${taken.name} mounted; "storage:unmount ${c.app} ${taken.name}:${taken.path}" first`,
    });
  }
  const scheduler = await schedulerFor(c.store, c.app, { docker: c.docker });
  const volume = await scheduler.ensureStorage(c.app, m.name);
  await c.store.apps.setDeploySetting(c.app, 'storage', [...storage, m]);
  await apply(c, `Mounted ${volume} at ${m.path}`);
}

/** storage:unmount: the mount goes; the volume and its data stay (storage:mount brings them back). */
export async function unmountStorage(c: SettingChange, mount: string): Promise<void> {
  const m = parseMount(mount);
  const { storage } = await c.store.apps.deploySettings(c.app);
  if (!storage.some((s) => s.name === m.name && s.path === m.path)) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `${m.name} is not mounted at ${m.path} (storage:list ${c.app} shows the mounts)`,
    });
  }
  await c.store.apps.setDeploySetting(
    c.app,
    'storage',
    storage.filter((s) => !(s.name === m.name && s.path === m.path)),
  );
  await apply(c, `Unmounted ${m.name} from ${m.path} (the volume and its data are kept)`);
}

export type Limits = DeploySettings['resources'][string];

/** resource:limit: memory and CPUs for a process type (or every type), replacing what was set. */
export async function setLimits(
  c: SettingChange,
  type: string | undefined,
  limits: Limits,
): Promise<void> {
  const key = type === undefined ? '_all_' : validate.processType(type);
  if (limits.cpus !== undefined) {
    const { NCPU } = await c.docker.info();
    if (typeof NCPU === 'number' && limits.cpus > NCPU) {
      throw new BerthError('BERTH_E_USAGE', {
        reason: `--cpus ${limits.cpus} is more than this machine's ${NCPU} CPUs`,
      });
    }
  }
  const { resources } = await c.store.apps.deploySettings(c.app);
  const next = { ...resources };
  const none =
    limits.memory === undefined && limits.cpus === undefined && limits.pids === undefined;
  if (none) delete next[key];
  else next[key] = { ...next[key], ...limits };
  await c.store.apps.setDeploySetting(c.app, 'resources', next);
  await apply(
    c,
    none
      ? `Cleared the limits of ${type ?? 'every process type'}`
      : `Limited ${type ?? 'every process type'} to ${describeLimits(next[key] ?? {})}`,
  );
}

export function describeLimits(l: Limits): string {
  const parts: string[] = [];
  if (l.memory !== undefined) parts.push(`${Math.round(l.memory / 1024 ** 2)} MB of memory`);
  if (l.cpus !== undefined) parts.push(`${l.cpus} ${l.cpus === 1 ? 'CPU' : 'CPUs'}`);
  if (l.pids !== undefined) parts.push(`${l.pids} processes`);
  return parts.join(', ') || 'no limits';
}
