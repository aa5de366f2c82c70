// letsencrypt:* as service functions (the SSH commands and the web API call
// these): ACME certificates for an app's domains, ordered now or removed.
// The renewer (renewer.ts) keeps every `acme` certificate fresh afterwards.
import { BerthError } from '../../core/errors.ts';
import type { CertMeta } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import {
  type AcmeOptions,
  acmeDefaultHost,
  builtInHost,
  certifiable,
  obtainCertificate,
} from './acme.ts';
import { type CertInfo, removeCert } from './cert-files.ts';
import { dueAt } from './renewer.ts';

export type DomainResult = { domain: string } & (
  | { ok: true; info: CertInfo }
  /** skipped: a host ACME cannot certify here (a wildcard), said in `error` and ordered not at all. */
  | { ok: false; error: string; skipped?: true }
);

/** Why a wildcard domain gets no ACME certificate, and what to do instead. */
export const WILDCARD_NOT_ORDERED =
  "skipped: Let's Encrypt's HTTP-01 challenge cannot certify a wildcard; add a wildcard certificate with certs:add APP < bundle.pem";

/**
 * The hosts of the app that get ACME certificates: its default host
 * <app>.<BERTH_DOMAIN> (unless BERTH_ACME_DEFAULT_HOSTS is off or no CA can
 * certify it), then its custom domains, sorted. A usage error when that is none.
 */
async function hostsOf(o: AcmeOptions, app: string): Promise<string[]> {
  const custom = await o.store.domains.list(app);
  const base = acmeDefaultHost(o, app);
  const hosts = base === undefined ? custom : [base, ...custom];
  if (hosts.length === 0) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `app "${app}" has no domain of its own, and its default host gets no certificate (BERTH_ACME_DEFAULT_HOSTS=off, or a localhost BERTH_DOMAIN); add one with "berth domains:add ${app} DOMAIN" first`,
    });
  }
  return hosts;
}

/** Every host of the app that may have a certificate: its default host and its custom domains. */
async function allHostsOf(o: AcmeOptions, app: string): Promise<string[]> {
  const custom = await o.store.domains.list(app);
  return o.platformDomain === undefined ? custom : [`${app}.${o.platformDomain}`, ...custom];
}

async function order(o: AcmeOptions, domains: string[]): Promise<DomainResult[]> {
  const results: DomainResult[] = [];
  for (const domain of domains) {
    try {
      results.push({ domain, ok: true, info: await obtainCertificate(o, domain) });
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
      results.push({ domain, ok: false, error: e.toLine() });
    }
  }
  return results;
}

/** Orders a certificate for the app's default host and each of its domains; one result per host. */
export async function enableLetsencrypt(o: AcmeOptions, app: string): Promise<DomainResult[]> {
  const hosts = await hostsOf(o, app);
  const wildcards = hosts.filter((h) => h.startsWith('*.'));
  const results = await order(
    o,
    hosts.filter((h) => !h.startsWith('*.')),
  );
  return [
    ...results,
    ...wildcards.map((domain) => ({
      domain,
      ok: false as const,
      skipped: true as const,
      error: WILDCARD_NOT_ORDERED,
    })),
  ];
}

/** Removes the ACME certificates of the app's hosts (they fall back to the self-signed one); the hosts. */
export async function disableLetsencrypt(o: AcmeOptions, app: string): Promise<string[]> {
  const removed: string[] = [];
  for (const domain of await allHostsOf(o, app)) {
    if ((await o.store.certs.get(domain))?.source !== 'acme') continue;
    await removeCert(o.store, o.paths, domain);
    removed.push(domain);
  }
  return removed;
}

/** Every ACME certificate with its app (or `platform` for BERTH_DOMAIN's), for letsencrypt:list. */
export async function listLetsencrypt(
  o: Pick<AcmeOptions, 'store' | 'platformDomain' | 'statusHost'>,
): Promise<(CertMeta & { app: string | undefined; platform: boolean })[]> {
  const all = (await o.store.certs.list()).filter((c) => c.source === 'acme');
  return Promise.all(
    all.map(async (c) => {
      const builtIn = await builtInHost(o, c.domain);
      const app =
        (await o.store.domains.owner(c.domain)) ??
        (typeof builtIn === 'object' ? builtIn.app : undefined);
      return { ...c, app, platform: builtIn === 'platform' };
    }),
  );
}

/**
 * Renews now the app's (or every app's and the platform's) ACME certificates
 * that are due; one result each. A domain no longer served is left out, as
 * the renewer leaves it (renewer.ts).
 */
export async function renewDue(o: AcmeOptions, app?: string): Promise<DomainResult[]> {
  const mine = app === undefined ? undefined : new Set(await allHostsOf(o, app));
  const now = Date.now();
  const due: string[] = [];
  for (const c of await o.store.certs.list()) {
    if (mine !== undefined && !mine.has(c.domain)) continue;
    const at = dueAt(c);
    if (at === undefined || at > now || !(await certifiable(o, c.domain))) continue;
    due.push(c.domain);
  }
  return order(o, due);
}

/**
 * The status page's host (BERTH_STATUS_HOST, else BERTH_DOMAIN), whose
 * certificate is the platform's own; a usage error where no CA can certify
 * it (localhost) or none is configured.
 */
export function platformDomainOf(o: Pick<AcmeOptions, 'platformDomain' | 'statusHost'>): string {
  const domain = o.statusHost ?? o.platformDomain;
  if (domain === undefined) {
    throw new BerthError('BERTH_E_USAGE', { reason: 'no BERTH_DOMAIN is configured' });
  }
  if (validate.localOnlyDomain(domain)) {
    const name = domain === o.platformDomain ? 'BERTH_DOMAIN' : 'BERTH_STATUS_HOST';
    throw new BerthError('BERTH_E_USAGE', {
      reason: `${name} is ${domain}, which no CA certifies; set ${name} to a name that points at this server first`,
    });
  }
  return domain;
}

/** Orders a certificate for the status page's host (letsencrypt:enable --platform). */
export async function enablePlatformLetsencrypt(o: AcmeOptions): Promise<DomainResult[]> {
  return order(o, [platformDomainOf(o)]);
}

/** Removes BERTH_DOMAIN's ACME certificate; whether it had one. */
export async function disablePlatformLetsencrypt(o: AcmeOptions): Promise<boolean> {
  const domain = o.platformDomain;
  if (domain === undefined || (await o.store.certs.get(domain))?.source !== 'acme') return false;
  return removeCert(o.store, o.paths, domain);
}
