// An app's custom domains, the names it is served at besides its default
// host <app>.<BERTH_DOMAIN> (and <app>.<global domain> for each global
// domain): which names it may have, the changes the domains:* commands make
// (each all-or-nothing, in one store script), and what domains:report shows.
import { rm } from 'node:fs/promises';
import type { Actor } from '../../core/actor.ts';
import { BerthError } from '../../core/errors.ts';
import type { DataPaths } from '../../core/paths.ts';
import type { DomainChange } from '../../core/store/domains.ts';
import type { App, CertMeta, Store } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { certFile } from '../certs/cert-files.ts';
import { mayAccess } from './access.ts';

export type { DomainChange };

export interface DomainsSetting {
  /** BERTH_DOMAIN: every app is served at <app>.<base>, the status page at the base. */
  base: string;
  /** BERTH_STATUS_HOST where the operator gave one (absent: the status page is at the base). */
  statusHost?: string;
  /** Where certificate files live; a removed domain's file goes with it. */
  paths: DataPaths;
}

export const defaultHost = (app: string, base: string) => `${app}.${base}`;

/** Is `label` a name some app has or could be given (so <label>.<base> is its default host)? */
function isAppName(label: string): boolean {
  try {
    validate.appName(label);
    return true;
  } catch {
    return false;
  }
}

/**
 * The canonical, distinct names an app may take as custom domains. Every name
 * is checked before any is returned, so one bad name changes nothing. Refused:
 * the base itself (the status page) and any <name>.<base> that is or may
 * become an app's default host: a custom domain there would shadow that app,
 * and an app created later would shadow it back. The same answer whether that
 * app exists or not, so the refusal does not tell which apps exist. (The
 * store script refuses the same under each global domain, atomically.)
 * The status page's own host, and any name under it, are refused too: an
 * app there would take the status page's requests or share its site (its
 * cookies).
 */
export function customDomains(
  app: string,
  names: readonly string[],
  base: string,
  statusHost = base,
): string[] {
  const canonical = [...new Set(names.map(validate.domainOrWildcard))];
  for (const domain of canonical) {
    if (statusHost !== base && (domain === statusHost || domain.endsWith(`.${statusHost}`))) {
      throw new BerthError('BERTH_E_DOMAIN_RESERVED', {
        domain,
        base,
        reason: "it is the status page's host (BERTH_STATUS_HOST) or a name under it",
      });
    }
    if (domain === base) {
      throw new BerthError('BERTH_E_DOMAIN_RESERVED', {
        domain,
        base,
        reason: "it is Berth's own domain (the status page)",
      });
    }
    if (!domain.endsWith(`.${base}`)) continue;
    const label = domain.slice(0, -base.length - 1);
    if (label === '*')
      throw new BerthError('BERTH_E_DOMAIN_RESERVED', {
        domain,
        base,
        reason: `every APP.${base} is the default host of the app named APP`,
      });
    if (label.includes('.') || !isAppName(label)) continue;
    throw new BerthError('BERTH_E_DOMAIN_RESERVED', {
      domain,
      base,
      reason:
        label === app
          ? `it is the default host of ${app}, served already`
          : `every APP.${base} is the default host of the app named APP`,
    });
  }
  return canonical;
}

export type ChangeMode = 'add' | 'set' | 'remove';

/**
 * Adds, sets (exactly these; none clears) or removes the app's custom
 * domains, all or nothing. A domain another app has is refused naming that
 * app only to someone who may see it. Removed domains lose their
 * certificate metadata (in the store script) and then their certificate file.
 */
export async function changeDomains(
  store: Store,
  actor: Actor,
  setting: DomainsSetting,
  app: App,
  mode: ChangeMode,
  names: readonly string[],
): Promise<DomainChange> {
  // Removing needs no check against the base: such a name was never added.
  const domains =
    mode === 'remove'
      ? [...new Set(names.map(validate.domainOrWildcard))]
      : customDomains(app.name, names, setting.base, setting.statusHost);
  let change: DomainChange;
  try {
    if (mode === 'add') change = await store.domains.addMany(app.name, domains);
    else if (mode === 'set') change = await store.domains.set(app.name, domains);
    else change = await store.domains.removeMany(app.name, domains);
  } catch (e) {
    throw await redactHolder(store, actor, e);
  }
  for (const domain of change.removed) {
    // Unless it has meanwhile been added again (to any app), whose file this may now be.
    if ((await store.domains.owner(domain)) === undefined) {
      await rm(certFile(setting.paths, domain), { force: true });
    }
  }
  return change;
}

/** BERTH_E_DOMAIN_TAKEN names the holder only to someone who may see that app. */
async function redactHolder(store: Store, actor: Actor, e: unknown): Promise<unknown> {
  if (!(e instanceof BerthError)) return e;
  if (e.code !== 'BERTH_E_DOMAIN_TAKEN' && e.code !== 'BERTH_E_DOMAIN_WILDCARD_OVERLAP') return e;
  const holder = await store.apps.get(String(e.params.app));
  if (holder !== undefined && mayAccess(actor, holder, 'read')) return e;
  if (e.code === 'BERTH_E_DOMAIN_WILDCARD_OVERLAP')
    return new BerthError('BERTH_E_DOMAIN_WILDCARD_OVERLAP', {
      domain: String(e.params.domain),
      other: String(e.params.other),
      holder: 'another app',
    });
  return new BerthError('BERTH_E_DOMAIN_TAKEN', {
    domain: String(e.params.domain),
    holder: 'another app',
  });
}

export interface DomainEntry {
  domain: string;
  /**
   * default: <app>.<BERTH_DOMAIN>, always served; global: <app>.<a global
   * domain>; custom: added by domains:add or :set.
   */
  kind: 'default' | 'global' | 'custom';
  /** What Berth records about the domain's certificate; null without one. */
  certificate: Omit<CertMeta, 'domain'> | null;
}

/** The app's default host, its global hosts, then its custom domains (sorted), each with its certificate. */
export async function domainsReport(
  store: Store,
  app: App,
  setting: Pick<DomainsSetting, 'base'>,
): Promise<DomainEntry[]> {
  const [custom, globals] = await Promise.all([
    store.domains.list(app.name),
    store.domains.globals(),
  ]);
  const hosts = [
    { domain: defaultHost(app.name, setting.base), kind: 'default' as const },
    ...globals.map((g) => ({ domain: defaultHost(app.name, g), kind: 'global' as const })),
    ...custom.map((domain) => ({ domain, kind: 'custom' as const })),
  ];
  return Promise.all(
    hosts.map(async (h) => {
      const meta = await store.certs.get(h.domain);
      if (meta === undefined) return { ...h, certificate: null };
      const { domain: _, ...certificate } = meta;
      return { ...h, certificate };
    }),
  );
}

/**
 * Adds global domains (admins): every app is then also served at
 * <app>.<global>. Refused, all of them, for BERTH_DOMAIN itself (the apps are
 * served under it already) and when an app's custom domain is in the way.
 */
export async function addGlobalDomains(
  store: Store,
  base: string,
  names: readonly string[],
): Promise<string[]> {
  const domains = [...new Set(names.map(validate.domain))];
  if (domains.includes(base)) {
    throw new BerthError('BERTH_E_DOMAIN_RESERVED', {
      domain: base,
      base,
      reason: 'it is BERTH_DOMAIN, under which every app is served already',
    });
  }
  return store.domains.addGlobals(domains);
}
