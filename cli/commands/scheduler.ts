// scheduler:set|report — which scheduler runs an app's instances, as Dokku's
// `scheduler:set APP selected NAME`: docker-local (this machine's Engine) or
// swarm (the Docker Swarm BERTH_SWARM_MANAGER names). A running app moves
// with no request lost (release-change.ts moveScheduler).

import { BerthError, EXIT } from '../../services/core/errors.ts';
import { moveScheduler } from '../../services/platform/release/release-change.ts';
import {
  DEFAULT_SCHEDULER,
  schedulerFor,
  schedulerNamed,
} from '../../services/platform/scheduler/schedulers.ts';
import type { Command } from '../command.ts';
import { formatOf, json } from '../output.ts';
import { releaseRun, schedulerDeps } from '../release-run.ts';

export const schedulerCommands: readonly Command[] = [
  {
    name: 'scheduler:set',
    usage: 'APP selected [NAME]',
    summary:
      'run the app on another scheduler: docker-local (this machine) or swarm (no NAME: docker-local); a running app moves as a restart rolls out, serving throughout',
    access: { app: 'manage' },
    arity: [1, 2],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      if (args[0] !== 'selected') {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `the property is "selected": scheduler:set ${app.name} selected swarm`,
        });
      }
      const store = await ctx.store();
      const deps = await schedulerDeps(ctx);
      const name = args[1] ?? DEFAULT_SCHEDULER;
      const wanted = schedulerNamed(name, deps);
      const current = await schedulerFor(store, app.name, deps);
      if (current.name !== wanted.name) {
        // A running app moves as a restart rolls out (new instances on the
        // wanted scheduler ready, the route switched, the others drained),
        // so it serves throughout; a stopped one starts there next time.
        const running = (await current.list(app.name)).filter((i) => i.instance > 0);
        const release = await store.releases.current(app.name);
        if (running.length > 0 && release?.image) {
          const moved = await moveScheduler({
            ...(await releaseRun(ctx)),
            app: app.name,
            to: wanted,
          });
          ctx.stdout.write(
            `-----> ${app.name} runs on ${wanted.name}; its ${moved} ${moved === 1 ? 'instance' : 'instances'} on ${current.name} stop once drained\n`,
          );
          return EXIT.ok;
        }
      }
      await store.apps.setDeploySetting(
        app.name,
        'scheduler',
        wanted.name === DEFAULT_SCHEDULER ? null : wanted.name,
      );
      ctx.stdout.write(`-----> ${app.name} runs on ${wanted.name} from its next start or deploy\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'scheduler:report',
    usage: 'APP [--format json]',
    summary: 'which scheduler runs the app',
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const selected =
        (await (await ctx.store()).apps.deploySettings(app.name)).scheduler ?? DEFAULT_SCHEDULER;
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json({ app: app.name, selected }));
        return EXIT.ok;
      }
      ctx.stdout.write(`=====> ${app.name} scheduler\nScheduler selected: ${selected}\n`);
      return EXIT.ok;
    },
  },
];
