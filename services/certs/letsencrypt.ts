// letsencrypt:* as service functions (the SSH commands and the web API call
// these): ACME certificates for an app's domains, ordered now or removed.
// The renewer (renewer.ts) keeps every `acme` certificate fresh afterwards.
import { BerthError } from '../core/errors.ts';
import type { CertMeta } from '../core/store/index.ts';
import { type AcmeOptions, obtainCertificate } from './acme.ts';
import { type CertInfo, removeCert } from './cert-files.ts';
import { dueAt } from './renewer.ts';

export type DomainResult = { domain: string } & (
  | { ok: true; info: CertInfo }
  | { ok: false; error: string }
);

/** The app's domains, in order; a usage error when it has none (no ACME for <app>.<BERTH_DOMAIN>). */
async function domainsOf(o: AcmeOptions, app: string): Promise<string[]> {
  const domains = await o.store.domains.list(app);
  if (domains.length === 0) {
    throw new BerthError('BERTH_E_USAGE', {
      reason: `app "${app}" has no domain of its own; add one with "berth domains:add ${app} DOMAIN" first`,
    });
  }
  return domains;
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

/** Orders a certificate for each of the app's domains; one result per domain. */
export async function enableLetsencrypt(o: AcmeOptions, app: string): Promise<DomainResult[]> {
  return order(o, await domainsOf(o, app));
}

/** Removes the app's ACME certificates (hosts fall back to the self-signed one); the domains. */
export async function disableLetsencrypt(o: AcmeOptions, app: string): Promise<string[]> {
  const removed: string[] = [];
  for (const domain of await o.store.domains.list(app)) {
    if ((await o.store.certs.get(domain))?.source !== 'acme') continue;
    await removeCert(o.store, o.paths, domain);
    removed.push(domain);
  }
  return removed;
}

/** Every ACME certificate with its app, for letsencrypt:list. */
export async function listLetsencrypt(
  o: Pick<AcmeOptions, 'store'>,
): Promise<(CertMeta & { app: string | undefined })[]> {
  const all = (await o.store.certs.list()).filter((c) => c.source === 'acme');
  return Promise.all(all.map(async (c) => ({ ...c, app: await o.store.domains.owner(c.domain) })));
}

/** Renews now the app's (or every app's) ACME certificates that are due; one result each. */
export async function renewDue(o: AcmeOptions, app?: string): Promise<DomainResult[]> {
  const mine = app === undefined ? undefined : new Set(await o.store.domains.list(app));
  const now = Date.now();
  const due = (await o.store.certs.list())
    .filter((c) => mine === undefined || mine.has(c.domain))
    .filter((c) => {
      const at = dueAt(c);
      return at !== undefined && at <= now;
    })
    .map((c) => c.domain);
  return order(o, due);
}
