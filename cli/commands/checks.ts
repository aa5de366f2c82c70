// checks:disable|skip|enable|set|report — how rollouts check new instances.

import { EXIT } from '../../services/core/errors.ts';
import type { DeploySettings } from '../../services/core/store/index.ts';
import {
  CHECK_SETTINGS,
  parseTypes,
  setCheckSetting,
  setChecks,
} from '../../services/platform/apps/checks.ts';
import { ROLLOUT_DEFAULTS } from '../../services/platform/release/rollout.ts';
import type { Command } from '../command.ts';
import { writeReport } from '../report.ts';

const shown = (types: readonly string[]) =>
  types.length === 0 ? 'none' : types.includes('_all_') ? 'all process types' : types.join(', ');

/** A checks:* list as Dokku's report prints it: none, _all_, or web,worker. */
const listed = (types: readonly string[]) => (types.length === 0 ? 'none' : types.join(','));

/** Dokku's report keys (their flags: --checks-<key>), with Berth's values. */
function reportRows(
  s: Pick<
    DeploySettings,
    'checksDisabled' | 'checksSkipped' | 'waitToRetire' | 'defaultWait' | 'global'
  >,
  drainMs: number,
): [string, string, string][] {
  // checks:set --global's, else BERTH_DRAIN_TIMEOUT: what an app without its own gets.
  const global = String(s.global.waitToRetire ?? Math.round(drainMs / 1000));
  const globalWait = String(s.global.defaultWait ?? ROLLOUT_DEFAULTS.uptimeMs / 1000);
  return [
    ['disabled-list', 'Checks disabled list', listed(s.checksDisabled)],
    ['skipped-list', 'Checks skipped list', listed(s.checksSkipped)],
    ['computed-wait-to-retire', 'Checks computed wait to retire', String(s.waitToRetire ?? global)],
    ['global-wait-to-retire', 'Checks global wait to retire', global],
    [
      'wait-to-retire',
      'Checks wait to retire',
      s.waitToRetire === null ? '' : String(s.waitToRetire),
    ],
    ['computed-default-wait', 'Checks computed default wait', String(s.defaultWait ?? globalWait)],
    ['global-default-wait', 'Checks global default wait', globalWait],
    ['default-wait', 'Checks default wait', s.defaultWait === null ? '' : String(s.defaultWait)],
  ];
}

/** Nothing of an app's own, for the global report. */
const NO_APP_SETTINGS = {
  checksDisabled: [] as string[],
  checksSkipped: [] as string[],
  waitToRetire: null,
  defaultWait: null,
};

const summary = (s: DeploySettings) =>
  `checks disabled for ${shown(s.checksDisabled)}; skipped for ${shown(s.checksSkipped)}`;

const action = (name: 'disable' | 'skip' | 'enable', what: string): Command => ({
  name: `checks:${name}`,
  usage: 'APP [TYPE,...]',
  summary: what,
  access: { app: 'push' },
  arity: [0, 1],
  async run({ ctx, app, args }) {
    if (!app) return EXIT.failed;
    const s = await setChecks(await ctx.store(), app, name, parseTypes(args[0]));
    ctx.stdout.write(`-----> ${app.name}: ${summary(s)}\n`);
    return EXIT.ok;
  },
});

export const checksCommands: readonly Command[] = [
  action('disable', 'no checks, and old instances stop before new ones start (downtime)'),
  action('skip', 'no checks: a new instance is ready once it runs'),
  action(
    'enable',
    'check new instances again (app.json healthchecks, else web: TCP on $PORT; others: running after default-wait)',
  ),
  {
    name: 'checks:set',
    usage: `APP|--global ${CHECK_SETTINGS.join('|')} [SECONDS]`,
    summary:
      "wait-to-retire: seconds the previous release's instances keep running after the switch (default BERTH_DRAIN_TIMEOUT); default-wait: seconds a process without checks must keep running (default 10); --global (admins): for apps that set none; no SECONDS: the default",
    access: { app: 'push' },
    global: 'admin',
    arity: [1, 2],
    async run({ ctx, app, args }) {
      const [key = '', value] = args;
      const store = await ctx.store();
      await setCheckSetting(store, app, key, value);
      if (!app) {
        ctx.stdout.write(
          `-----> ${key} of every app without its own: ${value === undefined || value === '' ? '(the default)' : `${value} s`}, from their next rollout\n`,
        );
        return EXIT.ok;
      }
      const rows = reportRows(
        await store.apps.deploySettings(app.name),
        ctx.config().drainTimeoutMs,
      );
      const computed = rows.find(([k]) => k === `computed-${key}`)?.[2];
      ctx.stdout.write(
        `-----> ${app.name}: ${key} ${computed} s${value === undefined ? ' (the default)' : ''}, from the next rollout\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'checks:report',
    usage: '[APP|--global] [--format json | --checks-KEY]',
    summary:
      'how rollouts check new instances; --checks-disabled-list (or another key) prints that value alone',
    access: { app: 'read' },
    global: 'read',
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      const store = await ctx.store();
      if (!app) {
        const rows = reportRows(
          { ...NO_APP_SETTINGS, global: await store.platform.get() },
          ctx.config().drainTimeoutMs,
        ).filter(([key]) => key.startsWith('global-') || key.startsWith('computed-'));
        return writeReport(call, {
          namespace: 'checks',
          app: undefined,
          rows: rows.map(([, label, value]) => [label, value]),
        });
      }
      const s = await store.apps.deploySettings(app.name);
      return writeReport(call, {
        namespace: 'checks',
        app: app.name,
        rows: reportRows(s, ctx.config().drainTimeoutMs).map(([, label, value]) => [label, value]),
        data: {
          checksDisabled: s.checksDisabled,
          checksSkipped: s.checksSkipped,
          waitToRetire: s.waitToRetire,
          defaultWait: s.defaultWait,
        },
      });
    },
  },
];
