// proxy:set|report — how the router treats an app's traffic.

import { BerthError, EXIT } from '../../services/core/errors.ts';
import {
  describeBodySize,
  PROXY_SETTINGS,
  proxyReport,
  setProxySetting,
} from '../../services/platform/apps/proxy-settings.ts';
import type { Command } from '../command.ts';
import { type ReportRow, settingRows, writeReport } from '../report.ts';

/**
 * Dokku's proxy:set properties Berth has no use for: its own router serves
 * every app on BERTH_HTTP_PORT and BERTH_HTTPS_PORT.
 */
const DOKKU_ONLY: Readonly<Record<string, string>> = {
  type: "Berth's own router serves every app; there is no proxy to choose",
  'proxy-port': 'the router listens on BERTH_HTTP_PORT for every app',
  'proxy-ssl-port': 'the router listens on BERTH_HTTPS_PORT for every app',
};

export const proxyCommands: readonly Command[] = [
  {
    name: 'proxy:set',
    usage: `APP|--global ${PROXY_SETTINGS.join('|')} [SIZE]`,
    summary:
      "limit request bodies, such as 10m (larger: 413; 0: no limit; no SIZE: BERTH_MAX_BODY_SIZE); Dokku's type, proxy-port and proxy-ssl-port, and --global, say what Berth does instead",
    access: { app: 'push' },
    // Admins only, as every platform-wide setting; each is then refused with what to do instead.
    global: 'admin',
    arity: [1, 2],
    async run({ ctx, app, args }) {
      const [key = '', value] = args;
      const why = DOKKU_ONLY[key];
      if (why !== undefined) {
        throw new BerthError('BERTH_E_DOKKU_DIFFERENT', {
          what: `proxy:set ${app === undefined ? '--global' : app.name} ${key}`,
          why,
          instead:
            key === 'type'
              ? 'nothing to do: Berth routes every app itself'
              : 'reach the app at its domains (domains:report APP) on the router ports',
        });
      }
      if (!app) {
        throw new BerthError('BERTH_E_DOKKU_DIFFERENT', {
          what: `proxy:set --global ${key.slice(0, 40)}`,
          why: 'the platform-wide request body limit is BERTH_MAX_BODY_SIZE, set where Berth starts',
          instead: 'set BERTH_MAX_BODY_SIZE and restart Berth, or proxy:set APP max-body-size SIZE',
        });
      }
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
    usage: '[APP|--global] [--format json | --proxy-KEY]',
    summary:
      "how the router treats the app's traffic (no APP: each app you can see); --proxy-type (or another key) prints that value alone",
    access: { app: 'read' },
    global: 'read',
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      const c = ctx.config();
      const isApp = app !== undefined;
      // Berth's own router is the only proxy, always in front of web; none of these is set.
      const rows: ReportRow[] = [
        ...settingRows('Proxy', 'type', isApp, null, null, 'berth'),
        ...settingRows('Proxy', 'proxy port', isApp, null, null, String(c.httpPort)),
        ...settingRows('Proxy', 'proxy ssl port', isApp, null, null, String(c.httpsPort)),
      ];
      if (!app) return writeReport(call, { namespace: 'proxy', app: undefined, rows });
      const r = await proxyReport(await ctx.store(), app, c);
      const source =
        r.maxBodySizeSource === 'app' ? 'set for the app' : 'the default, BERTH_MAX_BODY_SIZE';
      return writeReport(call, {
        namespace: 'proxy',
        app: app.name,
        rows: [
          ...rows,
          ['Proxy computed disabled', 'false'],
          ['Proxy disabled', 'false'],
          ['Proxy enabled', 'true'],
          ['Max body size', `${describeBodySize(r.maxBodySize)} (${source})`],
        ],
        data: r,
      });
    },
  },
];
