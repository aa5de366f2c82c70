// letsencrypt:enable|disable|list|auto-renew — certificates from the ACME CA
// (BERTH_ACME_DIRECTORY_URL) for an app's domains, renewed by the web
// service's renewer; with --platform (admins), for the bare BERTH_DOMAIN, the status
// page's (cli/platform-target.ts).

import { BerthError, EXIT } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';
import { type AcmeOptions, acmeOptions } from '../../services/platform/certs/acme.ts';
import { daysLeft } from '../../services/platform/certs/cert-files.ts';
import {
  type DomainResult,
  disableLetsencrypt,
  disablePlatformLetsencrypt,
  enableLetsencrypt,
  enablePlatformLetsencrypt,
  listLetsencrypt,
  renewDue,
} from '../../services/platform/certs/letsencrypt.ts';
import type { Command, CommandContext } from '../command.ts';
import { formatOf, json, table } from '../output.ts';
import { APP_OR_PLATFORM, targetOf } from '../platform-target.ts';

// Name and usage, for the usage errors of platform-target.ts too.
const ENABLE = { name: 'letsencrypt:enable', usage: 'APP  |  --platform' } as const;
const DISABLE = { name: 'letsencrypt:disable', usage: 'APP  |  --platform' } as const;

async function acmeOf(ctx: CommandContext): Promise<AcmeOptions> {
  return {
    ...acmeOptions(ctx.config(), await ctx.store()),
    onProgress: (line) => ctx.stdout.write(`       ${line}\n`),
  };
}

/**
 * Prints each domain's outcome; exit 1 when any failed (the others are
 * kept), or when every one was skipped (a wildcard: nothing was certified).
 */
function report(ctx: CommandContext, results: DomainResult[]): number {
  for (const r of results) {
    if (r.ok)
      ctx.stdout.write(`-----> ${r.domain}: certificate until ${r.info.notAfter.toISOString()}\n`);
    else ctx.stderr.write(` !     ${r.domain}: ${r.error}\n`);
  }
  const failed =
    results.some((r) => !r.ok && !r.skipped) ||
    (results.length > 0 && results.every((r) => !r.ok && r.skipped));
  return failed ? EXIT.failed : EXIT.ok;
}

export const letsencryptCommands: readonly Command[] = [
  {
    ...ENABLE,
    summary:
      "get certificates for the app's default host and domains from the ACME CA (HTTP-01), renewed by themselves; --platform: for BERTH_DOMAIN, the status page (admins)",
    // Not { app: 'manage' }: with --platform there is no app (platform-target.ts).
    ...APP_OR_PLATFORM,
    arity: [0, 1],
    async run(call) {
      const target = await targetOf(ENABLE, call, 'manage', [0, 0]);
      const { ctx } = call;
      if (target.kind === 'platform') {
        ctx.stdout.write(`-----> Getting a certificate for ${target.domain} (the status page)\n`);
        return report(ctx, await enablePlatformLetsencrypt(await acmeOf(ctx)));
      }
      ctx.stdout.write(`-----> Getting certificates for ${target.app.name}\n`);
      return report(ctx, await enableLetsencrypt(await acmeOf(ctx), target.app.name));
    },
  },
  {
    ...DISABLE,
    summary:
      "remove the app's ACME certificates (HTTPS falls back to a self-signed one); --platform: BERTH_DOMAIN's (admins)",
    ...APP_OR_PLATFORM,
    arity: [0, 1],
    async run(call) {
      const target = await targetOf(DISABLE, call, 'manage', [0, 0]);
      const { ctx } = call;
      if (target.kind === 'platform') {
        const had = await disablePlatformLetsencrypt(await acmeOf(ctx));
        ctx.stdout.write(
          had
            ? `-----> Removed the ACME certificate of ${target.domain}\n`
            : `-----> ${target.domain} has no ACME certificate\n`,
        );
        return EXIT.ok;
      }
      const removed = await disableLetsencrypt(await acmeOf(ctx), target.app.name);
      ctx.stdout.write(
        removed.length === 0
          ? `-----> ${target.app.name} has no ACME certificate\n`
          : `-----> Removed the ACME certificates of ${removed.join(', ')}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'letsencrypt:set',
    usage: 'APP email [ADDRESS]  |  APP server|graceperiod|dns-provider VALUE',
    summary:
      "Dokku's per-app ACME settings: email is accepted and changes nothing (Berth's ACME account is the operator's, BERTH_ACME_EMAIL); the others are refused, naming the setting Berth has",
    access: { app: 'manage' },
    arity: [1, 2],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const [key = '', value] = args;
      if (key === 'email') {
        // Dokku needs an email before letsencrypt:enable; Berth's one ACME
        // account is registered with the operator's address, so a CI job
        // that sets one goes on, told where notices go.
        if (value !== undefined) validate.email(value);
        const operator = ctx.config().acmeEmail;
        ctx.stdout.write(
          `-----> ${app.name}: Berth's ACME account is the platform's (BERTH_ACME_EMAIL${operator ? ` = ${operator}` : ', not set'}); certificates renew by themselves, nothing to set per app\n`,
        );
        return EXIT.ok;
      }
      const instead: Record<string, string> = {
        server: "the ACME CA is the operator's: BERTH_ACME_DIRECTORY_URL (docs/configuration.md)",
        graceperiod:
          'Berth renews a certificate when a third of its lifetime is left; letsencrypt:auto-renew renews what is due now',
        'dns-provider':
          'Berth gets certificates by HTTP-01 only; for a wildcard, certs:add APP a certificate you got elsewhere',
        'lego-docker-args': 'Berth talks ACME itself, with no lego container',
      };
      const known = instead[key.startsWith('dns-provider') ? 'dns-provider' : key];
      throw new BerthError(
        'BERTH_E_DOKKU_DIFFERENT',
        known
          ? {
              what: `letsencrypt:set ${key}`,
              why: 'not a per-app setting in Berth',
              instead: known,
            }
          : {
              what: `letsencrypt:set ${key.slice(0, 40)}`,
              why: 'unknown key',
              instead: 'the keys are email, server, graceperiod, dns-provider',
            },
      );
    },
  },
  {
    name: 'letsencrypt:list',
    usage: '[--format json]',
    summary:
      'every ACME certificate: app ((platform) for BERTH_DOMAIN), domain, expiry, last renewal error',
    access: 'admin',
    json: true,
    arity: [0, 0],
    async run({ ctx, options }) {
      const all = await listLetsencrypt({
        store: await ctx.store(),
        platformDomain: ctx.config().domain,
        statusHost: ctx.config().statusHost,
      });
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(all));
        return EXIT.ok;
      }
      ctx.stdout.write(
        table([
          ['APP', 'DOMAIN', 'NOT AFTER', 'DAYS LEFT', 'NEXT ATTEMPT', 'LAST ERROR'],
          ...all.map((c) => [
            c.platform ? '(platform)' : (c.app ?? '-'),
            c.domain,
            c.notAfter ?? '-',
            String(daysLeft(c.notAfter) ?? '-'),
            c.nextAttemptAt ?? '-',
            c.lastError ?? '-',
          ]),
        ]),
      );
      return EXIT.ok;
    },
  },
  {
    name: 'letsencrypt:auto-renew',
    usage: '[APP]',
    summary:
      'renew now the ACME certificates that are due (a third of their lifetime left, or a retry due)',
    access: 'admin',
    takesApp: true,
    arity: [0, 1],
    async run({ ctx, args }) {
      const app = args[0] === undefined ? undefined : validate.appName(args[0]);
      const acme = await acmeOf(ctx);
      if (app !== undefined && (await acme.store.apps.get(app)) === undefined) {
        throw new BerthError('BERTH_E_APP_NOT_FOUND', { app });
      }
      const results = await renewDue(acme, app);
      if (results.length === 0) ctx.stdout.write('-----> No certificate is due\n');
      return report(ctx, results);
    },
  },
];
