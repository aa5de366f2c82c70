// Every app the actor may see, with the state the apps page and
// GET /api/v1/apps show: status, current release, last deploy,
// URLs, instance counts. Read from the store alone, in a constant number of
// round trips however many apps there are (the apps list, then one Lua script
// for releases, ps:stop settings, routes and domains, store/app-states.ts): the
// page must stay well under 100 ms with 200 apps. The Docker Engine is not
// asked; the route table says whether web instances serve.
import type { Actor } from '../../core/actor.ts';
import type { App, Formation, ReleaseHead, Store } from '../../core/store/index.ts';
import { appliesTo } from '../release/rollout.ts';
import { parseRouteEntry, type RouteEntry } from '../routes/routes.ts';
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

async function overviewsOf(store: Store, apps: readonly App[], base: string) {
  const states = await store.appStates.read(apps.map((a) => a.name));
  return apps.map((app): AppOverview => {
    const state = states.get(app.name);
    const { latest, current, lastFailed } = state ?? {};
    const stopped = state?.stopped ?? [];
    const route =
      state?.routes === undefined
        ? undefined
        : parseRouteEntry(store.keys.routes(app.name), state.routes);
    return {
      name: app.name,
      owner: app.owner,
      collaborators: app.collaborators,
      createdAt: app.createdAt,
      status: appStatus({ latest, current, stopped, route }),
      current,
      latest,
      lastFailed,
      urls: [
        `http://${defaultHost(app.name, base)}`,
        ...(state?.domains ?? []).map((d) => `http://${d}`),
      ],
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
