// Certificates from an ACME CA (Let's Encrypt; Pebble in the tests) by
// HTTP-01: the challenge's answer goes to Redis, where every router process
// finds it (proxy/acme-challenge.ts), and the certificate goes to the
// domain's file (cert-files.ts), which routers pick up at once. One order per
// domain at a time (a lock in Redis), so a command and the renewer never
// race; a failure is recorded on the domain (last error, next attempt after
// a doubling backoff) for certs:report and the status page.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type acme from 'acme-client';
import type { Config } from '../../core/config.ts';
import { BerthError } from '../../core/errors.ts';
import { type DataPaths, dataPaths } from '../../core/paths.ts';
import type { Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { type CertInfo, installCert } from './cert-files.ts';
import { selfCheckChallenge } from './self-check.ts';

/**
 * acme-client, loaded when an order or an account needs it: the renewer
 * (in the web service) waits most of its life, and the module costs the
 * process about 18 MB (issue 17, `npm run bench footprint`).
 */
const acmeClientLib = async (): Promise<typeof acme> => (await import('acme-client')).default;

export interface AcmeOptions {
  store: Store;
  paths: DataPaths;
  directoryUrl: string;
  email: string | undefined;
  /**
   * Berth's own fetch of the challenge before the CA is asked to check it
   * (./self-check.ts: bounded, with a line per try); off where this host
   * cannot resolve the domain (tests).
   */
  selfCheck: boolean;
  /** Tests: the self-check's port (default 80), DNS server and limit (default 30 s). */
  selfCheckPort?: number;
  selfCheckDnsServer?: string;
  selfCheckLimitMs?: number;
  /** One line per step, for the person waiting (letsencrypt:enable). */
  onProgress?: (line: string) => void;
  /**
   * BERTH_DOMAIN: the status page's domain, which no app has and which still
   * gets certificates (letsencrypt:enable --platform), as do the apps'
   * default hosts under it. Absent: app domains only.
   */
  platformDomain?: string;
  /**
   * BERTH_STATUS_HOST where the operator gave one: then it, not the bare
   * BERTH_DOMAIN, is the status page's name and gets the platform's
   * certificate. Absent: the bare platformDomain.
   */
  statusHost?: string;
  /**
   * BERTH_ACME_DEFAULT_HOSTS: letsencrypt:enable APP orders one for the
   * app's default host <app>.<BERTH_DOMAIN> too, as Dokku does for its
   * default vhost. Absent: off.
   */
  defaultHosts?: boolean;
}

/** The ACME options Berth's configuration gives (the web service's renewer and the commands use these). */
export function acmeOptions(
  config: Pick<
    Config,
    | 'dataDir'
    | 'acmeDirectoryUrl'
    | 'acmeEmail'
    | 'acmeSelfCheck'
    | 'acmeDefaultHosts'
    | 'domain'
    | 'statusHost'
  >,
  store: Store,
): AcmeOptions {
  return {
    store,
    platformDomain: config.domain,
    statusHost: config.statusHost,
    defaultHosts: config.acmeDefaultHosts,
    paths: dataPaths(config.dataDir),
    directoryUrl: config.acmeDirectoryUrl,
    email: config.acmeEmail,
    selfCheck: config.acmeSelfCheck,
  };
}

/** An order that takes longer has failed (the lock then expires by itself). */
const ORDER_LIMIT_MS = 5 * 60_000;
/** The first retry after a failure; it doubles with each failure in a row, up to a day. */
export const RETRY_BASE_MS = 5 * 60_000;
const RETRY_MAX_MS = 24 * 3600_000;

export const retryDelayMs = (failures: number) =>
  Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, failures - 1));

const accountFiles = (paths: DataPaths, directoryUrl: string) => {
  const id = createHash('sha256').update(directoryUrl).digest('hex').slice(0, 16);
  return {
    key: path.join(paths.acme, `account-${id}.pem`),
    url: path.join(paths.acme, `account-${id}.url`),
  };
};

/** The account key for a directory, made on first use and kept (an account per CA). */
async function accountKey(paths: DataPaths, directoryUrl: string): Promise<Buffer> {
  const file = accountFiles(paths, directoryUrl).key;
  try {
    return await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(paths.acme, { recursive: true, mode: 0o700 });
  const key = await (await acmeClientLib()).crypto.createPrivateEcdsaKey('P-256');
  try {
    // wx: two first orders at once keep one key, the first one written.
    await writeFile(file, key, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readFile(file);
    throw e;
  }
}

/**
 * A client of the directory with its account: registered on first use and
 * its URL kept, so later orders skip registration (an update without
 * contact data, which some CAs refuse). An account whose URL was lost is
 * found again by its key.
 */
async function accountClient(o: AcmeOptions): Promise<acme.Client> {
  const files = accountFiles(o.paths, o.directoryUrl);
  const accountKeyPem = await accountKey(o.paths, o.directoryUrl);
  const saved = await readFile(files.url, 'utf8').then(
    (u) => u.trim(),
    () => '',
  );
  // Polls an order every 1 s at first (acme-client's default is 5 s), then less often.
  const options = {
    directoryUrl: o.directoryUrl,
    accountKey: accountKeyPem,
    backoffAttempts: 10,
    backoffMin: 1000,
    backoffMax: 10_000,
  };
  if (saved.startsWith('https://') || saved.startsWith('http://')) {
    return new (await acmeClientLib()).Client({ ...options, accountUrl: saved });
  }
  const client = new (await acmeClientLib()).Client(options);
  try {
    await client.createAccount({ onlyReturnExisting: true });
  } catch {
    await client.createAccount({
      termsOfServiceAgreed: true,
      ...(o.email ? { contact: [`mailto:${o.email}`] } : {}),
    });
  }
  await writeFile(files.url, `${client.getAccountUrl()}\n`, { mode: 0o600 });
  return client;
}

/** What an ACME failure says, on one line, without acme-client's stack. */
function reasonOf(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.replace(/\s+/g, ' ').trim().slice(0, 500) || 'unknown error';
}

/**
 * The app's default host when it gets ACME certificates (BERTH_ACME_DEFAULT_HOSTS
 * on, and a BERTH_DOMAIN a CA can certify), else undefined.
 */
export function acmeDefaultHost(
  o: Pick<AcmeOptions, 'platformDomain' | 'defaultHosts'>,
  app: string,
): string | undefined {
  const base = o.platformDomain;
  if (!o.defaultHosts || base === undefined || validate.localOnlyDomain(base)) return undefined;
  return `${validate.appName(app)}.${base}`;
}

/**
 * A host Berth serves by itself, outside the domains index: 'platform' for
 * the status page's (BERTH_STATUS_HOST, else BERTH_DOMAIN), the app's name for an existing app's default host, else undefined.
 */
export async function builtInHost(
  o: Pick<AcmeOptions, 'store' | 'platformDomain' | 'statusHost'>,
  domain: string,
): Promise<'platform' | { app: string } | undefined> {
  const base = o.platformDomain;
  if (domain === (o.statusHost ?? base)) return 'platform';
  if (base === undefined) return undefined;
  if (!domain.endsWith(`.${base}`)) return undefined;
  const label = domain.slice(0, -base.length - 1);
  try {
    validate.appName(label);
  } catch {
    return undefined;
  }
  return (await o.store.apps.get(label)) === undefined ? undefined : { app: label };
}

/** Whether `domain` gets certificates: an app has it, or Berth serves it by itself (builtInHost). */
export async function certifiable(
  o: Pick<AcmeOptions, 'store' | 'platformDomain' | 'statusHost'>,
  domain: string,
): Promise<boolean> {
  return (
    (await o.store.domains.owner(domain)) !== undefined ||
    (await builtInHost(o, domain)) !== undefined
  );
}

/**
 * Obtains a certificate for `domain` (one of an app's domains, an app's
 * default host, or the platform's) and installs it; its details. On failure records the error and
 * the next attempt, and throws BERTH_E_ACME with the CA's reason.
 */
export async function obtainCertificate(o: AcmeOptions, domain: string): Promise<CertInfo> {
  const name = validate.domain(domain);
  const { store } = o;
  const indexed = (await store.domains.owner(name)) !== undefined;
  const builtIn = !indexed && (await builtInHost(o, name)) !== undefined;
  if (!indexed && !builtIn) throw new BerthError('BERTH_E_DOMAIN_UNKNOWN', { domain: name });
  const release = await store.certs.lock(name, ORDER_LIMIT_MS);
  if (release === undefined) throw new BerthError('BERTH_E_ACME_BUSY', { domain: name });
  const progress = o.onProgress ?? (() => {});
  try {
    const client = await accountClient(o);
    const [key, csr] = await (await acmeClientLib()).crypto.createCsr(
      { commonName: name, altNames: [name] },
      await (await acmeClientLib()).crypto.createPrivateEcdsaKey('P-256'),
    );
    progress(`Ordering a certificate for ${name} from ${new URL(o.directoryUrl).host}`);
    const chain = await client.auto({
      csr,
      ...(o.email ? { email: o.email } : {}),
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // acme-client's own self-check waits minutes without a word (issue
      // 18); Berth's runs in challengeCreateFn instead.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        if (challenge.type !== 'http-01') throw new Error(`${challenge.type} is not offered`);
        await store.certs.setChallenge(challenge.token, keyAuthorization);
        progress(`Answering the CA's HTTP-01 check for ${name}`);
        if (o.selfCheck) {
          await selfCheckChallenge({
            domain: name,
            token: challenge.token,
            keyAuthorization,
            onProgress: progress,
            ...(o.selfCheckPort ? { port: o.selfCheckPort } : {}),
            ...(o.selfCheckDnsServer ? { dnsServer: o.selfCheckDnsServer } : {}),
            ...(o.selfCheckLimitMs ? { limitMs: o.selfCheckLimitMs } : {}),
          });
        }
      },
      challengeRemoveFn: async (_authz, challenge) => {
        if (challenge.type === 'http-01') await store.certs.removeChallenge(challenge.token);
      },
    });
    const info = await installCert(store, o.paths, name, { chain, key: key.toString() }, 'acme', {
      builtIn,
    });
    progress(
      `Certificate for ${name} installed: ${info.issuer}, serial ${info.serial}, valid until ${info.notAfter.toISOString()}`,
    );
    return info;
  } catch (e) {
    if (e instanceof BerthError && e.code !== 'BERTH_E_CERT_INVALID') throw e;
    const reason = reasonOf(e);
    const previous = await store.certs.get(name);
    const failures = (previous?.failures ?? 0) + 1;
    const failure = {
      lastError: reason,
      nextAttemptAt: new Date(Date.now() + retryDelayMs(failures)),
      failures,
    };
    // A domain still being served by an earlier certificate keeps it.
    if (previous) await store.certs.patch(name, failure);
    else await store.certs.set(name, { source: 'acme', ...failure }, { platform: builtIn });
    throw new BerthError('BERTH_E_ACME', { domain: name, reason });
  } finally {
    await release();
  }
}
