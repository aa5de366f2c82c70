// scheduler:set --global selected NAME: the scheduler of every app that
// chooses none. An app's instances run where they were started, so a
// deployed app without its own choice keeps the scheduler it runs on (it is
// recorded as its own) and moves only when its owner says so
// (scheduler:set APP selected NAME); apps not deployed yet start on the new
// default. Dokku instead starts them there at their next deploy, leaving
// the old containers behind (docs/dokku-differences.md, "Global settings").
import type { Store } from '../../core/store/index.ts';
import { selectedScheduler } from './schedulers.ts';

/** Sets the global scheduler (null: docker-local); returns the deployed apps kept where they run. */
export async function setGlobalScheduler(
  store: Store,
  name: string | null,
): Promise<{ app: string; scheduler: string }[]> {
  const kept: { app: string; scheduler: string }[] = [];
  for (const app of await store.apps.names()) {
    const settings = await store.apps.deploySettings(app);
    if (settings.scheduler !== null) continue;
    const current = selectedScheduler(settings);
    if (current === (name ?? selectedScheduler({ scheduler: null, global: { scheduler: null } })))
      continue;
    if (!(await store.releases.current(app))?.image) continue;
    await store.apps.setDeploySetting(app, 'scheduler', current);
    kept.push({ app, scheduler: current });
  }
  await store.platform.set('scheduler', name);
  return kept;
}
