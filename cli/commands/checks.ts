// checks:disable|skip|enable|report — how rollouts check new instances.

import { EXIT } from '../../services/core/errors.ts';
import type { DeploySettings } from '../../services/core/store/index.ts';
import { parseTypes, setChecks } from '../../services/platform/apps/checks.ts';
import type { Command } from '../command.ts';
import { formatOf, json, report } from '../output.ts';

const shown = (types: readonly string[]) =>
  types.length === 0 ? 'none' : types.includes('_all_') ? 'all process types' : types.join(', ');

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
  action('enable', 'check new instances again (app.json healthchecks, else TCP on $PORT)'),
  {
    name: 'checks:report',
    usage: 'APP [--format json]',
    summary: 'how rollouts check new instances',
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const s = await (await ctx.store()).apps.deploySettings(app.name);
      if (formatOf(options) === 'json') {
        ctx.stdout.write(
          json({ checksDisabled: s.checksDisabled, checksSkipped: s.checksSkipped }),
        );
      } else {
        ctx.stdout.write(
          report(`${app.name} checks information`, [
            ['Checks disabled', shown(s.checksDisabled)],
            ['Checks skipped', shown(s.checksSkipped)],
          ]),
        );
      }
      return EXIT.ok;
    },
  },
];
