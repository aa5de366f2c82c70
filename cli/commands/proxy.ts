// proxy:set|report — how the router treats an app's traffic.

import { EXIT } from '../../services/core/errors.ts';
import {
  describeBodySize,
  PROXY_SETTINGS,
  proxyReport,
  setProxySetting,
} from '../../services/platform/apps/proxy-settings.ts';
import type { Command } from '../command.ts';
import { formatOf, json, report } from '../output.ts';

export const proxyCommands: readonly Command[] = [
  {
    name: 'proxy:set',
    usage: `APP ${PROXY_SETTINGS.join('|')} [SIZE]`,
    summary:
      'limit request bodies, such as 10m (larger: 413; 0: no limit; no SIZE: BERTH_MAX_BODY_SIZE)',
    access: { app: 'push' },
    arity: [1, 2],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const [key = '', value] = args;
      const store = await ctx.store();
      await setProxySetting(store, app, key, value);
      const r = await proxyReport(store, app, ctx.config());
      const limit =
        r.maxBodySize === 0
          ? 'no limit on request bodies'
          : `request bodies up to ${describeBodySize(r.maxBodySize)} (larger: 413)`;
      ctx.stdout.write(
        `-----> ${app.name}: ${limit}${r.maxBodySizeSource === 'default' ? ', the default' : ''}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'proxy:report',
    usage: 'APP [--format json]',
    summary: "how the router treats the app's traffic",
    access: { app: 'read' },
    json: true,
    arity: [0, 0],
    async run({ ctx, app, options }) {
      if (!app) return EXIT.failed;
      const r = await proxyReport(await ctx.store(), app, ctx.config());
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(r));
        return EXIT.ok;
      }
      const source =
        r.maxBodySizeSource === 'app' ? 'set for the app' : 'the default, BERTH_MAX_BODY_SIZE';
      ctx.stdout.write(
        report(`${app.name} proxy information`, [
          ['Max body size', `${describeBodySize(r.maxBodySize)} (${source})`],
        ]),
      );
      return EXIT.ok;
    },
  },
];
