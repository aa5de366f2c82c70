// The platform's own certificate: the one for the bare BERTH_DOMAIN, where
// the router serves the status page. No app has that domain
// (domains:add refuses it), so these are admin commands of their own
// (certs:add --platform, certs:remove --platform, certs:report --platform);
// the ACME side is letsencrypt.ts' (letsencrypt:enable --platform), and the
// renewer renews it as it renews an app's (renewer.ts).
import { BerthError } from '../../core/errors.ts';
import type { DataPaths } from '../../core/paths.ts';
import type { Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import {
  type CertInfo,
  type CertPair,
  checkCertPair,
  installCert,
  removeCert,
} from './cert-files.ts';
import { type DomainCertReport, domainCertReport } from './manual.ts';

/**
 * Installs the pair for BERTH_DOMAIN (source manual). BERTH_E_CERT_INVALID,
 * with nothing written, when it does not name the domain, does not match its
 * key or is not valid now.
 */
export async function addPlatformCert(
  store: Store,
  paths: DataPaths,
  domain: string,
  pair: CertPair,
): Promise<CertInfo> {
  const name = validate.domain(domain);
  checkCertPair(name, pair);
  return installCert(store, paths, name, pair, 'manual', { builtIn: true });
}

/** Removes BERTH_DOMAIN's certificate, whatever its source; BERTH_E_CERT_NOT_FOUND without one. */
export async function removePlatformCert(
  store: Store,
  paths: DataPaths,
  domain: string,
): Promise<void> {
  const name = validate.domain(domain);
  if ((await store.certs.get(name)) === undefined) {
    throw new BerthError('BERTH_E_CERT_NOT_FOUND', { domain: name });
  }
  await removeCert(store, paths, name);
}

export interface PlatformCertReport extends DomainCertReport {
  /** Plain HTTP to the domain is redirected to HTTPS while it has a certificate; no switch. */
  httpsRedirect: true;
}

/** What certs:report --platform shows. */
export async function platformCertReport(
  store: Store,
  domain: string,
  now = new Date(),
): Promise<PlatformCertReport> {
  return { ...(await domainCertReport(store, validate.domain(domain), now)), httpsRedirect: true };
}
