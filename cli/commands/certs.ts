// certs:add|remove|report|set — an app's own certificates for its domains,
// and how the router serves it over HTTPS (redirect, HSTS). ACME's
// certificates are letsencrypt:*'s; certs:report shows both. With
// --platform (admins), add, remove and report are about the bare
// BERTH_DOMAIN's certificate, the status page's (services/platform/certs/platform-cert.ts).

import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { BerthError, EXIT } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import * as validate from '../../services/core/validate.ts';
import { requireAdmin } from '../../services/platform/apps/access.ts';
import {
  type AppCertReport,
  addAppCert,
  appCertReport,
  CERT_INPUT_LIMIT,
  type DomainCertReport,
  readCertInput,
  removeAppCerts,
} from '../../services/platform/certs/manual.ts';
import {
  addPlatformCert,
  type PlatformCertReport,
  platformCertReport,
  removePlatformCert,
} from '../../services/platform/certs/platform-cert.ts';
import type { Command, CommandContext } from '../command.ts';
import { formatOf, json, report } from '../output.ts';
import { APP_OR_PLATFORM, targetOf } from '../platform-target.ts';

/** Reads stdin as bytes (a tar is binary), refusing more than CERT_INPUT_LIMIT. */
async function readInput(ctx: CommandContext): Promise<Buffer> {
  if ((ctx.stdin as NodeJS.ReadStream).isTTY) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: 'pass the certificate on standard input: berth certs:add APP < bundle.pem',
    });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.stdin) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > CERT_INPUT_LIMIT) {
      throw new BerthError('BERTH_E_CERT_INPUT', { reason: 'more than 1 MB was given' });
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/**
 * Dokku's `certs:add APP CRT KEY`: two files on the server, for root and
 * admins only (a user's files are not on the server, and reading the
 * server's files is not theirs to ask). Each must be a regular file of at
 * most 1 MB, opened without following a link; what is wrong is said
 * without a byte of the file.
 */
async function readServerFiles(files: string[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const file of files) {
    const at = validate.hostPath(file, 'certificate file');
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(at, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      throw new BerthError('BERTH_E_CERT_INPUT', {
        reason: `${at} cannot be opened (${(e as NodeJS.ErrnoException).code ?? 'error'}; a link is not followed)`,
      });
    }
    try {
      const st = await handle.stat();
      if (!st.isFile())
        throw new BerthError('BERTH_E_CERT_INPUT', { reason: `${at} is not a regular file` });
      if (st.size > CERT_INPUT_LIMIT)
        throw new BerthError('BERTH_E_CERT_INPUT', { reason: `${at} is more than 1 MB` });
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(st.size), 0, st.size, 0);
      parts.push(buffer.subarray(0, bytesRead), Buffer.from('\n'));
    } finally {
      await handle.close();
    }
  }
  return Buffer.concat(parts);
}

/** certs:set's keys, Dokku's nginx:set spelling, and the app record's field each sets. */
const SETTINGS = {
  redirect: 'httpsRedirect',
  hsts: 'hsts',
  'hsts-max-age': 'hstsMaxAge',
} as const;
type SettingKey = keyof typeof SETTINGS;

const onOff = (on: boolean) => (on ? 'on' : 'off');
const when = (iso: string | null) => iso ?? 'never';

/** One domain's certificate, as certs:report shows it. */
function certRows(c: DomainCertReport['certificate']): [string, string][] {
  return c === null
    ? [['Certificate', 'none (the fallback certificate is served; no redirect)']]
    : [
        ['Source', c.source],
        ['Issuer', c.issuer ?? '(none issued yet)'],
        ['Serial', c.serial ?? '-'],
        ['Not after', c.notAfter ?? '-'],
        ['Days left', c.daysLeft === null ? '-' : String(c.daysLeft)],
        ['Last renewal', when(c.lastRenewalAt)],
        ['Last error', c.lastError ?? 'none'],
        ['Next attempt', when(c.nextAttemptAt)],
      ];
}

function platformText(r: PlatformCertReport): string {
  return report(`${r.domain} (BERTH_DOMAIN: the status page)`, [
    ['Redirect to HTTPS', 'on (while it has a certificate)'],
    ...certRows(r.certificate),
  ]);
}

function reportText(r: AppCertReport): string {
  let text = report(`${r.app} HTTPS`, [
    ['Redirect to HTTPS', `${onOff(r.https.httpsRedirect)} (hosts with a certificate)`],
    ['HSTS', `${onOff(r.https.hsts)} (max-age ${r.https.hstsMaxAge})`],
    // The default host and the custom domains (certs:report passes BERTH_DOMAIN).
    ['Hosts', `${r.domains.length} (domains:add ${r.app} adds one)`],
  ]);
  for (const { domain, certificate } of r.domains) text += report(domain, certRows(certificate));
  return text;
}

// Name and usage, for the usage errors of platform-target.ts too.
const ADD = {
  name: 'certs:add',
  usage: 'APP < bundle.pem | server.tar  |  APP CRT_FILE KEY_FILE  |  --platform < bundle.pem',
} as const;
const REMOVE = { name: 'certs:remove', usage: 'APP [DOMAIN...]  |  --platform' } as const;
const REPORT = {
  name: 'certs:report',
  usage: 'APP [--format json]  |  --platform [--format json]',
} as const;

export const certsCommands: readonly Command[] = [
  {
    ...ADD,
    summary:
      "add a certificate for the app's hosts it names (its default host too): a PEM bundle (chain and key) or a tar with server.crt and server.key on stdin, or (root and admins) two files on the server; --platform: BERTH_DOMAIN's (admins)",
    // Not { app: 'push' }: with --platform there is no app (platform-target.ts).
    ...APP_OR_PLATFORM,
    arity: [0, 3],
    async run(call) {
      const target = await targetOf(ADD, call, 'push', [0, 2]);
      const { ctx } = call;
      const files = target.kind === 'app' ? target.args : [];
      if (files.length === 1) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `name both files, the certificate and its key; usage: berth ${ADD.name} ${ADD.usage}`,
        });
      }
      if (files.length === 2)
        requireAdmin(ctx.actor, `${ADD.name} APP CRT_FILE KEY_FILE (files on the server)`);
      const pair = readCertInput(
        files.length === 2 ? await readServerFiles(files) : await readInput(ctx),
      );
      const paths = dataPaths(ctx.config().dataDir);
      const store = await ctx.store();
      const installed =
        target.kind === 'platform'
          ? [
              {
                domain: target.domain,
                info: await addPlatformCert(store, paths, target.domain, pair),
              },
            ]
          : await addAppCert(store, paths, target.app.name, pair, ctx.config().domain);
      const [first] = installed;
      const to = target.kind === 'platform' ? 'the status page' : target.app.name;
      ctx.stdout.write(
        `-----> Added the certificate for ${installed.map((i) => i.domain).join(', ')} to ${to}\n` +
          (first
            ? `       issuer ${first.info.issuer}, serial ${first.info.serial}, valid until ${first.info.notAfter.toISOString()}\n`
            : ''),
      );
      return EXIT.ok;
    },
  },
  {
    ...REMOVE,
    summary:
      "remove the certificates of these domains (none named: those certs:add added); --platform: BERTH_DOMAIN's (admins)",
    ...APP_OR_PLATFORM,
    arity: [0, Infinity],
    async run(call) {
      const target = await targetOf(REMOVE, call, 'push', [0, Infinity]);
      const { ctx } = call;
      const paths = dataPaths(ctx.config().dataDir);
      const store = await ctx.store();
      if (target.kind === 'platform') {
        await removePlatformCert(store, paths, target.domain);
        ctx.stdout.write(
          `-----> Removed the certificate of ${target.domain}; the status page is served with the fallback certificate, and over plain HTTP without a redirect\n`,
        );
        return EXIT.ok;
      }
      const removed = await removeAppCerts(
        store,
        paths,
        target.app.name,
        target.args,
        ctx.config().domain,
      );
      ctx.stdout.write(
        `-----> Removed the certificate of ${removed.join(', ')} from ${target.app.name}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    ...REPORT,
    summary:
      "the app's HTTPS switches and each domain's certificate: source, expiry, renewal; --platform: BERTH_DOMAIN's (admins)",
    ...APP_OR_PLATFORM,
    json: true,
    arity: [0, 1],
    async run(call) {
      const target = await targetOf(REPORT, call, 'read', [0, 0]);
      const { ctx, options } = call;
      const store = await ctx.store();
      const asJson = formatOf(options) === 'json';
      if (target.kind === 'platform') {
        const r = await platformCertReport(store, target.domain);
        ctx.stdout.write(asJson ? json(r) : platformText(r));
        return EXIT.ok;
      }
      const r = await appCertReport(store, target.app.name, new Date(), ctx.config().domain);
      ctx.stdout.write(asJson ? json(r) : reportText(r));
      return EXIT.ok;
    },
  },
  {
    name: 'certs:set',
    usage: 'APP redirect|hsts|hsts-max-age [VALUE]',
    summary:
      'redirect on|off (HTTP to HTTPS, default on), hsts on|off (default off), hsts-max-age SECONDS; no VALUE: the default',
    access: { app: 'push' },
    arity: [1, 2],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const [key = '', value] = args;
      if (!Object.hasOwn(SETTINGS, key)) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `certs:set takes ${Object.keys(SETTINGS).join(', ')}, not "${key}"`,
        });
      }
      const field = SETTINGS[key as SettingKey];
      const store = await ctx.store();
      if (field === 'hstsMaxAge') {
        await store.apps.setHttpsSetting(
          app.name,
          field,
          value === undefined ? null : validate.hstsMaxAge(value),
        );
      } else {
        await store.apps.setHttpsSetting(
          app.name,
          field,
          value === undefined ? null : validate.onOff(value),
        );
      }
      const now = await store.apps.httpsSettings(app.name);
      const shown = field === 'hstsMaxAge' ? String(now[field]) : onOff(now[field]);
      ctx.stdout.write(
        `-----> ${key} is ${shown} for ${app.name}${value === undefined ? ' (the default)' : ''}; the router serves by it from the next request\n`,
      );
      return EXIT.ok;
    },
  },
];
