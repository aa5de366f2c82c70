// The JSON API, /api/v1: what the app's data reads. Each route
// calls the same service functions as the SSH command it mirrors (apps:list,
// apps:info, releases, domains:report, certs:report, builds:list,
// builds:info), so access rules and answers agree; an app the actor may not
// see is a 404 exactly like a missing one (services/platform/apps/access.ts). Each
// route's JSON Schemas (api-schemas.ts) are its OpenAPI description
// (openapi.ts). Changes are in api-changes.ts and rollback-routes.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError } from '../core/errors.ts';
import type { ReleaseHead, Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp } from '../platform/apps/access.ts';
import { appInfo } from '../platform/apps/apps.ts';
import { domainsReport } from '../platform/apps/domains.ts';
import { type AppOverview, appOverview, appsOverview } from '../platform/apps/overview.ts';
import { buildInfo, type HistoryOptions, listBuilds } from '../platform/build/history.ts';
import type { BuildQueue } from '../platform/build/queue.ts';
import { appCertReport } from '../platform/certs/manual.ts';
import { releaseVersion } from '../platform/release/releases.ts';
import {
  appParams,
  appResponse,
  appsResponse,
  buildParams,
  buildResponse,
  buildsResponse,
  domainsResponse,
  releaseParams,
  releaseResponse,
  releasesResponse,
} from './api-schemas.ts';
import { actorOf } from './auth.ts';

/** A release as the API shows it: no config snapshot (values are shown only to those allowed). */
export function releaseSummary(r: ReleaseHead | undefined) {
  if (!r) return null;
  const { version, image, description, by, createdAt, status, error, formation } = r;
  return { version, image, description, by, createdAt, status, error, formation };
}

/** Where the API shows one release: what a 202 points at. */
export const releasePath = (app: string, version: number) =>
  `/api/v1/apps/${app}/releases/${version}`;

/**
 * The answer to a change that rolls out: 202 with the release (pending) and
 * its Location; `release` undefined: the change finished without a rollout.
 */
export function accepted(
  reply: FastifyReply,
  app: string,
  release: ReleaseHead | undefined,
  extra: Record<string, unknown> = {},
  location = release && releasePath(app, release.version),
) {
  if (!release) return reply.code(200).send({ app, ...extra, release: null });
  return reply
    .code(202)
    .header('location', location)
    .send({ app, ...extra, release: releaseSummary(release) });
}

/**
 * For routes whose JSON body is optional (rollback, restart): a request
 * without one is validated as {} (fastify would check `undefined` against
 * the object schema and refuse it).
 */
export async function optionalBody(req: FastifyRequest): Promise<void> {
  if (req.body === undefined || req.body === null) req.body = {};
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
/** Builds the API lists at most (builds:list's limit). */
const API_BUILDS = 100;

type AppRequest = FastifyRequest<{ Params: { app: string } }>;

export function apiRoutes(
  server: FastifyInstance,
  o: {
    store: Store;
    sshUrl: string;
    domain: string;
    builds: { queue: BuildQueue; history: HistoryOptions };
  },
) {
  const { store } = o;
  /** The app when the actor may see it; the same 404 as a missing app otherwise. */
  const readable = (req: AppRequest) =>
    authorizeApp(store, actorOf(req), validate.appName(req.params.app), 'read');

  server.get(
    '/api/v1/apps',
    {
      schema: { response: { 200: appsResponse } },
      config: {
        doc: {
          summary: 'The apps one may see (apps:list)',
          description: 'Admins: every app; others: the apps they own or collaborate on.',
        },
      },
    },
    async (req) => {
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
    },
  );

  server.get<{ Params: { app: string } }>(
    '/api/v1/apps/:app',
    {
      schema: { params: appParams, response: { 200: appResponse } },
      config: { doc: { summary: 'One app (apps:info), with its status' } },
    },
    async (req) => {
      const found = await readable(req);
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
    },
  );

  server.get<{ Params: { app: string } }>(
    '/api/v1/apps/:app/releases',
    {
      schema: { params: appParams, response: { 200: releasesResponse } },
      config: {
        doc: { summary: `The newest ${API_RELEASES} releases, newest first (releases)` },
      },
    },
    async (req) => {
      const found = await readable(req);
      const list = await store.releases.list(found.name, { limit: API_RELEASES });
      return { app: found.name, releases: list.map(releaseSummary) };
    },
  );

  server.get<{ Params: { app: string; version: string } }>(
    '/api/v1/apps/:app/releases/:version',
    {
      schema: { params: releaseParams, response: { 200: releaseResponse } },
      config: {
        doc: {
          summary: 'One release (releases:info), without its config',
          description:
            'What a change answered with 202 points at: its status is pending while it rolls out, then succeeded or failed (with the error).',
        },
      },
    },
    async (req) => {
      const found = await readable(req);
      const version = releaseVersion(req.params.version);
      const release = await store.releases.get(found.name, version);
      if (!release)
        throw new BerthError('BERTH_E_RELEASE_NOT_FOUND', {
          app: found.name,
          version: `v${version}`,
        });
      return { app: found.name, release: releaseSummary(release) };
    },
  );

  server.get<{ Params: { app: string } }>(
    '/api/v1/apps/:app/domains',
    {
      schema: { params: appParams, response: { 200: domainsResponse } },
      config: {
        doc: {
          summary: "The app's domains and certificates (domains:report, certs:report)",
          description:
            "Each host with its certificate (source, issuer, expiry, the last renewal's error), and the app's HTTPS settings.",
        },
      },
    },
    async (req) => {
      const found = await readable(req);
      const [domains, certs] = await Promise.all([
        domainsReport(store, found, { base: o.domain }),
        appCertReport(store, found.name),
      ]);
      return { app: found.name, domains, https: certs.https };
    },
  );

  server.get<{ Params: { app: string } }>(
    '/api/v1/apps/:app/builds',
    {
      schema: { params: appParams, response: { 200: buildsResponse } },
      config: {
        doc: {
          summary: `The app's builds, newest first, at most ${API_BUILDS} (builds:list)`,
          description: 'The deploy status of each push: queued, running, succeeded or failed.',
        },
      },
    },
    async (req) => {
      const found = await readable(req);
      const builds = await listBuilds(store.redis, store.keys.prefix, o.builds.queue, found.name, {
        ...o.builds.history,
        limit: API_BUILDS,
      });
      return { app: found.name, builds };
    },
  );

  server.get<{ Params: { app: string; id: string } }>(
    '/api/v1/apps/:app/builds/:id',
    {
      schema: { params: buildParams, response: { 200: buildResponse } },
      config: { doc: { summary: 'One build and its status (builds:info)' } },
    },
    async (req) => {
      const found = await readable(req);
      const build = await buildInfo(
        store.redis,
        store.keys.prefix,
        o.builds.queue,
        found,
        req.params.id,
        o.builds.history,
      );
      return {
        app: found.name,
        build,
        stream: `/api/v1/apps/${found.name}/builds/${build.id}/stream`,
      };
    },
  );
}
