// Many apps in a store, as a busy Berth has them, for the apps page's
// correctness test (web-pages.test.ts) and its timing (npm run bench
// apps-page): each app with config, three releases (the newest of mixed
// status, so the page must look past it for the current one), a route and,
// every fifth, a custom domain. Descriptions carry HTML, to be escaped.

import type { Store } from '../../services/core/store/index.ts';
import { emptyCounts } from '../../services/core/store/metrics.ts';
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

/**
 * `minutes` of an app's traffic up to now, every minute different, as the
 * routers record it: the app page's charts at their fullest (npm run bench
 * web, web-compression.test.ts).
 */
export async function seedTraffic(store: Store, app: string, minutes: number): Promise<void> {
  const now = Date.now();
  for (let m = 0; m < minutes; m++) {
    const c = emptyCounts();
    const n = 200 + ((m * 37) % 400);
    c.byClass = [0, n, m % 7, 5 + (m % 11), m % 13 === 0 ? 9 : 0, m % 3];
    c.latency = [n / 2, n / 4, n / 8, n / 16, 10, 5, 3, 2, 1, m % 2, 0, m % 29 === 0 ? 1 : 0].map(
      Math.floor,
    );
    c.latencySumUs = n * 9_000;
    await store.metrics.add(app, new Date(now - m * 60_000), c);
  }
}
