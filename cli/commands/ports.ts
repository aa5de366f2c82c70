// ports:list|add|remove|set|clear|report — which port of the app's instances
// the router forwards to, as Dokku's port mappings (services/platform/apps/ports.ts).

import { EXIT } from '../../services/core/errors.ts';
import type { App } from '../../services/core/store/index.ts';
import {
  changePorts,
  containerPort,
  describeSource,
  formatMapping,
  type PortMapping,
  type PortsAction,
  portsReport,
} from '../../services/platform/apps/ports.ts';
import { restart } from '../../services/platform/release/release-change.ts';
import type { Command, CommandContext } from '../command.ts';
import { formatOf, json, report, table } from '../output.ts';
import { releaseRun } from '../release-run.ts';

const asJson = (maps: readonly PortMapping[]) =>
  maps.map((m) => ({ scheme: m.scheme, host_port: m.hostPort, container_port: m.containerPort }));

/** The port the app's instances get now (its mappings, PORT, EXPOSE, 5000). */
async function portNow(ctx: CommandContext, app: App) {
  const store = await ctx.store();
  const [settings, vars] = await Promise.all([
    store.apps.deploySettings(app.name),
    store.config.get(app.name),
  ]);
  return containerPort(settings, vars);
}

const change = (
  action: PortsAction,
  usage: string,
  summary: string,
  arity: readonly [number, number],
): Command => ({
  name: `ports:${action}`,
  usage,
  summary,
  access: { app: 'push' },
  arity,
  async run({ ctx, app, args }) {
    if (!app) return EXIT.failed;
    const store = await ctx.store();
    const before = await portNow(ctx, app);
    const { after } = await changePorts(store, app, ctx.config(), action, args);
    const now = await portNow(ctx, app);
    ctx.stdout.write(
      `-----> ${app.name}: ${after.length === 0 ? 'no port mappings (the detected one applies)' : after.map(formatMapping).join(' ')}; web listens on ${now.port} (${describeSource(now.from)})\n`,
    );
    // A new container port is a new PORT for the instances: they roll as a
    // config change does, new ones ready before the router moves to them.
    if (now.port !== before.port && (await store.releases.current(app.name))?.image) {
      await restart({ ...(await releaseRun(ctx)), app: app.name });
    }
    return EXIT.ok;
  },
});

const MAPPING = 'scheme:host-port:container-port';

const REPORT_FLAGS = [
  'ports-map',
  'ports-map-json',
  'ports-map-detected',
  'ports-map-detected-json',
] as const;

export const portsCommands: readonly Command[] = [
  {
    name: 'ports:list',
    usage: 'APP [--format json]',
    summary: "the app's port mappings (its own, else the detected one) and where web listens",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const r = await portsReport(await ctx.store(), app, ctx.config());
      const maps = r.map.length > 0 ? r.map : r.detected;
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(asJson(maps)));
        return EXIT.ok;
      }
      ctx.stdout.write(`-----> Port mappings for ${app.name}\n`);
      ctx.stdout.write(
        table([
          ['scheme', 'host port', 'container port'],
          ...maps.map((m) => [m.scheme, String(m.hostPort), String(m.containerPort)]),
        ]),
      );
      ctx.stdout.write(
        `-----> web listens on ${r.containerPort} (PORT), from ${describeSource(r.containerPortFrom)}\n`,
      );
      return EXIT.ok;
    },
  },
  change(
    'add',
    `APP ${MAPPING}...`,
    "add port mappings, such as http:80:8000 (host ports: the router's, 80 and 443); https needs a certificate",
    [1, Number.POSITIVE_INFINITY],
  ),
  change(
    'set',
    `APP ${MAPPING}...`,
    "set the app's port mappings, such as http:80:8000; a new container port rolls the instances with no downtime",
    [1, Number.POSITIVE_INFINITY],
  ),
  change(
    'remove',
    `APP HOST-PORT|${MAPPING}...`,
    'remove port mappings (a host port removes every mapping on it)',
    [1, Number.POSITIVE_INFINITY],
  ),
  change(
    'clear',
    'APP',
    "remove the app's port mappings: its PORT, its image's EXPOSE, else 5000 apply",
    [0, 0],
  ),
  {
    name: 'ports:report',
    usage: 'APP [--format json | --ports-map[-detected][-json]]',
    summary:
      "the app's port mappings and the detected ones; a --ports-* flag prints that value alone",
    access: { app: 'read' },
    json: true,
    options: Object.fromEntries(REPORT_FLAGS.map((f) => [f, { type: 'boolean' as const }])),
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const r = await portsReport(await ctx.store(), app, ctx.config());
      const spaced = (maps: readonly PortMapping[]) => maps.map(formatMapping).join(' ');
      const values: Record<(typeof REPORT_FLAGS)[number], string> = {
        'ports-map': spaced(r.map),
        'ports-map-json': JSON.stringify(asJson(r.map)),
        'ports-map-detected': spaced(r.detected),
        'ports-map-detected-json': JSON.stringify(asJson(r.detected)),
      };
      const flag = REPORT_FLAGS.find((f) => options[f] === true);
      if (flag) {
        ctx.stdout.write(`${values[flag]}\n`);
      } else if (formatOf(options) === 'json') {
        ctx.stdout.write(
          json({
            portsMap: asJson(r.map),
            portsMapDetected: asJson(r.detected),
            containerPort: r.containerPort,
            containerPortFrom: r.containerPortFrom,
          }),
        );
      } else {
        ctx.stdout.write(
          report(`${app.name} ports information`, [
            ['Port map detected', values['ports-map-detected']],
            ['Port map', values['ports-map']],
            ['Container port', `${r.containerPort} (${describeSource(r.containerPortFrom)})`],
          ]),
        );
      }
      return EXIT.ok;
    },
  },
];
