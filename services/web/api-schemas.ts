// The JSON Schemas of the API's answers and requests, defined once:
// fastify validates request bodies with them and serializes answers through
// them (so a field not listed here never leaves the server, config values in
// a release included), and services/web/openapi.ts publishes them. Names,
// keys and counts are still checked by services/core/validate.ts in the
// handlers: these schemas say the shapes, not the rules.

/** A string that may be absent as null. */
const nullableString = { type: ['string', 'null'] } as const;
const timestamp = { type: 'string', format: 'date-time' } as const;

export const appParams = {
  type: 'object',
  required: ['app'],
  properties: { app: { type: 'string', description: 'The app name' } },
} as const;

export const buildParams = {
  type: 'object',
  required: ['app', 'id'],
  properties: {
    app: { type: 'string', description: 'The app name' },
    id: { type: 'string', description: 'The build id, as builds:list shows it' },
  },
} as const;

export const releaseParams = {
  type: 'object',
  required: ['app', 'version'],
  properties: {
    app: { type: 'string', description: 'The app name' },
    version: { type: 'string', description: 'The release: 12 or v12' },
  },
} as const;

/** Process type → instances. */
export const formationSchema = {
  type: 'object',
  description: 'Instances per process type',
  additionalProperties: { type: 'integer', minimum: 0 },
} as const;

/** A release as the API shows it: never its config snapshot (releaseSummary in api.ts). */
export const releaseSchema = {
  type: 'object',
  required: ['version', 'image', 'description', 'by', 'createdAt', 'status', 'error', 'formation'],
  properties: {
    version: { type: 'integer' },
    image: nullableString,
    description: { type: 'string', description: 'What changed, e.g. "Deploy 3f2a1c9"' },
    by: { type: 'string' },
    createdAt: timestamp,
    status: { type: 'string', enum: ['pending', 'succeeded', 'failed'] },
    error: { ...nullableString, description: 'Why a failed release failed' },
    formation: formationSchema,
  },
} as const;

const nullableRelease = { anyOf: [releaseSchema, { type: 'null' }] } as const;

const overviewProperties = {
  status: {
    type: 'string',
    enum: ['running', 'deploying', 'crashed', 'stopped', 'failed', 'not deployed'],
  },
  urls: { type: 'array', items: { type: 'string' } },
  formation: formationSchema,
  stopped: {
    type: 'array',
    items: { type: 'string' },
    description: 'Process types stopped by ps:stop (_all_: every one)',
  },
  routed: { type: 'integer', description: 'Web instances the router sends requests to' },
  lastDeploy: { ...nullableRelease, description: 'The newest release, whatever its status' },
  lastFailed: { type: ['integer', 'null'], description: 'The newest failed release' },
  release: { ...nullableRelease, description: 'The current release: what runs' },
} as const;

const appSummary = {
  type: 'object',
  required: ['name', 'owner', 'createdAt', 'status', 'release'],
  properties: {
    name: { type: 'string' },
    owner: { type: 'string' },
    createdAt: timestamp,
    ...overviewProperties,
  },
} as const;

export const appsResponse = {
  type: 'object',
  required: ['apps'],
  properties: { apps: { type: 'array', items: appSummary } },
} as const;

export const appResponse = {
  type: 'object',
  required: ['app'],
  properties: {
    app: {
      type: 'object',
      required: [...appSummary.required, 'collaborators', 'domains', 'gitUrl'],
      properties: {
        ...appSummary.properties,
        collaborators: { type: 'array', items: { type: 'string' } },
        deployBranch: { type: 'string' },
        domains: { type: 'array', items: { type: 'string' }, description: 'Custom domains' },
        gitUrl: { type: 'string' },
      },
    },
  },
} as const;

export const releasesResponse = {
  type: 'object',
  required: ['app', 'releases'],
  properties: { app: { type: 'string' }, releases: { type: 'array', items: releaseSchema } },
} as const;

export const releaseResponse = {
  type: 'object',
  required: ['app', 'release'],
  properties: { app: { type: 'string' }, release: releaseSchema },
} as const;

const certificateSchema = {
  type: ['object', 'null'],
  description: 'What Berth records about the certificate; null without one',
  properties: {
    source: { type: 'string', enum: ['manual', 'acme'] },
    issuer: nullableString,
    serial: nullableString,
    notBefore: nullableString,
    notAfter: nullableString,
    lastRenewalAt: nullableString,
    lastError: { ...nullableString, description: 'Why the last issuance or renewal failed' },
    nextAttemptAt: nullableString,
    failures: { type: ['integer', 'null'] },
  },
} as const;

export const domainsResponse = {
  type: 'object',
  required: ['app', 'domains', 'https'],
  properties: {
    app: { type: 'string' },
    domains: {
      type: 'array',
      items: {
        type: 'object',
        required: ['domain', 'kind', 'certificate'],
        properties: {
          domain: { type: 'string' },
          kind: { type: 'string', enum: ['default', 'global', 'custom'] },
          certificate: certificateSchema,
        },
      },
    },
    https: {
      type: 'object',
      properties: {
        httpsRedirect: { type: 'boolean' },
        hsts: { type: 'boolean' },
        hstsMaxAge: { type: 'integer' },
      },
    },
  },
} as const;

const buildSchema = {
  type: 'object',
  required: ['id', 'app', 'requestedAt', 'status'],
  properties: {
    id: { type: 'string' },
    app: { type: 'string' },
    rev: { type: 'string', description: 'The commit (absent once the job is gone)' },
    ref: { type: 'string' },
    pusher: { type: 'string' },
    requestedAt: timestamp,
    status: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'unknown'] },
    error: { type: 'string' },
    image: { type: 'string' },
    position: { type: 'integer', description: '1: the next build to start (queued builds)' },
  },
} as const;

export const buildsResponse = {
  type: 'object',
  required: ['app', 'builds'],
  properties: { app: { type: 'string' }, builds: { type: 'array', items: buildSchema } },
} as const;

export const buildResponse = {
  type: 'object',
  required: ['app', 'build'],
  properties: {
    app: { type: 'string' },
    build: buildSchema,
    stream: { type: 'string', description: 'Where its log is, as Server-Sent Events' },
  },
} as const;

const instanceSchema = {
  type: 'object',
  required: ['type', 'instance', 'release', 'state', 'restarts'],
  properties: {
    type: { type: 'string' },
    instance: { type: 'integer' },
    release: { type: 'integer' },
    state: { type: 'string' },
    startedAt: { type: 'string' },
    restarts: { type: 'integer' },
    exitCode: { type: 'integer' },
    usage: {
      type: 'object',
      description:
        "While it runs: CPU over the Engine's last second (percent of one CPU) and memory without page cache, as docker stats",
      required: ['cpuPercent', 'memoryBytes', 'memoryLimitBytes'],
      properties: {
        cpuPercent: { type: 'number' },
        memoryBytes: { type: 'integer' },
        memoryLimitBytes: { type: 'integer' },
      },
    },
  },
} as const;

export const formationResponse = {
  type: 'object',
  required: ['app', 'formation', 'stopped', 'instances'],
  properties: {
    app: { type: 'string' },
    formation: formationSchema,
    stopped: overviewProperties.stopped,
    instances: {
      type: ['array', 'null'],
      items: instanceSchema,
      description: "ps:report's instances; null when the Docker Engine does not answer in time",
    },
    note: { type: 'string', description: 'Why instances is null' },
  },
} as const;

export const formationBody = {
  type: 'object',
  description: 'New counts by process type, as ps:scale web=2 worker=1; other types keep theirs',
  minProperties: 1,
  additionalProperties: { type: 'integer', minimum: 0 },
} as const;

export const configResponse = {
  type: 'object',
  required: ['app', 'keys'],
  properties: {
    app: { type: 'string' },
    keys: { type: 'array', items: { type: 'string' } },
    values: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description:
        'Key → value, as config:show; only for those allowed to see values (absent otherwise)',
    },
  },
} as const;

export const configBody = {
  type: 'object',
  description:
    'Keys to set to a string, or to remove with null (as Heroku\'s PATCH config-vars); {"A":"1","B":null}',
  minProperties: 1,
  additionalProperties: { type: ['string', 'null'] },
} as const;

export const configKeyParams = {
  type: 'object',
  required: ['app', 'key'],
  properties: { app: appParams.properties.app, key: { type: 'string' } },
} as const;

/** What a change that rolls out answers (202): where to watch it. */
export const changeAccepted = {
  type: 'object',
  required: ['app', 'release'],
  description:
    'Accepted: the change is recorded and rolls out now; the release goes from pending to succeeded or failed (GET the Location)',
  properties: {
    app: { type: 'string' },
    release: releaseSchema,
    keys: { type: 'array', items: { type: 'string' }, description: 'Config keys changed' },
  },
} as const;

export const configChanged = {
  type: 'object',
  required: ['app', 'keys', 'release'],
  description:
    'Recorded, with nothing to roll out: the app is not deployed yet (its first deploy uses the config), or nothing changed',
  properties: {
    app: { type: 'string' },
    keys: { type: 'array', items: { type: 'string' } },
    release: { type: 'null' },
  },
} as const;

export const restartBody = {
  type: 'object',
  properties: {
    type: { type: 'string', description: 'One process type; absent: every one' },
  },
} as const;

export const restartAccepted = {
  type: 'object',
  required: ['app', 'release', 'types'],
  description:
    "Accepted: the current release's instances start again, rolled out as a deploy (GET the Location for the instances)",
  properties: {
    app: { type: 'string' },
    release: releaseSchema,
    types: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const rollbackBody = {
  type: 'object',
  properties: {
    to: {
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      description: 'The release to go back to (12 or "v12"); absent: the one before the current',
    },
  },
} as const;
