// scheduler:set|report — which scheduler runs an app's instances, as Dokku's
// `scheduler:set APP selected NAME`: docker-local (this machine's Engine) or
// swarm (the Docker Swarm BERTH_SWARM_MANAGER names). A running app moves
// with no request lost (release-change.ts moveScheduler). `--global`
// (admins) sets the default of apps that choose none (scheduler/global-scheduler.ts).

import { BerthError, EXIT } from '../../services/core/errors.ts';
import { moveScheduler } from '../../services/platform/release/release-change.ts';
import { setGlobalScheduler } from '../../services/platform/scheduler/global-scheduler.ts';
import {
  DEFAULT_SCHEDULER,
  schedulerFor,
  schedulerNamed,
} from '../../services/platform/scheduler/schedulers.ts';
import type { Command } from '../command.ts';
import { releaseRun, schedulerDeps } from '../release-run.ts';
import { settingRows, writeReport } from '../report.ts';

export const schedulerCommands: readonly Command[] = [
  {
    name: 'scheduler:set',
    usage: 'APP|--global selected [NAME]',
    summary:
      'run the app on another scheduler: docker-local (this machine) or swarm (no NAME: the --global one, else docker-local); a running app moves as a restart rolls out, serving throughout. --global (admins): the scheduler of apps that choose none; deployed ones keep running where they are',
    access: { app: 'manage' },
    global: 'admin',
    arity: [1, 2],
    async run({ ctx, app, args }) {
      if (args[0] !== 'selected') {
        throw new BerthError('BERTH_E_UNKNOWN_SETTING', {
          command: 'scheduler:set',
          key: (args[0] ?? '').slice(0, 40),
          settings: 'selected',
        });
      }
      const store = await ctx.store();
      const deps = await schedulerDeps(ctx);
      const given = args[1] === undefined || args[1] === '' ? undefined : args[1];
      if (!app) {
        // Checked: a registered scheduler's name.
        if (given !== undefined) schedulerNamed(given, deps);
        const named = given ?? null;
        const kept = await setGlobalScheduler(store, named);
        ctx.stdout.write(`=====> Setting selected to ${named ?? ''}\n`);
        for (const k of kept) {
          ctx.stdout.write(
            `       ${k.app} keeps running on ${k.scheduler} (scheduler:set ${k.app} selected ${named ?? DEFAULT_SCHEDULER} moves it)\n`,
          );
        }
        return EXIT.ok;
      }
      const global = (await store.platform.get()).scheduler;
      const wanted = schedulerNamed(given ?? global ?? DEFAULT_SCHEDULER, deps);
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
          // moveScheduler records the app's choice; no NAME: it follows the global one again.
          if (given === undefined) await store.apps.setDeploySetting(app.name, 'scheduler', null);
          ctx.stdout.write(
            `-----> ${app.name} runs on ${wanted.name}; its ${moved} ${moved === 1 ? 'instance' : 'instances'} on ${current.name} stop once drained\n`,
          );
          return EXIT.ok;
        }
      }
      // Its own choice, even docker-local, so a --global one does not move it.
      await store.apps.setDeploySetting(
        app.name,
        'scheduler',
        given === undefined ? null : wanted.name,
      );
      ctx.stdout.write(`-----> ${app.name} runs on ${wanted.name} from its next start or deploy\n`);
      return EXIT.ok;
    },
  },
  {
    name: 'scheduler:report',
    usage: '[APP|--global] [--format json | --scheduler-KEY]',
    summary:
      'which scheduler runs the app (no APP: each app you can see); --scheduler-computed-selected (or another key) prints that value alone',
    access: { app: 'read' },
    global: 'read',
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      const store = await ctx.store();
      const global = (await store.platform.get()).scheduler;
      const own = app ? (await store.apps.deploySettings(app.name)).scheduler : null;
      return writeReport(call, {
        namespace: 'scheduler',
        app: app?.name,
        rows: settingRows(
          'Scheduler',
          'selected',
          app !== undefined,
          own,
          global,
          DEFAULT_SCHEDULER,
        ),
        ...(app ? { data: { app: app.name } } : {}),
      });
    },
  },
];
