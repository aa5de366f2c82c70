// resource:* (and storage:*, in apps/storage.ts): settings of an app's
// instances that outlive its releases (a rollback keeps them). A change is
// saved, then rolled out as a restart of what runs (new instances ready
// first), unless the caller says not to; an app not deployed yet gets them
// with its first release.
import { BerthError } from '../../core/errors.ts';
import type { DeploySettings } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { type ChangeDeps, restart } from '../release/release-change.ts';

export interface SettingChange extends ChangeDeps {
  /** false: saved only; the next deploy or ps:restart applies it (--no-restart). */
  restart: boolean;
}

/** Applies a saved change to what runs: a rolling restart, when something runs. */
export async function apply(c: SettingChange, what: string): Promise<void> {
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
  const next = { ...resources, [key]: { ...resources[key], ...limits } };
  await c.store.apps.setDeploySetting(c.app, 'resources', next);
  await apply(c, `Limited ${type ?? 'every process type'} to ${describeLimits(next[key] ?? {})}`);
}

/**
 * resource:limit-clear: a process type's own limits go (BERTH_DEFAULT_* or
 * the app's every-type limits apply to it again); with no type, every limit
 * of the app goes, each type's own too, as the command says.
 */
export async function clearLimits(c: SettingChange, type: string | undefined): Promise<void> {
  const { resources } = await c.store.apps.deploySettings(c.app);
  const next = type === undefined ? {} : { ...resources };
  if (type !== undefined) delete next[validate.processType(type)];
  const cleared = Object.keys(resources).filter((k) => !(k in next));
  await c.store.apps.setDeploySetting(c.app, 'resources', next);
  if (cleared.length === 0) {
    c.log.heading(`${type ?? c.app} had no limits of its own; nothing changed`);
    return;
  }
  await apply(
    c,
    type === undefined
      ? `Cleared every limit of ${c.app} (${cleared.map((k) => (k === '_all_' ? 'every type' : k)).join(', ')}); the defaults apply`
      : `Cleared the limits of ${type}`,
  );
}

export function describeLimits(l: Limits): string {
  const parts: string[] = [];
  if (l.memory !== undefined) parts.push(`${Math.round(l.memory / 1024 ** 2)} MB of memory`);
  if (l.cpus !== undefined) parts.push(`${l.cpus} ${l.cpus === 1 ? 'CPU' : 'CPUs'}`);
  if (l.pids !== undefined) parts.push(`${l.pids} processes`);
  return parts.join(', ') || 'no limits';
}
