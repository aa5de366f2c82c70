// proxy:set|report — how the router treats an app's traffic.

import { EXIT } from '../../services/core/errors.ts';
import {
  describeBodySize,
  PROXY_SETTINGS,
  proxyReport,
  setProxySetting,
} from '../../services/platform/apps/proxy-settings.ts';
import type { Command } from '../command.ts';
import { writeReport } from '../report.ts';

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
    usage: 'APP [--format json | --proxy-KEY]',
    summary:
      "how the router treats the app's traffic; --proxy-type (or another key) prints that value alone",
    access: { app: 'read' },
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      if (!app) return EXIT.failed;
      const r = await proxyReport(await ctx.store(), app, ctx.config());
      const source =
        r.maxBodySizeSource === 'app' ? 'set for the app' : 'the default, BERTH_MAX_BODY_SIZE';
      return writeReport(call, {
        namespace: 'proxy',
        title: `${app.name} proxy information`,
        rows: [
          // Berth's own router is the only proxy, always in front of web.
          ['Proxy computed type', 'berth'],
          ['Proxy enabled', 'true'],
          ['Proxy global type', 'berth'],
          ['Proxy type', 'berth'],
          ['Max body size', `${describeBodySize(r.maxBodySize)} (${source})`],
        ],
        data: r,
      });
    },
  },
];
