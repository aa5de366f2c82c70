// Keeps a RouteTable equal to what Redis says, without polling: every change
// to an app's routes, domains or existence is followed by `PUBLISH P routes
// <app>` (services/platform/routes/routes.ts and the store's scripts), and this
// reloads just that app; `*` (the global domains changed) reloads them all.
// After (re)subscribing, everything is reloaded once, since messages
// published while the connection was down are gone. The app's HTTPS
// switches (certs:set) come with it, from the app's record.
import type { Redis } from 'ioredis';
import type { Logger } from '../services/core/log.ts';
import type { KeyLayout } from '../services/core/store/keys.ts';
import { readHttpsSettings, readProxySettings, readRouteEntry } from './app-records.ts';
import type { AppState, RouteTable } from './route-table.ts';

export interface RouteSyncOptions {
  /** For reads. */
  redis: Redis;
  /** A connection of its own: a subscribed connection can do nothing else. */
  subscriber: Redis;
  keys: KeyLayout;
  table: RouteTable;
  log: Logger;
}

export interface RouteSync {
  /** Resolves once the first full load is in the table. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

export function syncRoutes(o: RouteSyncOptions): RouteSync {
  // One load per app at a time; a message during a load makes it load again
  // after, so the last write always wins.
  const loading = new Map<string, boolean>();

  async function loadApp(app: string): Promise<void> {
    if (loading.has(app)) {
      loading.set(app, true);
      return;
    }
    loading.set(app, false);
    try {
      do {
        loading.set(app, false);
        o.table.set(app, await readApp(app));
      } while (loading.get(app));
    } catch (e) {
      // The old entry stays: serving the last known backends beats serving none.
      o.log.error({ err: e, app }, 'could not read the app routes; keeping the previous ones');
    } finally {
      loading.delete(app);
    }
  }

  async function readApp(app: string): Promise<AppState | undefined> {
    const [record, routes, domains] = (await o.redis
      .multi()
      .hgetall(o.keys.app(app))
      .get(o.keys.routes(app))
      .smembers(o.keys.appDomains(app))
      .exec()
      .then((results) =>
        (results ?? []).map(([err, value]) => {
          if (err) throw err;
          return value;
        }),
      )) as [Record<string, string>, string | null, string[]];
    if (Object.keys(record).length === 0) return undefined;
    const entry = routes === null ? undefined : readRouteEntry(o.keys.routes(app), routes);
    return {
      release: entry?.release ?? 0,
      backends: entry?.backends ?? [],
      domains: [...domains].sort(),
      https: readHttpsSettings(o.keys.app(app), record),
      maxBodySize: readProxySettings(o.keys.app(app), record).maxBodySize,
    };
  }

  async function loadAll(): Promise<void> {
    const [apps, globals] = await Promise.all([
      o.redis.smembers(o.keys.apps).then((names) => new Set(names)),
      o.redis.smembers(o.keys.globalDomains),
    ]);
    o.table.setGlobals(globals.sort());
    for (const gone of o.table.apps()) if (!apps.has(gone)) o.table.set(gone, undefined);
    await Promise.all([...apps].map(loadApp));
  }

  o.subscriber.on('message', (channel: string, app: string) => {
    if (channel !== o.keys.routesChannel) return;
    if (app !== '*') void loadApp(app);
    else loadAll().catch((e: unknown) => o.log.error({ err: e }, 'could not reload the routes'));
  });
  let loaded = false;
  const ready = (async () => {
    await o.subscriber.subscribe(o.keys.routesChannel);
    await loadAll();
    loaded = true;
  })();
  // ioredis resubscribes by itself after a reconnect; what was published
  // in between is lost, so read everything again.
  o.subscriber.on('ready', () => {
    if (!loaded) return;
    o.log.info('reconnected to Redis; reloading every route');
    loadAll().catch((e: unknown) => o.log.error({ err: e }, 'could not reload the routes'));
  });

  return {
    ready,
    async stop() {
      await o.subscriber.unsubscribe().catch(() => {});
    },
  };
}
