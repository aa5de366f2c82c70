// The API's OpenAPI description, derived from the routes
// themselves: every route under /api/v1 declares its JSON Schemas once, in
// fastify's own `schema` option (fastify validates requests and serializes
// responses with them), and this module collects them as fastify registers
// the routes (its onRoute hook) and serves them as OpenAPI 3.1 at
// /api/v1/openapi.json. There is no second, hand-kept copy to drift; a route
// without a schema still appears, with only its method and path, and
// test/integration/web-api.test.ts fails on it.
//
// @fastify/swagger does the same and more (Swagger UI, YAML, $ref
// resolution); what Berth needs is this one mapping, so no dependency.
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import { VERSION } from '../core/version.ts';

export const API_PREFIX = '/api/v1';
export const OPENAPI_PATH = `${API_PREFIX}/openapi.json`;

/** What a route under /api/v1 says about itself beyond its JSON Schemas. */
export interface ApiDoc {
  summary: string;
  /** Longer text: what it does, which SSH command it mirrors, what to expect. */
  description?: string;
  /** Set for Server-Sent Events: the response is text/event-stream, described in words. */
  eventStream?: string;
  /** Answered without credentials. */
  public?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's words for the OpenAPI description (routes under /api/v1). */
    doc?: ApiDoc;
  }
}

type JsonSchema = Record<string, unknown>;

interface Collected {
  method: string;
  url: string;
  schema: FastifySchema;
  doc: ApiDoc | undefined;
}

/** fastify's `:param` path syntax as OpenAPI's `{param}`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** JSON Schema object properties as OpenAPI parameters of one place (path, query). */
function parameters(schema: unknown, place: 'path' | 'query'): JsonSchema[] {
  const s = schema as
    | { properties?: Record<string, JsonSchema & { description?: string }>; required?: string[] }
    | undefined;
  return Object.entries(s?.properties ?? {}).map(([name, p]) => {
    const { description, ...rest } = p;
    return {
      name,
      in: place,
      required: place === 'path' || (s?.required ?? []).includes(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

/** The error body every failure has: the registry's code (docs/errors.md). */
export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', pattern: '^BERTH_E_[A-Z0-9_]+$' },
        message: { type: 'string' },
        hint: { type: 'string' },
      },
    },
  },
} as const;

function bodyRequired(schema: unknown): boolean {
  const s = schema as { minProperties?: number; required?: string[] };
  return (s.minProperties ?? 0) > 0 || (s.required ?? []).length > 0;
}

function operation(r: Collected): JsonSchema {
  const responses: Record<string, JsonSchema> = {};
  const declared = (r.schema.response ?? {}) as Record<string, JsonSchema>;
  for (const [status, schema] of Object.entries(declared)) {
    const { description, ...body } = schema as JsonSchema & { description?: string };
    responses[status] = {
      description: description ?? (status.startsWith('2') ? 'OK' : 'Error'),
      content: { 'application/json': { schema: body } },
    };
  }
  if (r.doc?.eventStream) {
    responses['200'] = {
      description: r.doc.eventStream,
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    };
  }
  responses.default = {
    description:
      "An error: the registry's code and HTTP status (docs/errors.md); 401 without valid credentials, 404 for an app the caller may not see, exactly as for a missing one.",
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  };
  return {
    operationId: `${r.method.toLowerCase()}${r.url
      .slice(API_PREFIX.length)
      .replace(/[/:]+([a-z])/g, (_, c: string) => c.toUpperCase())
      .replace(/[^A-Za-z0-9]/g, '')}`,
    summary: r.doc?.summary ?? `${r.method} ${r.url}`,
    ...(r.doc?.description ? { description: r.doc.description } : {}),
    ...(r.doc?.public ? { security: [] } : {}),
    parameters: [
      ...parameters(r.schema.params, 'path'),
      ...parameters(r.schema.querystring, 'query'),
    ],
    ...(r.schema.body
      ? {
          requestBody: {
            // A body schema that {} satisfies is optional (such routes take no body as {}: api.ts optionalBody).
            required: bodyRequired(r.schema.body),
            content: { 'application/json': { schema: r.schema.body } },
          },
        }
      : {}),
    responses,
  };
}

/**
 * Collects the routes under /api/v1 as they are registered (call it before
 * registering them) and serves their description at OPENAPI_PATH, publicly:
 * it names no app and no user, and a client needs it before it has a token.
 */
export function installOpenApi(server: FastifyInstance): void {
  const routes: Collected[] = [];
  server.addHook('onRoute', (r: RouteOptions) => {
    if (!r.url.startsWith(`${API_PREFIX}/`) || r.url === OPENAPI_PATH) return;
    for (const method of [r.method].flat()) {
      // fastify adds HEAD beside each GET by itself; the description keeps to what routes declare.
      if (method === 'HEAD') continue;
      routes.push({ method, url: r.url, schema: r.schema ?? {}, doc: r.config?.doc });
    }
  });
  let document: JsonSchema | undefined;
  server.get(
    OPENAPI_PATH,
    {
      config: {
        auth: 'public',
        doc: { summary: 'This description (OpenAPI 3.1)', public: true },
      },
    },
    async (_req, reply) => {
      // Routes are all registered by the first request; built once.
      document ??= openApiDocument(routes);
      return reply.header('cache-control', 'no-cache').send(document);
    },
  );
}

export function openApiDocument(routes: readonly Collected[]): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const r of [...routes].sort((a, b) => a.url.localeCompare(b.url))) {
    const path = openApiPath(r.url);
    paths[path] ??= {};
    (paths[path] as Record<string, JsonSchema>)[r.method.toLowerCase()] = operation(r);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Berth API',
      version: VERSION,
      description:
        'The status page\'s JSON API: the same data and actions as the SSH commands, with the same rights. Send "Authorization: Bearer TOKEN" with a token from `auth:token` (a browser session works too; a change made with the session cookie carries the X-CSRF-Token header). Changes that roll out (scale, config, restart, rollback) answer 202 once the change is recorded, with a Location to watch: the new release, whose status goes from pending to succeeded or failed.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: ERROR_SCHEMA },
    },
    paths,
  };
}
