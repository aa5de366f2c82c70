// run and run:detached: a one-off process from the app's current release,
// with its config, as Heroku's `heroku run` and Dokku's `dokku run`. The
// command is one shell line (run through the image's launcher or /bin/sh).
// `run` is attached to the client: its stdin, its output, and its terminal
// (ssh -t) as the container's TTY, so `run APP bash` is an interactive shell.
import { BerthError } from '../../core/errors.ts';
import type { App, Release, Store } from '../../core/store/index.ts';
import type { AttachedIo, InstanceSpec } from '../scheduler/scheduler.ts';
import { type SchedulerDeps, schedulerFor } from '../scheduler/schedulers.ts';
import { instanceSpec } from './instance-spec.ts';
import { ROLLOUT_DEFAULTS } from './rollout.ts';

export const RUN_TYPE = 'run';

async function oneOff(store: Store, app: App, command: string): Promise<InstanceSpec> {
  if (command.trim() === '')
    throw new BerthError('BERTH_E_USAGE', { reason: 'give the command to run' });
  if (command.includes('\0'))
    throw new BerthError('BERTH_E_USAGE', { reason: 'the command contains a NUL byte' });
  const current: Release | undefined = await store.releases.current(app.name);
  if (!current?.image) throw new BerthError('BERTH_E_NO_RELEASE', { app: app.name });
  return instanceSpec(current, await store.apps.deploySettings(app.name), {
    type: RUN_TYPE,
    instance: 0,
    command,
    port: ROLLOUT_DEFAULTS.port,
    stopTimeoutSec: 10,
  });
}

/** Runs the command to its end attached to `io`; resolves its exit code. */
export async function runCommand(
  store: Store,
  deps: SchedulerDeps,
  app: App,
  command: string,
  io: AttachedIo,
  signal: AbortSignal,
): Promise<number> {
  const spec = await oneOff(store, app, command);
  return (await schedulerFor(store, app.name, deps)).runAttached(spec, io, signal);
}

/** Starts the command and returns at once; resolves the process's name. */
export async function runDetached(store: Store, deps: SchedulerDeps, app: App, command: string) {
  const spec = await oneOff(store, app, command);
  return (await schedulerFor(store, app.name, deps)).runDetached(spec);
}
