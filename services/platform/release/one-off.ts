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

/**
 * `run APP console` runs the Procfile's `console:` command when the first
 * word names a process type with a command line, the rest of the words
 * after it, as Dokku's scheduler-run does; anything else runs as given.
 */
export function procfileCommand(
  processes: Release['processes'],
  command: string,
): { command: string; type?: string } {
  const m = /^\s*(\S+)(.*)$/s.exec(command);
  const type = m?.[1];
  if (type === undefined || !Object.hasOwn(processes, type)) return { command };
  const line = processes[type];
  if (typeof line !== 'string' || line.trim() === '') return { command };
  return { command: `${line}${m?.[2] ?? ''}`, type };
}

async function oneOff(
  store: Store,
  app: App,
  given: string,
  notice?: (line: string) => void,
): Promise<InstanceSpec> {
  let command = given;
  if (command.trim() === '')
    throw new BerthError('BERTH_E_USAGE', { reason: 'give the command to run' });
  if (command.includes('\0'))
    throw new BerthError('BERTH_E_USAGE', { reason: 'the command contains a NUL byte' });
  const current: Release | undefined = await store.releases.current(app.name);
  if (!current?.image) throw new BerthError('BERTH_E_NO_RELEASE', { app: app.name });
  const fromProcfile = procfileCommand(current.processes, command);
  if (fromProcfile.type !== undefined) {
    command = fromProcfile.command;
    notice?.(`Found '${fromProcfile.type}' in Procfile, running that command`);
  }
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
  /** Told which Procfile entry runs, when the command names one. */
  notice?: (line: string) => void,
): Promise<number> {
  const spec = await oneOff(store, app, command, notice);
  return (await schedulerFor(store, app.name, deps)).runAttached(spec, io, signal);
}

/** Starts the command and returns at once; resolves the process's name. */
export async function runDetached(
  store: Store,
  deps: SchedulerDeps,
  app: App,
  command: string,
  notice?: (line: string) => void,
) {
  const spec = await oneOff(store, app, command, notice);
  return (await schedulerFor(store, app.name, deps)).runDetached(spec);
}
