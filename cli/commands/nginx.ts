// nginx:set|report and proxy:build-config — Dokku's nginx grammar where it
// maps to Berth's router settings (issue 20): client-max-body-size is
// proxy:set max-body-size, hsts and hsts-max-age are certs:set's. The rest
// of nginx's properties and commands configure an nginx Berth does not run:
// each answers in one line with what Berth does instead (BERTH_E_DOKKU_DIFFERENT).

import { BerthError, EXIT } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';
import { authorizeApp } from '../../services/platform/apps/access.ts';
import {
  describeBodySize,
  proxyReport,
  setProxySetting,
} from '../../services/platform/apps/proxy-settings.ts';
import type { Command } from '../command.ts';
import { dokkuOnly } from '../dokku-only.ts';
import { writeReport } from '../report.ts';

/** nginx properties without a per-app Berth setting, and what Berth does about each. */
const NOT_PER_APP: Readonly<Record<string, string>> = {
  'bind-address-ipv4':
    'the router listens where the operator says: BERTH_HTTP_PORT and BERTH_HTTPS_PORT (docs/configuration.md)',
  'bind-address-ipv6':
    'the router listens where the operator says: BERTH_HTTP_PORT and BERTH_HTTPS_PORT (docs/configuration.md)',
  'access-log-format': "the router's log format is Berth's; logs APP shows the app's output",
  'access-log-path': "the router's log is <data>/logs/router.log; logs APP shows the app's output",
  'error-log-path': "the router's log is <data>/logs/router.log",
  'client-body-timeout': "the router's timeouts are the platform's, the same for every app",
  'client-header-timeout': "the router's timeouts are the platform's, the same for every app",
  'keepalive-timeout': "the router's timeouts are the platform's, the same for every app",
  'lingering-timeout': "the router's timeouts are the platform's, the same for every app",
  'proxy-connect-timeout': "the router's timeouts are the platform's, the same for every app",
  'proxy-read-timeout': "the router's timeouts are the platform's, the same for every app",
  'proxy-send-timeout': "the router's timeouts are the platform's, the same for every app",
  'send-timeout': "the router's timeouts are the platform's, the same for every app",
  'proxy-buffer-size': 'the router streams requests and responses; there are no buffers to size',
  'proxy-buffering': 'the router streams requests and responses; there are no buffers to size',
  'proxy-buffers': 'the router streams requests and responses; there are no buffers to size',
  'proxy-busy-buffers-size':
    'the router streams requests and responses; there are no buffers to size',
  'proxy-keepalive': 'the router keeps connections to instances open by itself',
  'hsts-include-subdomains':
    "Berth sends max-age alone (certs:set APP hsts on, hsts-max-age N); a parent domain is not the app's to pin",
  'hsts-preload': 'Berth sends max-age alone (certs:set APP hsts on, hsts-max-age N)',
  'nginx-conf-sigil-path': 'there is no nginx.conf to template: the router reads routes from Redis',
  'disable-custom-config': 'there is no nginx.conf to template: the router reads routes from Redis',
  'nginx-service-command': 'Berth runs its own router, under its supervisor',
  'underscore-in-headers': 'the router passes headers through as the client sent them',
  'x-forwarded-for-value': 'the router sets X-Forwarded-For, -Proto and -Port itself',
  'x-forwarded-port-value': 'the router sets X-Forwarded-For, -Proto and -Port itself',
  'x-forwarded-proto-value': 'the router sets X-Forwarded-For, -Proto and -Port itself',
  'x-forwarded-ssl': 'the router sets X-Forwarded-Proto itself',
};

const MAPPED = ['client-max-body-size', 'hsts', 'hsts-max-age'] as const;

/** An nginx command Berth has no nginx for: one line saying what it does instead. */
const different = (
  name: string,
  usage: string,
  instead: string,
  options?: Command['options'],
): Command =>
  dokkuOnly({ name, usage, why: 'Berth runs its own router, not nginx', instead, options });

export const nginxCommands: readonly Command[] = [
  {
    name: 'nginx:set',
    usage: `APP ${MAPPED.join('|')} [VALUE]`,
    summary:
      "Dokku's nginx properties that are router settings: client-max-body-size (proxy:set max-body-size), hsts and hsts-max-age (certs:set); others say what Berth does instead",
    access: { app: 'push' },
    arity: [1, 2],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const [key = '', value] = args;
      const store = await ctx.store();
      if (key === 'client-max-body-size') {
        await setProxySetting(store, app, 'max-body-size', value);
        const r = await proxyReport(store, app, ctx.config());
        ctx.stdout.write(
          `-----> ${app.name}: request bodies up to ${describeBodySize(r.maxBodySize)} (proxy:set ${app.name} max-body-size)\n`,
        );
        return EXIT.ok;
      }
      if (key === 'hsts' || key === 'hsts-max-age') {
        if (key === 'hsts')
          await store.apps.setHttpsSetting(
            app.name,
            'hsts',
            value === undefined ? null : validate.onOff(value),
          );
        else
          await store.apps.setHttpsSetting(
            app.name,
            'hstsMaxAge',
            value === undefined ? null : validate.hstsMaxAge(value),
          );
        const now = await store.apps.httpsSettings(app.name);
        ctx.stdout.write(
          `-----> ${app.name}: HSTS ${now.hsts ? `on, max-age ${now.hstsMaxAge}` : 'off'} (certs:set ${app.name} ${key})\n`,
        );
        return EXIT.ok;
      }
      const instead = NOT_PER_APP[key];
      throw new BerthError(
        'BERTH_E_DOKKU_DIFFERENT',
        instead === undefined
          ? {
              what: `nginx:set ${key.slice(0, 40)}`,
              why: 'not an nginx property',
              instead: `Berth maps ${MAPPED.join(', ')}`,
            }
          : { what: `nginx:set ${key}`, why: 'no such setting in Berth', instead },
      );
    },
  },
  {
    name: 'nginx:report',
    usage: '[APP] [--format json | --nginx-KEY]',
    summary:
      "the nginx properties Berth has, from the router's settings: client max body size, HSTS",
    access: { app: 'read' },
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      if (!app) return EXIT.failed;
      const store = await ctx.store();
      const body = await proxyReport(store, app, ctx.config());
      const https = await store.apps.httpsSettings(app.name);
      return writeReport(call, {
        namespace: 'nginx',
        app: app.name,
        rows: [
          ['Nginx client max body size', describeBodySize(body.maxBodySize)],
          ['Nginx hsts', String(https.hsts)],
          ['Nginx hsts include subdomains', 'false'],
          ['Nginx hsts max age', String(https.hstsMaxAge)],
          ['Nginx hsts preload', 'false'],
        ],
      });
    },
  },
  {
    name: 'proxy:build-config',
    usage: 'APP | --all',
    summary:
      "Dokku's config rebuild: Berth's router has no config to build (it reads each app's routes from Redis when they change), so this checks the app and says so",
    access: 'anyone',
    takesApp: true,
    appless: ['--all'],
    options: { all: { type: 'boolean' }, parallel: { type: 'string' } },
    arity: [0, 1],
    async run({ ctx, args, options }) {
      const name = args[0];
      if (name === undefined && options.all !== true)
        throw new BerthError('BERTH_E_USAGE', {
          reason: 'name the app, or give --all; usage: berth proxy:build-config APP | --all',
        });
      if (name !== undefined) {
        await authorizeApp(await ctx.store(), ctx.actor, validate.appName(name), 'read');
      }
      ctx.stdout.write(
        `-----> Nothing to build for ${name ?? 'any app'}: the router serves each change of routes, domains and certificates from the next request\n`,
      );
      return EXIT.ok;
    },
  },
  different('nginx:reload', '', 'the router picks up every change by itself'),
  different(
    'nginx:start',
    '',
    "the router runs under Berth's supervisor (berth start, or its systemd unit)",
  ),
  different(
    'nginx:stop',
    '',
    "the router runs under Berth's supervisor (berth start, or its systemd unit)",
  ),
  different(
    'nginx:show-config',
    'APP',
    'there is no nginx.conf; proxy:report APP, ports:report APP and domains:report APP show how the router serves it',
  ),
  different(
    'nginx:validate-config',
    '[APP] [--clean]',
    'there is no nginx.conf to validate; every setting is checked when it is set',
    { clean: { type: 'boolean' } },
  ),
  different(
    'nginx:access-logs',
    'APP [-t]',
    "logs APP shows the app's output; the router's own log is <data>/logs/router.log",
    { tail: { type: 'boolean', short: 't' } },
  ),
  different(
    'nginx:error-logs',
    'APP [-t]',
    "logs APP shows the app's output; the router's own log is <data>/logs/router.log",
    { tail: { type: 'boolean', short: 't' } },
  ),
];
