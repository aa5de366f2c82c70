// Many apps in a store, as a busy Berth has them, for the apps page's
// correctness test (web-pages.test.ts) and its timing (npm run bench
// apps-page): each app with config, three releases (the newest of mixed
// status, so the page must look past it for the current one), a route and,
// every fifth, a custom domain. Descriptions carry HTML, to be escaped.

import type { Store } from '../../services/core/store/index.ts';
import { setRoutes } from '../../services/platform/routes/routes.ts';

/** A config value that must never reach the page. */
export const MANY_APPS_SECRET = 'sk_live_Zq8-very-secret-value';

/** Creates `owner` (a user) and `count` apps named app-000... owned by them. */
export async function seedApps(store: Store, owner: string, count: number): Promise<void> {
  await store.users.create(owner, 'user');
  const statuses = ['succeeded', 'succeeded', 'failed', 'pending'] as const;
  for (let i = 0; i < count; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, count - i) }, async (_, j) => {
        const n = i + j;
        const name = `app-${String(n).padStart(3, '0')}`;
        await store.apps.create({ name, owner });
        await store.config.set(name, {
          DATABASE_URL: `postgres://u:p@db/${n}`,
          SECRET: MANY_APPS_SECRET,
        });
        for (let v = 1; v <= 3; v++) {
          await store.releases.create(name, {
            image: `berth/${name}:${v}`,
            description: `Deploy ${v} <b>${n}</b>`,
            by: owner,
            status: v < 3 ? 'succeeded' : (statuses[n % 4] as (typeof statuses)[number]),
            formation: { web: 1 + (n % 3), worker: n % 2 },
          });
        }
        await setRoutes(store.redis, store.keys.prefix, name, 2, [`10.0.${n % 250}.1:5000`]);
        if (n % 5 === 0) await store.domains.add(name, `${name}.example.org`);
      }),
    );
  }
}
