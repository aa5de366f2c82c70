// app.json `healthchecks`, in Dokku's format: for a process type, checks a new
// instance must pass before traffic moves to it.
//
//   { "healthchecks": { "web": [ { "type": "startup", "path": "/health",
//       "content": "ok", "attempts": 5, "timeout": 5, "wait": 1,
//       "initialDelay": 0, "uptime": 0 } ] } }
//
// `path` asks the instance over HTTP on its PORT (a 2xx whose body contains
// `content`, when given); `command` (an argv array) runs in the instance and
// passes on exit 0 (with `content` in its output, when given); with neither
// the check is the default one: the process accepts TCP connections.
// `uptime`: seconds it must still run after. Only startup checks decide a
// rollout (liveness and readiness checks are accepted and not run yet).
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

const AppJsonSchema = z.object({
  healthchecks: z.record(z.string(), z.array(CheckSchema)).optional(),
});

/** The startup checks of app.json (its text); BERTH_E_BUILD_FAILED naming what is wrong. */
export function parseHealthchecks(text: string): Healthchecks {
  const bad = (reason: string) =>
    new BerthError('BERTH_E_BUILD_FAILED', { where: APP_JSON, reason });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(`not valid JSON (${(e as Error).message.slice(0, 100)})`);
  }
  const parsed = AppJsonSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw bad(`${issue?.path.join('.') ?? 'healthchecks'}: ${issue?.message ?? 'invalid'}`);
  }
  const checks: Healthchecks = {};
  for (const [type, list] of Object.entries(parsed.data.healthchecks ?? {})) {
    try {
      validate.processType(type);
    } catch {
      throw bad(`healthchecks.${type.slice(0, 60)}: not a process type`);
    }
    const startup = list.filter((c) => c.type === 'startup');
    if (startup.length > 0) checks[type] = startup;
  }
  return checks;
}
