// Certificates an app's user brings (certs:add, certs:remove, certs:report):
// read from what the command was given, checked against the app's domains,
// installed as each domain's file (cert-files.ts) with source "manual".
// A refusal changes nothing: every check runs before the first file is written.
import { X509Certificate } from 'node:crypto';
import { BerthError } from '../../core/errors.ts';
import type { DataPaths } from '../../core/paths.ts';
import type { CertMeta, HttpsSettings, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import {
  type CertInfo,
  type CertPair,
  checkCertPair,
  daysLeft,
  installCert,
  removeCert,
  splitPem,
} from './cert-files.ts';
import { gunzip, isGzip, looksLikeTar, tarFiles } from './tar.ts';

/** More than any certificate chain and key; stdin is read up to this. */
export const CERT_INPUT_LIMIT = 1024 * 1024;

const notACert = (reason: string) => new BerthError('BERTH_E_CERT_INPUT', { reason });

/**
 * The pair in certs:add's input: a PEM bundle (the chain and the key in any
 * order), or a tar (or .tar.gz) holding server.crt and server.key, Dokku's way.
 */
export function readCertInput(input: Buffer): CertPair {
  let data = input;
  if (isGzip(data)) {
    try {
      data = gunzip(data, CERT_INPUT_LIMIT);
    } catch (e) {
      throw notACert(`gzip data that does not unpack (${(e as Error).message})`);
    }
  }
  let text: string;
  if (looksLikeTar(data)) {
    let files: Map<string, Buffer>;
    try {
      files = tarFiles(data);
    } catch (e) {
      throw notACert((e as Error).message);
    }
    const crt = files.get('server.crt');
    const key = files.get('server.key');
    if (!crt || !key) {
      const names = [...files.keys()].slice(0, 5).join(', ') || 'no files';
      throw notACert(
        `the tar archive needs server.crt and server.key at its top (it has ${names})`,
      );
    }
    text = `${crt.toString('utf8')}\n${key.toString('utf8')}`;
  } else {
    text = data.toString('utf8');
    if (!text.includes('-----BEGIN ')) {
      throw notACert(
        input.length === 0 ? 'nothing was given' : 'neither PEM text nor a tar archive',
      );
    }
  }
  const pair = splitPem(text);
  if (pair.chain === '') throw notACert('it holds no PEM certificate');
  if (pair.key === '') throw notACert('give exactly one PEM private key with the certificate');
  return pair;
}

/** The DNS names a certificate is for (its subject alternative names, else its CN). */
function namesOf(chain: string): string[] {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(chain);
  } catch (e) {
    throw notACert(`the certificate cannot be read (${(e as Error).message})`);
  }
  const sans = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4));
  if (sans.length > 0) return sans;
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return cn ? [cn] : [];
}

/**
 * The app's hosts a certificate may be for: its default host <app>.<base>
 * when BERTH_DOMAIN is given (a wildcard *.<base> certificate names it), then
 * its custom domains; and which of them is the default host.
 */
async function hostsOf(
  store: Store,
  app: string,
  base: string | undefined,
): Promise<{ hosts: string[]; defaultHost: string | undefined }> {
  const custom = await store.domains.list(app);
  const defaultHost = base === undefined ? undefined : `${app}.${base}`;
  return { hosts: defaultHost === undefined ? custom : [defaultHost, ...custom], defaultHost };
}

/**
 * Installs the pair for every host of the app that the certificate names
 * (wildcards included): its custom domains and, given BERTH_DOMAIN as `base`,
 * its default host. BERTH_E_CERT_NO_DOMAIN when it names none of them;
 * BERTH_E_CERT_INVALID (a key that does not match, not valid now) before any is written.
 */
export async function addAppCert(
  store: Store,
  paths: DataPaths,
  app: string,
  pair: CertPair,
  base?: string,
): Promise<{ domain: string; info: CertInfo }[]> {
  const names = namesOf(pair.chain);
  const { hosts: domains, defaultHost } = await hostsOf(store, app, base);
  const cert = new X509Certificate(pair.chain);
  const named = domains.filter((d) => cert.checkHost(d) !== undefined);
  if (named.length === 0) {
    throw new BerthError('BERTH_E_CERT_NO_DOMAIN', {
      app,
      names: names.length > 0 ? names.slice(0, 5).join(', ') : 'no host name',
      domains: domains.length > 0 ? domains.join(', ') : 'it has none',
    });
  }
  // Checked for all first: one that fails refuses the whole certificate.
  for (const domain of named) checkCertPair(domain, pair);
  const installed = [];
  for (const domain of named) {
    const builtIn = domain === defaultHost;
    installed.push({
      domain,
      info: await installCert(store, paths, domain, pair, 'manual', { builtIn }),
    });
  }
  return installed;
}

/**
 * Removes the certificates of the named hosts of the app (any source), or
 * with none named, those the app's users added (source manual); its default
 * host counts when BERTH_DOMAIN is given as `base`. Every name is checked
 * before anything is removed. Returns the hosts done.
 */
export async function removeAppCerts(
  store: Store,
  paths: DataPaths,
  app: string,
  named: readonly string[],
  base?: string,
): Promise<string[]> {
  const { hosts: domains } = await hostsOf(store, app, base);
  const targets: string[] = [];
  if (named.length === 0) {
    for (const domain of domains) {
      if ((await store.certs.get(domain))?.source === 'manual') targets.push(domain);
    }
    if (targets.length === 0) throw new BerthError('BERTH_E_CERT_NONE', { app });
  } else {
    for (const raw of named) {
      const domain = validate.domainOrWildcard(raw);
      if (!domains.includes(domain))
        throw new BerthError('BERTH_E_DOMAIN_NOT_FOUND', { domain, app });
      if ((await store.certs.get(domain)) === undefined) {
        throw new BerthError('BERTH_E_CERT_NOT_FOUND', { domain });
      }
      if (!targets.includes(domain)) targets.push(domain);
    }
  }
  for (const domain of targets) await removeCert(store, paths, domain);
  return targets;
}

export interface DomainCertReport {
  domain: string;
  /** null: no certificate; the router serves the fallback for the domain. */
  certificate: (Omit<CertMeta, 'domain'> & { daysLeft: number | null }) | null;
}

export interface AppCertReport {
  app: string;
  https: HttpsSettings;
  domains: DomainCertReport[];
}

/**
 * What certs:report shows: the app's HTTPS switches and each host's
 * certificate (the default host first when BERTH_DOMAIN is given as `base`).
 */
export async function appCertReport(
  store: Store,
  app: string,
  now = new Date(),
  base?: string,
): Promise<AppCertReport> {
  const [https, { hosts: domains }] = await Promise.all([
    store.apps.httpsSettings(app),
    hostsOf(store, app, base),
  ]);
  const rows = await Promise.all(domains.map((domain) => domainCertReport(store, domain, now)));
  return { app, https, domains: rows };
}

/** One domain's row of certs:report (the platform's too: platform.ts). */
export async function domainCertReport(
  store: Store,
  domain: string,
  now = new Date(),
): Promise<DomainCertReport> {
  const meta = await store.certs.get(domain);
  if (meta === undefined) return { domain, certificate: null };
  const { domain: _, ...rest } = meta;
  return { domain, certificate: { ...rest, daysLeft: daysLeft(meta.notAfter, now) } };
}
