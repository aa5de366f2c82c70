// What a command that makes a release (config:set, releases:rollback,
// ps:scale, ps:restart) hands the deployer: the store, the Engine, who asks,
// where the rollout's lines go, and the operator's settings; and what one that
// builds (git:from-image, ps:rebuild) hands the build queue; and the app's
// scheduler, for a command that reads its instances, logs or storage.

import { createDockerClient } from '../services/core/docker.ts';
import { EXIT } from '../services/core/errors.ts';
import type { CommandBuild } from '../services/platform/build/command-build.ts';
import type { BuildResult } from '../services/platform/build/queue.ts';
import { rolloutSettings } from '../services/platform/release/releases.ts';
import type { RolloutLog } from '../services/platform/release/rollout.ts';
import type { Scheduler } from '../services/platform/scheduler/scheduler.ts';
import { type SchedulerDeps, schedulerFor } from '../services/platform/scheduler/schedulers.ts';
import type { CommandContext } from './command.ts';

/** The rollout's lines, as a push shows them. */
const logTo = (ctx: CommandContext): RolloutLog => ({
  heading: (t) => ctx.stdout.write(`-----> ${t}\n`),
  detail: (t) => ctx.stdout.write(`       ${t}\n`),
});

export async function releaseRun(ctx: CommandContext) {
  return {
    store: await ctx.store(),
    docker: await createDockerClient(ctx.config()),
    actor: ctx.actor,
    log: logTo(ctx),
    signal: ctx.signal,
    ...rolloutSettings(ctx.config()),
  };
}

/** What a command's schedulers are made with: the Engine and the operator's settings. */
export async function schedulerDeps(ctx: CommandContext): Promise<SchedulerDeps> {
  const { logArchive, limits, appNetworks, swarm } = rolloutSettings(ctx.config());
  return {
    docker: await createDockerClient(ctx.config()),
    ...(logArchive ? { logArchive } : {}),
    ...(limits ? { limits } : {}),
    ...(appNetworks ? { appNetworks } : {}),
    ...(swarm ? { swarm } : {}),
  };
}

/** The scheduler that runs the app's instances, for a command that looks at them or their storage. */
export async function appScheduler(ctx: CommandContext, app: string): Promise<Scheduler> {
  return schedulerFor(await ctx.store(), app, await schedulerDeps(ctx));
}

/** A build a command asks for: the build's lines go to the command's output as they come. */
export async function buildRun(ctx: CommandContext, app: string): Promise<CommandBuild> {
  return {
    store: await ctx.store(),
    actor: ctx.actor,
    app,
    onLine: (line) => ctx.stdout.write(`${line}\n`),
    signal: ctx.signal,
  };
}

/** The command's exit for how its build ended: the error, one line, when it failed. */
export function buildExit(ctx: CommandContext, result: BuildResult, failed: string): number {
  if (result.status === 'succeeded') return EXIT.ok;
  ctx.stderr.write(`berth: ${result.error ?? failed}\n`);
  return EXIT.failed;
}
