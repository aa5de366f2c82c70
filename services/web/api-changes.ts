// The JSON API's changes: scale (ps:scale), config (config,
// config:set, config:unset) and restart (ps:restart), through the same
// service functions as the SSH commands and with the same rights (push to
// change; seeing config values is the 'config' right, as config:show's).
// A change that rolls out answers 202 once it is recorded, with the release
// to watch (rollouts.ts says why); reads answer at once.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { type AppAction, authorizeApp, mayAccess } from '../platform/apps/access.ts';
import { configOf } from '../platform/apps/config.ts';
import { restart } from '../platform/release/release-change.ts';
import { parseScale, scale } from '../platform/release/releases.ts';
import { accepted, optionalBody } from './api.ts';
import {
  appParams,
  changeAccepted,
  configBody,
  configChanged,
  configKeyParams,
  configResponse,
  formationBody,
  formationResponse,
  restartAccepted,
  restartBody,
} from './api-schemas.ts';
import { type EngineClient, instancesWithin } from './app-page.ts';
import { actorOf } from './auth.ts';
import { beginConfigChange } from './config-change.ts';
import type { Rollouts } from './rollouts.ts';

type AppRequest = FastifyRequest<{ Params: { app: string } }>;

export function apiChangeRoutes(
  server: FastifyInstance,
  o: { store: Store; rollouts: Rollouts; engine?: EngineClient; engineTimeoutMs?: number },
) {
  const { store } = o;
  const appFor = (req: AppRequest, action: AppAction) =>
    authorizeApp(store, actorOf(req), validate.appName(req.params.app), action);

  server.get<{ Params: { app: string } }>(
    '/api/v1/apps/:app/formation',
    {
      schema: { params: appParams, response: { 200: formationResponse } },
      config: {
        doc: {
          summary: 'Instances per process type, and each instance (ps:scale, ps:report)',
          description:
            'formation has every process type of the current release with its count; instances are what the Docker Engine runs (null, with a note, when it does not answer within a second).',
        },
      },
    },
    async (req) => {
      const found = await appFor(req, 'read');
      const [current, settings, engine] = await Promise.all([
        store.releases.current(found.name),
        store.apps.deploySettings(found.name),
        instancesWithin(o.store, o.engine, found.name, o.engineTimeoutMs),
      ]);
      const formation = Object.fromEntries(
        Object.keys(current?.processes ?? {})
          .sort()
          .map((t) => [t, current?.formation[t] ?? 0]),
      );
      return {
        app: found.name,
        formation,
        stopped: settings.stopped,
        ...('note' in engine
          ? { instances: null, note: engine.note }
          : { instances: engine.instances }),
      };
    },
  );

  server.patch<{ Params: { app: string }; Body: Record<string, number> }>(
    '/api/v1/apps/:app/formation',
    {
      schema: { params: appParams, body: formationBody, response: { 202: changeAccepted } },
      config: {
        doc: {
          summary: 'Scale (ps:scale)',
          description:
            '{"web": 2, "worker": 1}: a new release with these counts (other types keep theirs), rolled out as a deploy; push right. 202 with the release (pending); GET the Location until it is succeeded or failed.',
        },
      },
    },
    async (req, reply) => {
      const found = await appFor(req, 'push');
      // ps:scale's own parser checks each type and count, as over SSH.
      const counts = parseScale(Object.entries(req.body).map(([t, n]) => `${t}=${n}`));
      const release = await o.rollouts.begin(req, `scale of ${found.name}`, (run) =>
        scale(run, found, counts),
      );
      return accepted(reply, found.name, release);
    },
  );

  server.get<{ Params: { app: string } }>(
    '/api/v1/apps/:app/config',
    {
      schema: { params: appParams, response: { 200: configResponse } },
      config: {
        doc: {
          summary: "The app's config keys, and values for those who may see them (config:show)",
          description:
            'keys always; values only with the right config:show needs (owners, collaborators and admins, not read-only tokens), and then in every answer (cache-control: no-store).',
        },
      },
    },
    async (req, reply) => {
      const found = await appFor(req, 'read');
      const vars = await configOf(store, found);
      const keys = Object.keys(vars).sort();
      reply.header('cache-control', 'no-store');
      return {
        app: found.name,
        keys,
        ...(mayAccess(actorOf(req), found, 'config')
          ? { values: Object.fromEntries(keys.map((k) => [k, vars[k]])) }
          : {}),
      };
    },
  );

  /** config:set and config:unset in one: sets, then removes, then releases the result. */
  async function changeConfig(
    req: AppRequest,
    reply: Parameters<typeof accepted>[0],
    set: Record<string, string>,
    unset: string[],
  ) {
    const found = await appFor(req, 'push');
    const { release, keys } = await beginConfigChange(o, req, found, set, unset);
    return accepted(reply, found.name, release, { keys });
  }

  server.patch<{ Params: { app: string }; Body: Record<string, string | null> }>(
    '/api/v1/apps/:app/config',
    {
      schema: {
        params: appParams,
        body: configBody,
        response: { 200: configChanged, 202: changeAccepted },
      },
      config: {
        doc: {
          summary: 'Set and remove config vars (config:set, config:unset)',
          description:
            '{"KEY": "value", "OLD": null} sets KEY and removes OLD; push right. A deployed app gets a new release with the new config: 202 with it (pending). An app not deployed yet, or no change: 200, release null. Values are never echoed.',
        },
      },
    },
    async (req, reply) => {
      const entries = Object.entries(req.body);
      const set = Object.fromEntries(
        entries.filter((e): e is [string, string] => typeof e[1] === 'string'),
      );
      const unset = entries.filter(([, v]) => v === null).map(([k]) => k);
      return changeConfig(req, reply, set, unset);
    },
  );

  server.delete<{ Params: { app: string; key: string } }>(
    '/api/v1/apps/:app/config/:key',
    {
      schema: {
        params: configKeyParams,
        response: { 200: configChanged, 202: changeAccepted },
      },
      config: {
        doc: {
          summary: 'Remove one config var (config:unset)',
          description:
            'As PATCH with {"KEY": null}: 202 with the new release when the app runs one; 200 with keys [] when the key was not set.',
        },
      },
    },
    async (req, reply) => changeConfig(req, reply, {}, [req.params.key]),
  );

  server.post<{ Params: { app: string }; Body: { type?: string } | undefined }>(
    '/api/v1/apps/:app/restart',
    {
      preValidation: optionalBody,
      schema: { params: appParams, body: restartBody, response: { 202: restartAccepted } },
      config: {
        doc: {
          summary: 'Restart (ps:restart)',
          description:
            '{"type": "web"} or {}: the current release\'s instances (of one type) start again, rolled out as a deploy (new ones ready, switch, old ones stopped); no new release, as on Heroku. 202 once it starts; the Location lists the instances.',
        },
      },
    },
    async (req, reply) => {
      const found = await appFor(req, 'push');
      const type = req.body?.type === undefined ? undefined : validate.processType(req.body.type);
      const release = await o.rollouts.begin(req, `restart of ${found.name}`, (run) =>
        restart({ ...run, app: found.name, ...(type === undefined ? {} : { type }) }),
      );
      const running = Object.keys(release?.formation ?? {}).filter(
        (t) => (release?.formation[t] ?? 0) > 0,
      );
      return accepted(
        reply,
        found.name,
        release,
        { types: type === undefined ? running.sort() : [type] },
        `/api/v1/apps/${found.name}/formation`,
      );
    },
  );
}
