// app.json as Dokku and Heroku read it: JSON with comments (Dokku's own test
// apps have them), parsed once at build so that a mistake fails the build,
// not the deploy. What Berth uses:
//
//   healthchecks  Dokku's format: for a process type, checks a new instance
//                 must pass before traffic moves to it.
//                   { "healthchecks": { "web": [ { "type": "startup", "path": "/health",
//                       "content": "ok", "attempts": 5, "timeout": 5, "wait": 1,
//                       "initialDelay": 0, "uptime": 0 } ] } }
//                 `path` asks the instance over HTTP on its PORT (a 2xx whose body
//                 contains `content`, when given); `command` (an argv array) runs
//                 in the instance and passes on exit 0 (with `content` in its
//                 output, when given); with neither the check is the default one:
//                 the process accepts TCP connections. `uptime`: seconds it must
//                 still run after. Only startup checks decide a rollout
//                 (liveness and readiness checks are accepted and not run yet).
//   formation     { "web": { "quantity": 2 }, "worker": { "quantity": 1 } }: with
//                 any quantity, app.json sets the scale on every deploy (types
//                 it does not name run 0) and ps:scale is refused, as on Dokku.
//   env           { "KEY": "default" } or { "KEY": { "value", "required",
//                 "generator": "secret", "sync" } }, Dokku's rules (deploy.ts
//                 applies them: ../release/app-env.ts).
//   scripts.dokku.predeploy / postdeploy
//                 one shell line each, Dokku's deployment tasks: predeploy runs in
//                 the new image with the new config before any instance starts (its
//                 changes are committed to the image; failing, it stops the deploy
//                 and nothing changes), postdeploy once the new release serves
//                 (../release/deploy-scripts.ts). Heroku's `scripts.postdeploy` (once,
//                 after an app is created) is not run, and said so.
//   cron          [{ "command": "...", "schedule": "*/5 * * * *",
//                   "concurrency_policy": "forbid", "maintenance": false }]:
//                 one-off runs of the current release on a schedule
//                 (../release/cron.ts; the schedule is checked at deploy).
//
// Every other key is named in the build's output as not used, rather than
// ignored without a word; descriptive keys (name, description, ...) are not.
import { type ParseError, parse as parseJsonc, printParseErrorCode } from 'jsonc-parser';
import { z } from 'zod';
import { BerthError } from '../../core/errors.ts';
import * as validate from '../../core/validate.ts';

export const APP_JSON = 'app.json';

const CheckSchema = z.object({
  type: z.enum(['startup', 'liveness', 'readiness']).default('startup'),
  name: z.string().max(100).optional(),
  path: z
    .string()
    .regex(/^\/[\x21-\x7e]*$/, 'a path starting with /')
    .max(500)
    .optional(),
  /** Run in the instance (argv, no shell); passes on exit 0. */
  command: z.array(z.string().min(1).max(1000)).min(1).max(50).optional(),
  content: z.string().max(1000).optional(),
  attempts: z.number().int().min(1).max(100).default(5),
  timeout: z.number().int().min(1).max(300).default(5),
  wait: z.number().int().min(0).max(300).default(1),
  initialDelay: z.number().int().min(0).max(600).default(0),
  uptime: z.number().int().min(0).max(600).default(0),
});
export type Healthcheck = z.output<typeof CheckSchema>;

/** Process type → its startup checks. */
export type Healthchecks = Record<string, Healthcheck[]>;

const FormationSchema = z.record(
  z.string(),
  z.object({ quantity: z.number().int().min(0).max(1000).optional() }).passthrough(),
);

const EnvSchema = z.record(
  z.string(),
  // A string is the entry's default value, as on Heroku and Dokku.
  z.preprocess(
    (v) => (typeof v === 'string' ? { value: v } : v),
    z
      .object({
        description: z.string().max(2000).optional(),
        value: z.string().max(65536).optional(),
        required: z.boolean().optional(),
        generator: z.literal('secret').optional(),
        sync: z.boolean().optional(),
      })
      .passthrough(),
  ),
);

/** A shell line run in a container of the app's image (predeploy, postdeploy, cron). */
const CommandLine = z
  .string()
  .min(1)
  .max(4000)
  .refine((v) => !v.includes('\0') && v.trim() !== '', 'a command line');

const CronSchema = z
  .object({
    command: CommandLine,
    schedule: z.string().max(200),
    // Dokku's: allow (runs may overlap), forbid (a run due while one runs is
    // skipped), replace (the running one is stopped). Berth's default is
    // forbid: two runs of a job overlapping is rarely what a job expects.
    concurrency_policy: z.enum(['allow', 'forbid', 'replace']).optional(),
    maintenance: z.boolean().optional(),
  })
  .passthrough();

const ScriptsSchema = z
  .object({
    dokku: z
      .object({ predeploy: CommandLine.optional(), postdeploy: CommandLine.optional() })
      .passthrough()
      .optional(),
  })
  .passthrough();

const AppJsonSchema = z
  .object({
    healthchecks: z.record(z.string(), z.array(CheckSchema)).optional(),
    formation: FormationSchema.optional(),
    env: EnvSchema.optional(),
    scripts: ScriptsSchema.optional(),
    cron: z.array(CronSchema).max(100).optional(),
  })
  .passthrough();

/** One app.json cron task, as Dokku reads it (the schedule is checked at deploy). */
export interface CronSpec {
  command: string;
  schedule: string;
  concurrency: 'allow' | 'forbid' | 'replace';
  /** Dokku's `maintenance`: the task is kept but does not run. */
  maintenance: boolean;
}

/** One app.json env entry, as Dokku reads it. */
export interface EnvSpec {
  /** The default, set when the key has no value (on every deploy with `sync`). */
  value?: string;
  /** Default true, as on Dokku and Heroku: a deploy without it is refused. */
  required: boolean;
  /** `secret`: 64 random hex digits when the key has no value. */
  generator?: 'secret';
  /** Set to `value` on every deploy, over what the app set. */
  sync: boolean;
}

export interface AppManifest {
  healthchecks: Healthchecks;
  /** Process type → instances, when app.json gives any quantity (it then owns the scale). */
  formation?: Record<string, number>;
  env: Record<string, EnvSpec>;
  /** scripts.dokku.predeploy and postdeploy, when given. */
  scripts: { predeploy?: string; postdeploy?: string };
  cron: CronSpec[];
  /** Keys Berth does not act on, as dotted paths (`scripts.dokku.predeploy`, `addons`). */
  unused: string[];
}

/** Keys that describe the app to people and change nothing in a deploy. */
const DESCRIPTIVE = new Set([
  'name',
  'description',
  'keywords',
  'website',
  'repository',
  'logo',
  'success_url',
  'stack',
]);

export const NO_MANIFEST: AppManifest = Object.freeze({
  healthchecks: {},
  env: {},
  scripts: {},
  cron: [],
  unused: [],
}) as AppManifest;

/** app.json's text as a manifest; BERTH_E_BUILD_FAILED naming what is wrong, and where. */
export function parseAppJson(text: string): AppManifest {
  const bad = (reason: string) =>
    new BerthError('BERTH_E_BUILD_FAILED', { where: APP_JSON, reason });
  const errors: ParseError[] = [];
  const json: unknown = parseJsonc(text, errors, {
    allowTrailingComma: true,
    disallowComments: false,
  });
  const first = errors[0];
  if (first) {
    const before = text.slice(0, first.offset);
    const line = before.split('\n').length;
    const column = first.offset - before.lastIndexOf('\n');
    throw bad(
      `not valid JSON: ${printParseErrorCode(first.error)} at line ${line}, column ${column}`,
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw bad('not a JSON object');
  }
  const parsed = AppJsonSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw bad(`${issue?.path.join('.') || 'app.json'}: ${issue?.message ?? 'invalid'}`);
  }
  const data = parsed.data;
  const processType = (key: string, type: string) => {
    try {
      return validate.processType(type);
    } catch {
      throw bad(`${key}.${type.slice(0, 60)}: not a process type`);
    }
  };

  const healthchecks: Healthchecks = {};
  for (const [type, list] of Object.entries(data.healthchecks ?? {})) {
    processType('healthchecks', type);
    const startup = list.filter((c) => c.type === 'startup');
    if (startup.length > 0) healthchecks[type] = startup;
  }

  const unused: string[] = [];
  let formation: Record<string, number> | undefined;
  for (const [type, entry] of Object.entries(data.formation ?? {})) {
    processType('formation', type);
    if (entry.quantity !== undefined) formation = { ...formation, [type]: entry.quantity };
    for (const key of Object.keys(entry)) {
      if (key !== 'quantity') unused.push(`formation.${type}.${key}`);
    }
  }

  const env: Record<string, EnvSpec> = {};
  for (const [key, entry] of Object.entries(data.env ?? {})) {
    try {
      validate.envKey(key);
    } catch {
      throw bad(`env.${key.slice(0, 60)}: not a config key (letters, digits and _)`);
    }
    env[key] = {
      ...(entry.value === undefined ? {} : { value: entry.value }),
      ...(entry.generator ? { generator: entry.generator } : {}),
      required: entry.required ?? true,
      sync: entry.sync ?? false,
    };
  }

  const scripts: AppManifest['scripts'] = {};
  const dokku = data.scripts?.dokku;
  if (dokku?.predeploy !== undefined) scripts.predeploy = dokku.predeploy;
  if (dokku?.postdeploy !== undefined) scripts.postdeploy = dokku.postdeploy;
  for (const [key, value] of Object.entries(data.scripts ?? {})) {
    if (key === 'dokku') {
      for (const k of Object.keys(value as object)) {
        if (k !== 'predeploy' && k !== 'postdeploy') unused.push(`scripts.dokku.${k}`);
      }
    } else unused.push(...nestedKeys(`scripts.${key}`, value, 1));
  }

  const cron: CronSpec[] = (data.cron ?? []).map((c, i) => {
    for (const key of Object.keys(c)) {
      if (!['command', 'schedule', 'concurrency_policy', 'maintenance'].includes(key)) {
        unused.push(`cron.${i}.${key}`);
      }
    }
    return {
      command: c.command,
      schedule: c.schedule,
      concurrency: c.concurrency_policy ?? 'forbid',
      maintenance: c.maintenance ?? false,
    };
  });

  const used = new Set(['healthchecks', 'formation', 'env', 'scripts', 'cron']);
  for (const key of Object.keys(data)) {
    if (!used.has(key) && !DESCRIPTIVE.has(key)) unused.push(...nestedKeys(key, data[key]));
  }
  return { healthchecks, ...(formation ? { formation } : {}), env, scripts, cron, unused };
}

/** `scripts.dokku.predeploy` rather than `scripts`, so the line says what is not run. */
function nestedKeys(key: string, value: unknown, depth = 0): string[] {
  if (depth >= 2 || typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [key];
  }
  const inner = Object.entries(value);
  if (inner.length === 0) return [key];
  return inner.flatMap(([k, v]) => nestedKeys(`${key}.${k}`, v, depth + 1));
}

/** The startup checks of app.json (its text); BERTH_E_BUILD_FAILED naming what is wrong. */
export function parseHealthchecks(text: string): Healthchecks {
  return parseAppJson(text).healthchecks;
}
