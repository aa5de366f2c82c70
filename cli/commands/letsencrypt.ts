// letsencrypt:enable|disable|list|auto-renew — certificates from the ACME CA
// (BERTH_ACME_DIRECTORY_URL) for an app's domains, renewed by the certs service.
import { type AcmeOptions, acmeOptions } from '../../services/certs/acme.ts';
import { daysLeft } from '../../services/certs/cert-files.ts';
import {
  type DomainResult,
  disableLetsencrypt,
  enableLetsencrypt,
  listLetsencrypt,
  renewDue,
} from '../../services/certs/letsencrypt.ts';
import { BerthError, EXIT } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';
import type { Command, CommandContext } from '../command.ts';
import { formatOf, json, table } from '../output.ts';

async function acmeOf(ctx: CommandContext): Promise<AcmeOptions> {
  return {
    ...acmeOptions(ctx.config(), await ctx.store()),
    onProgress: (line) => ctx.stdout.write(`       ${line}\n`),
  };
}

/** Prints each domain's outcome; exit 1 when any failed (the others are kept). */
function report(ctx: CommandContext, results: DomainResult[]): number {
  for (const r of results) {
    if (r.ok)
      ctx.stdout.write(`-----> ${r.domain}: certificate until ${r.info.notAfter.toISOString()}\n`);
    else ctx.stderr.write(` !     ${r.domain}: ${r.error}\n`);
  }
  return results.every((r) => r.ok) ? EXIT.ok : EXIT.failed;
}

export const letsencryptCommands: readonly Command[] = [
  {
    name: 'letsencrypt:enable',
    usage: 'APP',
    summary:
      "get certificates for the app's domains from the ACME CA (HTTP-01); renewed by themselves",
    access: { app: 'manage' },
    arity: [0, 0],
    async run({ ctx, app }) {
      if (!app) return EXIT.failed;
      ctx.stdout.write(`-----> Getting certificates for ${app.name}\n`);
      return report(ctx, await enableLetsencrypt(await acmeOf(ctx), app.name));
    },
  },
  {
    name: 'letsencrypt:disable',
    usage: 'APP',
    summary: "remove the app's ACME certificates (HTTPS falls back to a self-signed one)",
    access: { app: 'manage' },
    arity: [0, 0],
    async run({ ctx, app }) {
      if (!app) return EXIT.failed;
      const removed = await disableLetsencrypt(await acmeOf(ctx), app.name);
      ctx.stdout.write(
        removed.length === 0
          ? `-----> ${app.name} has no ACME certificate\n`
          : `-----> Removed the ACME certificates of ${removed.join(', ')}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'letsencrypt:list',
    usage: '[--format json]',
    summary: 'every ACME certificate: app, domain, expiry, last renewal error',
    access: 'admin',
    json: true,
    arity: [0, 0],
    async run({ ctx, options }) {
      const all = await listLetsencrypt({ store: await ctx.store() });
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(all));
        return EXIT.ok;
      }
      ctx.stdout.write(
        table([
          ['APP', 'DOMAIN', 'NOT AFTER', 'DAYS LEFT', 'NEXT ATTEMPT', 'LAST ERROR'],
          ...all.map((c) => [
            c.app ?? '-',
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
