// scheduler-swarm:set|report — where the swarm scheduler places an app's
// tasks, as Dokku's `scheduler-k3s:set APP PROPERTY VALUE`: placement
// constraints on the nodes' labels (nodes:label) and attributes, and
// preferences that spread the tasks over a label's values. Applied to the
// app's Swarm services when they are next made (a deploy, ps:restart,
// ps:scale); docker-local runs on one machine and has no use for them.
import { BerthError, EXIT } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';
import type { Command } from '../command.ts';
import { formatOf, json, report } from '../output.ts';

const PROPERTIES = {
  'placement-constraints': { field: 'placementConstraints', check: validate.placementConstraint },
  'placement-preferences': { field: 'placementPreferences', check: validate.placementPreference },
} as const;

type Property = keyof typeof PROPERTIES;

const isProperty = (p: string | undefined): p is Property =>
  p !== undefined && Object.hasOwn(PROPERTIES, p);

/** The expressions given: one per argument, or several comma-separated (no value holds a comma). */
const expressions = (values: readonly string[]) =>
  values.flatMap((v) => v.split(',')).map((v) => v.trim());

export const schedulerSwarmCommands: readonly Command[] = [
  {
    name: 'scheduler-swarm:set',
    usage: 'APP placement-constraints|placement-preferences [EXPRESSION...]',
    summary:
      "where the app's swarm tasks run, from its next deploy: constraints such as node.labels.zone==eu, preferences such as spread=node.labels.zone (no EXPRESSION: none)",
    access: { app: 'manage' },
    arity: [1, Number.POSITIVE_INFINITY],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const [property, ...values] = args;
      if (!isProperty(property)) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `the property is placement-constraints or placement-preferences: scheduler-swarm:set ${app.name} placement-constraints node.labels.zone==eu`,
        });
      }
      const { field, check } = PROPERTIES[property];
      const list = expressions(values).map(check);
      if (list.length > 32) {
        throw new BerthError('BERTH_E_USAGE', { reason: `at most 32 ${property}` });
      }
      await (await ctx.store()).apps.setDeploySetting(app.name, field, [...new Set(list)]);
      ctx.stdout.write(
        list.length === 0
          ? `-----> ${app.name} has no ${property} from its next deploy\n`
          : `-----> ${app.name} ${property}: ${list.join(', ')} (from its next deploy)\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'scheduler-swarm:report',
    usage: 'APP [--format json]',
    summary: "where the app's swarm tasks may run: its placement constraints and preferences",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const s = await (await ctx.store()).apps.deploySettings(app.name);
      const data = {
        app: app.name,
        scheduler: s.scheduler ?? 'docker-local',
        placementConstraints: s.placementConstraints,
        placementPreferences: s.placementPreferences,
      };
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(data));
        return EXIT.ok;
      }
      ctx.stdout.write(
        report(`${app.name} scheduler-swarm`, [
          ['Scheduler selected', data.scheduler],
          ['Placement constraints', data.placementConstraints.join(', ') || '-'],
          ['Placement preferences', data.placementPreferences.join(', ') || '-'],
        ]),
      );
      return EXIT.ok;
    },
  },
];
