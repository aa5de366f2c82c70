// The records Berth keeps in Redis, defined once as zod schemas: the types
// other services import are inferred from them, and every read path parses
// what Redis returned through them, so a hand-edited or half-migrated record
// becomes BERTH_E_STORE_CORRUPT instead of undefined deep in a deploy.
//
// Records are Redis hashes of strings: numbers are decimal, nested values
// (config snapshot, formation) are JSON, timestamps are ISO 8601 (UTC), and a
// field is absent where the record says null.

import { isIP } from 'node:net';
import { z } from 'zod';
import { BerthError } from '../errors.ts';
import { KEY_TYPES } from '../ssh-key.ts';
import * as validate from '../validate.ts';

export const ROLES = ['admin', 'user'] as const;
export type Role = (typeof ROLES)[number];
export const RELEASE_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];
/** What an API token may do: read (see apps, no config values, no changes) or write (all its user may). */
export const TOKEN_SCOPES = ['read', 'write'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];
export const CERT_SOURCES = ['manual', 'acme'] as const;
export type CertSource = (typeof CERT_SOURCES)[number];

const timestamp = z.iso.datetime();

/** Whether a value passes one of validate.ts' checks unchanged. */
const passes = (check: (v: string) => unknown, v: string) => {
  try {
    return check(v) === v;
  } catch {
    return false;
  }
};

/** A string field that must pass one of validate.ts' checks (a hand-edited name must not slip through). */
export const named = (check: (v: string) => string, what: string) =>
  z.string().refine((v) => passes(check, v), `not a valid ${what}`);

/** An optional hash field, read back as null when absent. */
const nullable = <T extends z.ZodType>(schema: T) =>
  schema.optional().transform((v): z.output<T> | null => v ?? null);

/** A hash field holding JSON, parsed and then checked by `inner`. */
const json = <T extends z.ZodType>(inner: T) =>
  z
    .string()
    .transform((text, ctx): unknown => {
      try {
        return JSON.parse(text);
      } catch {
        ctx.issues.push({ code: 'custom', message: 'not valid JSON', input: text });
        return z.NEVER;
      }
    })
    .pipe(inner);

const decimal = z
  .string()
  .regex(/^[1-9][0-9]{0,14}$/, 'not a positive integer')
  .transform(Number);

export const AppSchema = z.object({
  name: named(validate.appName, 'app name'),
  owner: named(validate.userName, 'user name'),
  createdAt: timestamp,
  /** Pushing this branch deploys. */
  deployBranch: z.string().min(1),
  /** Users who may push and run commands on the app besides its owner; sorted. */
  collaborators: z.array(named(validate.userName, 'user name')),
});
export type App = z.output<typeof AppSchema>;

/** How an app's builds are made: `builder:set`, `builder-dockerfile:set`, `buildpacks:set`. */
export const BUILDERS = ['dockerfile', 'buildpacks', 'image'] as const;
export type Builder = (typeof BUILDERS)[number];

/** What the latest build chose, for builder:report. */
export const DetectionSchema = z.object({
  build: z.string(),
  at: timestamp,
  builder: z.enum(BUILDERS),
  /** The buildpacks that ran, in order (buildpack builds). */
  buildpacks: z.array(named(validate.buildpack, 'buildpack')).optional(),
  reason: z.string(),
});
export type Detection = z.output<typeof DetectionSchema>;

/** Kept in the app's hash beside the App fields (which AppSchema does not read). */
export const BuildSettingsSchema = z.object({
  /** null: detected at each build (a Dockerfile, else the buildpacks). */
  builder: nullable(z.enum(BUILDERS)),
  /** null: `Dockerfile` at the root. */
  dockerfilePath: nullable(named(validate.repoFilePath, 'path')),
  /** Config keys whose values a Dockerfile build gets as build args. */
  buildArgs: json(z.array(named(validate.envKey, 'config key')))
    .optional()
    .transform((v) => v ?? []),
  /** Buildpacks pinned in order; empty: detected (a .buildpacks file, else every shipped one in order). */
  buildpacks: json(z.array(named(validate.buildpack, 'buildpack')))
    .optional()
    .transform((v) => v ?? []),
  detected: nullable(json(DetectionSchema)),
});
export type BuildSettings = z.output<typeof BuildSettingsSchema>;

/** Process types a checks:* setting applies to; `_all_` for every type (Dokku's spelling). */
const checkTypes = json(
  z.array(z.union([z.literal('_all_'), named(validate.processType, 'process type')])),
)
  .optional()
  .transform((v) => v ?? []);

/**
 * How an app's instances run, kept in the app's hash (not in its releases, so
 * a rollback keeps them): how rollouts check new instances (checks:disable,
 * checks:skip), which types ps:stop stopped, the app's storage volumes (and
 * those handed over to it), its resource limits and the scheduler that runs them.
 */
export const DeploySettingsSchema = z.object({
  /** No checks, and the old instances stop before the new ones start (downtime). */
  checksDisabled: checkTypes,
  /** No checks: a new instance is taken as ready once it runs. */
  checksSkipped: checkTypes,
  /** Stopped by ps:stop: no instance runs, through deploys and restarts of Berth, until ps:start. */
  stopped: checkTypes,
  /** storage:mount: the app's named volumes and where its containers see them. */
  storage: json(
    z.array(
      z.object({
        name: named(validate.storageName, 'storage name'),
        path: named(validate.containerPath, 'container path'),
      }),
    ),
  )
    .optional()
    .transform((v) => v ?? []),
  /**
   * storage:hand-over: names of volumes kept from an earlier app of this name
   * that an admin gave this one (apps/storage.ts says whose a volume is).
   */
  handedStorage: json(z.array(named(validate.storageName, 'storage name')))
    .optional()
    .transform((v) => v ?? []),
  /** resource:limit: by process type, or `_all_` for every type without its own. */
  resources: json(
    z.record(
      z
        .string()
        .refine((k) => k === '_all_' || passes(validate.processType, k), 'not a process type'),
      z.object({
        /** Bytes. */
        memory: z
          .number()
          .int()
          .min(6 * 1024 ** 2)
          .optional(),
        cpus: z.number().min(0.01).max(256).optional(),
        /** Processes and threads. */
        pids: z.number().int().min(16).max(1_000_000).optional(),
      }),
    ),
  )
    .optional()
    .transform((v) => v ?? {}),
  /** What runs the app's instances (services/platform/scheduler/schedulers.ts); null: docker-local. */
  scheduler: nullable(named(validate.schedulerName, 'scheduler name')),
  /**
   * network:set APP attach-post-deploy: the shared networks (network:create)
   * its instances and one-off runs join besides the app's own.
   */
  networks: json(z.array(named(validate.networkName, 'network name')))
    .optional()
    .transform((v) => v ?? []),
  /** ports:set|add: the app's port mappings (validate.portMapping); empty: the detected one. */
  portsMap: json(
    z.array(
      z.object({
        scheme: z.enum(['http', 'https']),
        hostPort: z.number().int().min(1).max(65535),
        containerPort: z.number().int().min(1).max(65535),
      }),
    ),
  )
    .optional()
    .transform((v) => v ?? []),
  /**
   * The TCP ports the app's latest image EXPOSEs, the first one first, as the
   * deploy read them (Dokku's "port map detected"); empty: none (5000).
   */
  portsDetected: json(z.array(z.number().int().min(1).max(65535)))
    .optional()
    .transform((v) => v ?? []),
  /** checks:set APP wait-to-retire: seconds the previous release's instances keep running; null: BERTH_DRAIN_TIMEOUT. */
  waitToRetire: nullable(
    z
      .string()
      .regex(/^(0|[1-9][0-9]{0,5})$/, 'not seconds')
      .transform(Number),
  ),
  /** checks:set APP default-wait: seconds a process without checks must keep running; null: 10. */
  defaultWait: nullable(
    z
      .string()
      .regex(/^(0|[1-9][0-9]{0,3})$/, 'not seconds')
      .transform(Number),
  ),
  /** ps:set APP restart-policy (validate.restartPolicy); null: the global one, else unless-stopped. */
  restartPolicy: nullable(named(validate.restartPolicy, 'restart policy')),
  /** ps:set APP stop-timeout-seconds; null: the global one, else 30. */
  stopTimeoutSeconds: nullable(
    z
      .string()
      .regex(/^(0|[1-9][0-9]{0,3})$/, 'not seconds')
      .transform(Number),
  ),
  /** ps:set APP procfile-path (validate.procfilePath); null: the global one, else Procfile. */
  procfilePath: nullable(named(validate.procfilePath, 'Procfile path')),
  /** logs:set APP max-size (validate.logMaxSize: 10m, or unlimited); null: the global one, else 10m. */
  logMaxSize: nullable(named(validate.logMaxSize, 'log max size')),
  /**
   * docker-options:add APP PHASE OPTION (admins): the options as given, by
   * phase, each re-checked by services/platform/apps/docker-options.ts
   * whenever a container is made from them.
   */
  dockerOptions: json(
    z.object({
      deploy: z.array(z.string().max(4096)).max(64).default([]),
      run: z.array(z.string().max(4096)).max(64).default([]),
    }),
  )
    .optional()
    .transform((v) => v ?? { deploy: [], run: [] }),
  /**
   * scheduler-swarm:set APP placement-constraints|placement-preferences:
   * where the swarm scheduler places the app's tasks (validate.placementConstraint,
   * validate.placementPreference), applied to its services from the next deploy.
   */
  placementConstraints: json(z.array(named(validate.placementConstraint, 'placement constraint')))
    .optional()
    .transform((v) => v ?? []),
  placementPreferences: json(z.array(named(validate.placementPreference, 'placement preference')))
    .optional()
    .transform((v) => v ?? []),
  /** ps:scale before the first deploy: the counts that deploy starts (Dokku records them too). */
  firstFormation: json(
    z.record(
      z.string().refine((k) => passes(validate.processType, k), 'not a process type'),
      z.number().int().min(0).max(1_000_000),
    ),
  )
    .optional()
    .transform((v) => v ?? {}),
});
export type AppDeploySettings = z.output<typeof DeploySettingsSchema>;
/**
 * An app's own settings, with the platform's defaults beside them (`global`,
 * read in the same round trip): where an app sets nothing, the global value
 * applies (instance-spec.ts, rollout.ts); reports show both.
 */
export type DeploySettings = AppDeploySettings & {
  global: GlobalSettings;
  /** config:set --global: under the release's own config in each instance's environment. */
  globalConfig: Readonly<Record<string, string>>;
};

/**
 * Platform-wide defaults an admin sets with `--global` (`ps:set --global
 * restart-policy always`, `checks:set --global wait-to-retire 60`...), one
 * hash. An app's own setting wins over these; these win over the built-in
 * defaults and BERTH_* variables of the same meaning.
 */
export const GlobalSettingsSchema = z.object({
  waitToRetire: DeploySettingsSchema.shape.waitToRetire,
  defaultWait: DeploySettingsSchema.shape.defaultWait,
  restartPolicy: DeploySettingsSchema.shape.restartPolicy,
  stopTimeoutSeconds: DeploySettingsSchema.shape.stopTimeoutSeconds,
  procfilePath: DeploySettingsSchema.shape.procfilePath,
  logMaxSize: DeploySettingsSchema.shape.logMaxSize,
  /** scheduler:set --global selected: what runs apps that choose none (over docker-local). */
  scheduler: DeploySettingsSchema.shape.scheduler,
  /** builder:set --global selected: how apps that choose none are built (over detection). */
  builder: BuildSettingsSchema.shape.builder,
  /** builder-dockerfile:set --global dockerfile-path: for apps that set none (over Dockerfile). */
  dockerfilePath: BuildSettingsSchema.shape.dockerfilePath,
  /** git:set --global deploy-branch: the deploy branch apps get when created (over main). */
  deployBranch: nullable(named(validate.branchName, 'branch name')),
  /** resource:limit --global: limits of every process type of apps that set none (over BERTH_DEFAULT_*). */
  resources: nullable(
    json(
      z.object({
        memory: z
          .number()
          .int()
          .min(6 * 1024 ** 2)
          .optional(),
        cpus: z.number().min(0.01).max(256).optional(),
        pids: z.number().int().min(16).max(1_000_000).optional(),
      }),
    ),
  ),
});
export type GlobalSettings = z.output<typeof GlobalSettingsSchema>;
export type GlobalSettingField = keyof GlobalSettings;

/** HSTS max-age (seconds) when `certs:set APP hsts on` gives none: one year. */
export const DEFAULT_HSTS_MAX_AGE = 31_536_000;

const onOff = z.enum(['on', 'off']).transform((v) => v === 'on');

/**
 * How the router serves an app over HTTPS (certs:set), kept in the app's hash
 * so apps:rename and apps:destroy carry them; the router reads them with the
 * app's routes (proxy/route-sync.ts).
 */
export const HttpsSettingsSchema = z.object({
  /** Plain HTTP to a host with a certificate gets a 308 to HTTPS; default on. */
  httpsRedirect: onOff.optional().transform((v) => v ?? true),
  /** Strict-Transport-Security on HTTPS responses; default off. */
  hsts: onOff.optional().transform((v) => v ?? false),
  hstsMaxAge: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,9})$/, 'not a number of seconds')
    .transform(Number)
    .optional()
    .transform((v) => v ?? DEFAULT_HSTS_MAX_AGE),
});
export type HttpsSettings = z.output<typeof HttpsSettingsSchema>;
export type HttpsSettingField = keyof HttpsSettings;

/**
 * How the router treats an app's traffic (proxy:set), kept in the app's hash
 * and read by the router with the app's routes.
 */
export const ProxySettingsSchema = z.object({
  /** Bytes; 0: no limit; null: BERTH_MAX_BODY_SIZE. */
  maxBodySize: nullable(
    z
      .string()
      .regex(/^(?:0|[1-9][0-9]{0,12})$/, 'not a number of bytes')
      .transform(Number),
  ),
});
export type ProxySettings = z.output<typeof ProxySettingsSchema>;
export type DeploySettingField = keyof AppDeploySettings;

/** A shared network an admin made (network:create), which apps join at their owners' request. */
export const SharedNetworkSchema = z.object({
  name: named(validate.networkName, 'network name'),
  createdAt: z.string(),
  /** Who made it. */
  by: z.string(),
});
export type SharedNetwork = z.output<typeof SharedNetworkSchema>;

/** The kinds of datastore Berth runs (services/platform/datastores/kinds.ts has each one's folder). */
export const DATASTORE_KINDS = ['postgres', 'redis', 'mysql'] as const;
export type DatastoreKindName = (typeof DATASTORE_KINDS)[number];

/** A datastore (postgres:create): its server runs in a container of its own, its data on a volume. */
export const DatastoreSchema = z.object({
  kind: z.enum(DATASTORE_KINDS),
  name: named(validate.datastoreName, 'datastore name'),
  /** As --image-version gave it (15). */
  version: z.string().regex(/^[0-9][0-9.]{0,9}$/, 'not a version'),
  /** The user who made it: they and admins see it. */
  owner: z.string(),
  createdAt: timestamp,
  /** The server's password: a secret, shown only by info --dsn and in linked apps' config. */
  password: named(validate.datastorePassword, 'datastore password'),
  /** The container's memory limit in bytes (--memory). */
  memory: z.number().int().positive(),
  /**
   * The Docker volume that holds its data, when not the container's name:
   * upgrade restores into a new volume (`berth-<kind>-<name>.<version>`)
   * and keeps the old one until the new server answers.
   */
  volume: z
    .string()
    .regex(/^berth-[a-z0-9][a-z0-9.-]{0,80}$/, 'not a datastore volume')
    .optional(),
  /** Where expose publishes its port on the host (none: reachable on Berth's networks only). */
  exposed: z
    .object({ address: z.string().refine((a) => isIP(a) !== 0), port: z.number().int() })
    .optional(),
});
export type Datastore = z.output<typeof DatastoreSchema>;
export type BuildSettingField = keyof BuildSettings;

export const UserSchema = z.object({
  name: named(validate.userName, 'user name'),
  role: z.enum(ROLES),
  createdAt: timestamp,
  /** When the user's last SSH key was removed: web sessions started until then no longer work. */
  credentialsRevokedAt: timestamp.optional(),
});
export type User = z.output<typeof UserSchema>;

export const SshKeySchema = z.object({
  fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'not a SHA256 fingerprint'),
  type: z.enum(KEY_TYPES),
  /** The key blob, base64 as in the .pub file. */
  key: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, 'not base64'),
  comment: z.string(),
  /** The one user this key authenticates as. */
  user: named(validate.userName, 'user name'),
  addedAt: timestamp,
});
export type SshKey = z.output<typeof SshKeySchema>;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'not a SHA-256 in hex');

/** A browser session (the cookie itself is never stored, only its SHA-256 in the key). */
export const SessionSchema = z.object({
  user: named(validate.userName, 'user name'),
  /** The user's createdAt when the session began: a removed and re-created user is someone else. */
  userCreatedAt: timestamp,
  /** The session's CSRF token, sent back in forms and the X-CSRF-Token header. */
  csrf: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'not a CSRF token'),
  createdAt: timestamp,
  expiresAt: timestamp,
});
export type Session = z.output<typeof SessionSchema>;

/** An API token's record; its secret is never stored, only `hash`. */
export const ApiTokenSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{16}$/, 'not a token id'),
  hash: sha256,
  name: named(validate.tokenName, 'token name'),
  user: named(validate.userName, 'user name'),
  userCreatedAt: timestamp,
  createdAt: timestamp,
  expiresAt: timestamp,
  lastUsedAt: nullable(timestamp),
  /** Absent on tokens issued before scopes: those may write. */
  scope: z
    .enum(TOKEN_SCOPES)
    .optional()
    .transform((v) => v ?? 'write'),
});
export type ApiToken = z.output<typeof ApiTokenSchema>;

/**
 * The per-user quotas, by the names quota:set takes (issue 16). Their
 * defaults are BERTH_QUOTA_APPS, _INSTANCES, _PROCESS_TYPES, _BUILD_MINUTES,
 * _PUSH_SIZE and _DISK; admins have none. The first four are counts, the
 * last two sizes in bytes (SIZE_QUOTAS).
 */
export const QUOTAS = [
  'apps',
  'instances',
  'process-types',
  'build-minutes',
  'push-size',
  'disk',
] as const;
export type QuotaName = (typeof QUOTAS)[number];
/** The quotas whose caps are sizes in bytes (512m), not counts. */
export const SIZE_QUOTAS: readonly QuotaName[] = ['push-size', 'disk'];
/** A cap per quota; null: none. */
export type QuotaCaps = Record<QuotaName, number | null>;

const cap = z.union([
  z.literal('unlimited').transform(() => null),
  z
    .string()
    .regex(/^(0|[1-9][0-9]{0,6})$/, 'not a count')
    .transform(Number),
]);
const sizeCap = z.union([
  z.literal('unlimited').transform(() => null),
  z
    .string()
    .regex(/^(0|[1-9][0-9]{0,12})$/, 'not a size in bytes')
    .transform(Number),
]);

/** The caps an admin set for one user (quota:set); an absent quota is the default. */
export const UserQuotasSchema = z.object({
  apps: cap.optional(),
  instances: cap.optional(),
  'process-types': cap.optional(),
  'build-minutes': cap.optional(),
  'push-size': sizeCap.optional(),
  disk: sizeCap.optional(),
});
export type UserQuotas = z.output<typeof UserQuotasSchema>;

/** Process type -> number of containers, as `ps:scale web=2 worker=1` sets it. */
export const FormationSchema = z.record(
  named(validate.processType, 'process type'),
  z.number().int().min(0).max(1000),
);
export type Formation = z.output<typeof FormationSchema>;

/** Env key -> value. */
export const ConfigVarsSchema = z.record(z.string(), z.string());
export type ConfigVars = z.output<typeof ConfigVarsSchema>;

/** Process type -> command (null: the image's own ENTRYPOINT/CMD), from the build. */
export const ProcessesSchema = z.record(
  named(validate.processType, 'process type'),
  z.string().nullable(),
);
export type Processes = z.output<typeof ProcessesSchema>;

/** A release's source: the commit its image was built from, or the image git:from-image took. */
export const RELEASE_SOURCE = /^(commit:[0-9a-f]{40}|image:[\x21-\x7e]{1,255})$/;

export const ReleaseSchema = z.object({
  app: named(validate.appName, 'app name'),
  version: decimal,
  /** The image to run; null before the first build (a release of config only). */
  image: nullable(z.string().min(1)),
  /** The app's config vars when the release was made. */
  config: json(ConfigVarsSchema),
  formation: json(FormationSchema),
  /** The image's process types; {} for releases made before this field. */
  processes: json(ProcessesSchema)
    .optional()
    .transform((v) => v ?? {}),
  /** app.json healthchecks by process type (services/platform/build/app-json.ts reads them). */
  healthchecks: json(z.record(z.string(), z.array(z.unknown())))
    .optional()
    .transform((v) => v ?? {}),
  /** app.json cron tasks (services/platform/release/cron.ts schedules them); [] without. */
  cron: json(z.array(z.unknown()))
    .optional()
    .transform((v) => v ?? []),
  /**
   * `app.json` when the formation is the app.json's (its `formation` key with a
   * quantity): ps:scale is then refused, as on Dokku. Absent otherwise.
   */
  formationFrom: z.enum(['app.json']).optional(),
  /** What changed, e.g. "Deploy 3f2a1c9" or "Set FOO config vars". */
  description: z.string(),
  /** The user who made the change. */
  by: named(validate.userName, 'user name'),
  createdAt: timestamp,
  status: z.enum(RELEASE_STATUSES),
  /** Why a failed release failed (one line); null otherwise. */
  error: nullable(z.string().max(1000)),
  /**
   * What its image was made from, so `berth restore` can make it again:
   * `commit:<40 hex>` or `image:<reference>`; null for releases made before
   * this field (restore then reads the description, "Deploy 3f2a1c9").
   */
  source: nullable(z.string().regex(RELEASE_SOURCE, 'not commit:<sha> or image:<ref>')),
  /** The build that made it (a push's); absent for releases no build made. */
  build: z.string().optional(),
  /** A rollback's: the version it took back. */
  rollbackTo: decimal.optional(),
});
export type Release = z.output<typeof ReleaseSchema>;

export const CertMetaSchema = z.object({
  domain: named(validate.domainOrWildcard, 'domain'),
  source: z.enum(CERT_SOURCES),
  // Null until a certificate has been issued (an ACME order may still be failing).
  issuer: nullable(z.string()),
  serial: nullable(z.string()),
  notBefore: nullable(timestamp),
  notAfter: nullable(timestamp),
  lastRenewalAt: nullable(timestamp),
  /** Why the last issuance or renewal failed; null after a success. */
  lastError: nullable(z.string()),
  /** When the renewer should try next (backoff after failures). */
  nextAttemptAt: nullable(timestamp),
  /** Failed attempts in a row since the last success (the backoff doubles with each). */
  failures: nullable(
    z
      .string()
      .regex(/^\d{1,6}$/)
      .transform(Number),
  ),
});
export type CertMeta = z.output<typeof CertMetaSchema>;

/** Parses a record read from `key`; a wrong shape is BERTH_E_STORE_CORRUPT, naming the key. */
export function decode<T extends z.ZodType>(schema: T, key: string, raw: unknown): z.output<T> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new BerthError('BERTH_E_STORE_CORRUPT', {
    key,
    reason: `${where}${issue?.message ?? 'invalid'}`,
  });
}

/** A record as a flat list of hash fields: null fields left out, objects as JSON. */
export function toFields(record: Record<string, unknown>): string[] {
  const fields: string[] = [];
  for (const [name, value] of Object.entries(record)) {
    if (value === null || value === undefined) continue;
    fields.push(name, typeof value === 'object' ? JSON.stringify(value) : String(value));
  }
  return fields;
}
