// The control process: the status page and API with the ACME renewals
// (web) and the build queue's worker with the deploy step and the
// reconciler (builder), two parts in one Node.js process. Each was a process
// of its own until issue 17: every Node.js process pays 20 MB and more for
// the runtime and the modules all of them load (ioredis, pino, zod, the
// store), and both mostly wait. What sharing gives up is crash isolation
// between the two, and it costs little: an exception neither part catches
// ends the whole process, loudly, and the supervisor starts it again (1 s,
// doubling per crash in a row); a build cut that way is a job in Redis that
// the next builder part builds again from the start, for a push that waits
// on it in the ssh process, which stays apart (a push must outlive a
// crashed builder: build/push-waiter.ts), as the router does. The status
// page is down for that second. Each part logs under its own name.
import { start as startBuilder } from '../builder/service.ts';
import { createLogger } from '../core/log.ts';
import type { RunningService, ServiceContext } from '../core/service.ts';
import { start as startWeb } from '../web/service.ts';

/** The parts, in the order their endpoints are listed; they start and stop side by side. */
export const PARTS = [
  { name: 'web', start: startWeb },
  { name: 'builder', start: startBuilder },
] as const;

export async function start(ctx: ServiceContext): Promise<RunningService> {
  const started = await Promise.allSettled(
    PARTS.map((p) =>
      p.start({ ...ctx, log: createLogger(p.name, { level: ctx.config.logLevel }) }),
    ),
  );
  const running = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    // What did start stops again: the supervisor starts the whole process anew.
    await Promise.allSettled(running.map((r) => r.stop()));
    throw failed.reason;
  }
  return {
    endpoints: running.flatMap((r) => r.endpoints),
    async stop() {
      const results = await Promise.allSettled(running.map((r) => r.stop()));
      const error = results.find((r) => r.status === 'rejected');
      if (error) throw error.reason;
    },
  };
}
