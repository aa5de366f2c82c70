// What a command that makes a release (config:set, releases:rollback,
// ps:scale, ps:restart) hands the deployer: the store, the Engine, who asks,
// where the rollout's lines go, and the operator's settings.
import { createDockerClient } from '../services/core/docker.ts';
import { dataPaths } from '../services/core/paths.ts';
import { logArchiveOf } from '../services/deployer/app-logs.ts';
import type { RolloutLog } from '../services/deployer/rollout.ts';
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
    tuning: { drainMs: ctx.config().drainTimeoutMs },
    logArchive: logArchiveOf(dataPaths(ctx.config().dataDir)),
  };
}
