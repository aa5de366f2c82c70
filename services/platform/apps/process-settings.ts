// ps:set and logs:set — how an app's instances run and keep their output, per
// app or (admins, `--global`) for every app that sets none, as Dokku's
// properties: restart-policy, procfile-path, stop-timeout-seconds, max-size.
// An app's value wins over the global one, which wins over Berth's default.
// The scheduler applies them to the containers it makes from then on
// (release/instance-spec.ts, scheduler/docker-local.ts); procfile-path is
// read by the next build (build/run-build.ts).
import { BerthError } from '../../core/errors.ts';
import type { App, AppDeploySettings, GlobalSettings, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';

type Field = 'restartPolicy' | 'procfilePath' | 'stopTimeoutSeconds' | 'logMaxSize';

interface Property {
  field: Field;
  /** Berth's own default, shown as the computed value when nothing is set. */
  builtin: string;
  check(value: string, admin: boolean): string | number;
}

export const PS_PROPERTIES: Readonly<Record<string, Property>> = {
  'restart-policy': {
    field: 'restartPolicy',
    // Berth's reconciler and crash-loop notices watch what restarts; Dokku's is on-failure:10.
    builtin: 'unless-stopped',
    check: (v) => validate.restartPolicy(v),
  },
  'procfile-path': {
    field: 'procfilePath',
    builtin: 'Procfile',
    check: (v) => validate.procfilePath(v),
  },
  'stop-timeout-seconds': {
    field: 'stopTimeoutSeconds',
    builtin: '30',
    check: (v) => validate.seconds(v, 'stop timeout', 3600),
  },
};

export const LOGS_PROPERTIES: Readonly<Record<string, Property>> = {
  'max-size': {
    field: 'logMaxSize',
    builtin: '10m',
    check: (v, admin) => {
      const size = validate.logMaxSize(v);
      // Unrotated logs grow until the disk is full: the operator's call, not a tenant's.
      if (size === 'unlimited' && !admin) {
        throw new BerthError('BERTH_E_FORBIDDEN', {
          action: 'logs:set max-size unlimited',
          who: 'admins (unrotated logs can fill the disk); use a size up to 1g',
        });
      }
      return size;
    },
  },
};

/**
 * Sets (or, with no value, clears) one property of an app or, with no app,
 * the global default. The caller has checked who may (the dispatcher: admins
 * for --global).
 */
export async function setProperty(
  store: Store,
  command: string,
  properties: Readonly<Record<string, Property>>,
  app: App | undefined,
  key: string,
  value: string | undefined,
  admin: boolean,
): Promise<void> {
  const p = properties[key];
  if (p === undefined) {
    throw new BerthError('BERTH_E_UNKNOWN_SETTING', {
      command,
      key,
      settings: Object.keys(properties).join(', '),
    });
  }
  const checked = value === undefined || value === '' ? null : p.check(value, admin);
  if (app === undefined) {
    await store.platform.set(p.field, checked as never);
    return;
  }
  await store.apps.setDeploySetting(app.name, p.field, checked as never);
}

/**
 * Dokku's report rows of these properties: for an app, its own, the global
 * and the computed value of each; with no app (--global), the global ones.
 */
export function propertyRows(
  namespace: string,
  properties: Readonly<Record<string, Property>>,
  own: Pick<AppDeploySettings, Field> | undefined,
  global: GlobalSettings,
): [string, string][] {
  const rows: [string, string][] = [];
  const words = (key: string) => key.replaceAll('-', ' ');
  const ns = namespace[0]?.toUpperCase() + namespace.slice(1);
  for (const [key, p] of Object.entries(properties)) {
    const g = global[p.field];
    if (own === undefined) {
      // Dokku 0.38's --global report: the global value, and the one in effect for apps without their own.
      rows.push([`${ns} global ${words(key)}`, g === null ? '' : String(g)]);
      rows.push([`${ns} computed ${words(key)}`, String(g ?? p.builtin)]);
      continue;
    }
    const a = own[p.field];
    rows.push([`${ns} ${words(key)}`, a === null ? '' : String(a)]);
    rows.push([`${ns} global ${words(key)}`, g === null ? '' : String(g)]);
    rows.push([`${ns} computed ${words(key)}`, String(a ?? g ?? p.builtin)]);
  }
  return rows;
}
