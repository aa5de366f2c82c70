// The JSON API, /api/v1 (issue 7). Each route calls the same service
// functions as the SSH command it mirrors (apps:list, apps:info), so access
// rules and answers agree; an app the actor may not see is a 404 exactly like
// a missing one (services/apps/access.ts).
import type { FastifyInstance } from 'fastify';
import { authorizeApp } from '../apps/access.ts';
import { appInfo, listApps } from '../apps/apps.ts';
import type { Release, Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { actorOf } from './auth.ts';

/** A release as the API shows it: no config snapshot (values are shown only to those allowed). */
export function releaseSummary(r: Release | undefined) {
  if (!r) return null;
  const { version, image, description, by, createdAt, status, error, formation } = r;
  return { version, image, description, by, createdAt, status, error, formation };
}

export function apiRoutes(app: FastifyInstance, o: { store: Store; sshUrl: string }) {
  const { store } = o;

  app.get('/api/v1/apps', async (req) => {
    const apps = await listApps(store, actorOf(req));
    const current = await Promise.all(apps.map((a) => store.releases.current(a.name)));
    return {
      apps: apps.map((a, i) => ({
        name: a.name,
        owner: a.owner,
        createdAt: a.createdAt,
        release: releaseSummary(current[i]),
      })),
    };
  });

  app.get<{ Params: { app: string } }>('/api/v1/apps/:app', async (req) => {
    const name = validate.appName(req.params.app);
    const found = await authorizeApp(store, actorOf(req), name, 'read');
    const info = await appInfo(store, found, o.sshUrl);
    return {
      app: {
        ...info.app,
        domains: info.domains,
        gitUrl: info.gitUrl,
        release: releaseSummary(info.current),
      },
    };
  });
}
