// Every app the actor may see, with the state the apps page and
// GET /api/v1/apps show (issue 7): status, current release, last deploy,
// URLs, instance counts. Read from the store alone, in a constant number of
// round trips however many apps there are (the apps list, one Lua script for
// the releases, one pipeline for routes, ps:stop settings and domains): the
// page must stay well under 100 ms with 200 apps. The Docker Engine is not
// asked; the route table says whether web instances serve.
import type { Actor } from '../core/actor.ts';
import {
  type App,
  DeploySettingsSchema,
  type Formation,
  type ReleaseHead,
  type Store,
} from '../core/store/index.ts';
import { appliesTo } from '../deployer/rollout.ts';
import { parseRouteEntry, type RouteEntry } from '../deployer/routes.ts';
import { listApps } from './apps.ts';
import { defaultHost } from './domains.ts';

/**
 * running: the current release serves (its web instances are routed, or it
 * has no web process); deploying: a release is being rolled out; crashed:
 * the current release has web instances to run but the router has none to
 * send requests to; stopped: ps:stop, or every count scaled to 0; failed:
 * the last deploy or change failed (the release before it may still run);
 * not deployed: no release with an image yet.
 */
export const APP_STATUSES = [
  'running',
  'deploying',
  'crashed',
  'stopped',
  'failed',
  'not deployed',
] as const;
export type AppStatus = (typeof APP_STATUSES)[number];

export interface StatusInput {
  latest: ReleaseHead | undefined;
  current: ReleaseHead | undefined;
  /** Process types ps:stop stopped (`_all_` for all). */
  stopped: readonly string[];
  route: RouteEntry | undefined;
}

export function appStatus({ latest, current, stopped, route }: StatusInput): AppStatus {
  if (latest?.status === 'pending') return 'deploying';
  if (!current?.image) return latest?.status === 'failed' ? 'failed' : 'not deployed';
  const types = Object.entries(current.formation)
    .filter(([, n]) => n > 0)
    .map(([t]) => t);
  if (types.every((t) => appliesTo(stopped, t))) return 'stopped';
  if (latest?.status === 'failed') return 'failed';
  const web = types.includes('web') && !appliesTo(stopped, 'web');
  if (web && (route === undefined || route.backends.length === 0)) return 'crashed';
  return 'running';
}

export interface AppOverview {
  name: string;
  owner: string;
  collaborators: string[];
  createdAt: string;
  status: AppStatus;
  /** The newest succeeded release: what runs (or should). */
  current: ReleaseHead | undefined;
  /** The newest release whatever its status: the last deploy or change, and how it went. */
  latest: ReleaseHead | undefined;
  /** The version of the newest failed release. */
  lastFailed: number | undefined;
  /** http://<app>.<BERTH_DOMAIN>, then the custom domains. */
  urls: string[];
  /** Instances per process type the current release asks for ({} without one). */
  formation: Formation;
  stopped: string[];
  /** Web instances the router sends requests to now. */
  routed: number;
}

/** One app's state from the rows the batch read; exported for the app page, which reads one. */
async function overviewsOf(store: Store, apps: readonly App[], base: string) {
  const names = apps.map((a) => a.name);
  const pipeline = store.redis.pipeline();
  for (const name of names) {
    pipeline.hget(store.keys.app(name), 'stopped');
    pipeline.get(store.keys.routes(name));
    pipeline.smembers(store.keys.appDomains(name));
  }
  const [heads, replies] = await Promise.all([
    store.releases.heads(names),
    names.length === 0 ? Promise.resolve([]) : pipeline.exec(),
  ]);
  const value = (i: number): unknown => {
    const [error, v] = replies?.[i] ?? [null, null];
    if (error) throw error;
    return v;
  };
  return apps.map((app, i): AppOverview => {
    const stoppedText = value(3 * i) as string | null;
    const routeText = value(3 * i + 1) as string | null;
    const domains = ((value(3 * i + 2) as string[] | null) ?? []).sort();
    const stopped = DeploySettingsSchema.shape.stopped.parse(stoppedText ?? undefined);
    const route =
      routeText === null ? undefined : parseRouteEntry(store.keys.routes(app.name), routeText);
    const { latest, current, lastFailed } = heads.get(app.name) ?? {
      latest: undefined,
      current: undefined,
      lastFailed: undefined,
    };
    return {
      name: app.name,
      owner: app.owner,
      collaborators: app.collaborators,
      createdAt: app.createdAt,
      status: appStatus({ latest, current, stopped, route }),
      current,
      latest,
      lastFailed,
      urls: [`http://${defaultHost(app.name, base)}`, ...domains.map((d) => `http://${d}`)],
      formation: current?.formation ?? {},
      stopped,
      routed: route?.release === current?.version ? (route?.backends.length ?? 0) : 0,
    };
  });
}

/** The apps the actor may see, sorted by name, each with its overview. */
export async function appsOverview(
  store: Store,
  actor: Actor,
  base: string,
): Promise<AppOverview[]> {
  return overviewsOf(store, await listApps(store, actor), base);
}

/** One app's overview (the caller has authorized the app). */
export async function appOverview(store: Store, app: App, base: string): Promise<AppOverview> {
  const [one] = await overviewsOf(store, [app], base);
  return one as AppOverview;
}
