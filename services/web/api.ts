// The JSON API, /api/v1 (issue 7). Each route calls the same service
// functions as the SSH command it mirrors (apps:list, apps:info, releases,
// domains:report, certs:report), so access rules and answers agree; an app
// the actor may not see is a 404 exactly like a missing one
// (services/apps/access.ts).
import type { FastifyInstance } from 'fastify';
import { authorizeApp } from '../apps/access.ts';
import { appInfo } from '../apps/apps.ts';
import { domainsReport } from '../apps/domains.ts';
import { type AppOverview, appOverview, appsOverview } from '../apps/overview.ts';
import { appCertReport } from '../certs/manual.ts';
import type { ReleaseHead, Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { actorOf } from './auth.ts';

/** A release as the API shows it: no config snapshot (values are shown only to those allowed). */
export function releaseSummary(r: ReleaseHead | undefined) {
  if (!r) return null;
  const { version, image, description, by, createdAt, status, error, formation } = r;
  return { version, image, description, by, createdAt, status, error, formation };
}

/** What the apps page shows of an app, as JSON. */
function overviewJson(o: AppOverview) {
  return {
    status: o.status,
    urls: o.urls,
    formation: o.formation,
    stopped: o.stopped,
    routed: o.routed,
    lastDeploy: releaseSummary(o.latest),
    lastFailed: o.lastFailed ?? null,
  };
}

/** Releases the API returns at most (the releases command's limit). */
const API_RELEASES = 50;

export function apiRoutes(
  app: FastifyInstance,
  o: { store: Store; sshUrl: string; domain: string },
) {
  const { store } = o;

  app.get('/api/v1/apps', async (req) => {
    const apps = await appsOverview(store, actorOf(req), o.domain);
    return {
      apps: apps.map((a) => ({
        name: a.name,
        owner: a.owner,
        createdAt: a.createdAt,
        release: releaseSummary(a.current),
        ...overviewJson(a),
      })),
    };
  });

  app.get<{ Params: { app: string } }>('/api/v1/apps/:app', async (req) => {
    const name = validate.appName(req.params.app);
    const found = await authorizeApp(store, actorOf(req), name, 'read');
    const [info, overview] = await Promise.all([
      appInfo(store, found, o.sshUrl),
      appOverview(store, found, o.domain),
    ]);
    return {
      app: {
        ...info.app,
        domains: info.domains,
        gitUrl: info.gitUrl,
        release: releaseSummary(info.current),
        ...overviewJson(overview),
      },
    };
  });

  // As `releases APP --format json`: newest first, no config values.
  app.get<{ Params: { app: string } }>('/api/v1/apps/:app/releases', async (req) => {
    const name = validate.appName(req.params.app);
    const found = await authorizeApp(store, actorOf(req), name, 'read');
    const list = await store.releases.list(found.name, { limit: API_RELEASES });
    return { app: found.name, releases: list.map(releaseSummary) };
  });

  // As `domains:report APP --format json`, with certs:report's HTTPS settings and days left.
  app.get<{ Params: { app: string } }>('/api/v1/apps/:app/domains', async (req) => {
    const name = validate.appName(req.params.app);
    const found = await authorizeApp(store, actorOf(req), name, 'read');
    const [domains, certs] = await Promise.all([
      domainsReport(store, found, { base: o.domain }),
      appCertReport(store, found.name),
    ]);
    return { app: found.name, domains, https: certs.https };
  });
}
