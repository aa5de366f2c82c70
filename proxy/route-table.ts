// The router's in-memory route table: which app a Host belongs to and which
// backends serve it. Lookups happen on every request, so they are one Map
// get; changes come from Redis (route-sync.ts) and replace an app's entry
// in place, never the table.
import type { HttpsSettings } from '../services/core/store/records.ts';
import { splitBackendAddress, wildcardOf } from '../services/core/validate.ts';
import { probeUntilBack } from './health-probe.ts';

/** Where http-proxy connects: what it copies from a target (a URL object has the same fields). */
export interface BackendTarget {
  readonly protocol: 'http:';
  /** The bare host, IPv6 without brackets: the socket's, not a URL's, spelling. */
  readonly host: string;
  readonly hostname: string;
  readonly port: number;
}

/**
 * A backend's health as this router process has seen it (passive: from its
 * own connections): `healthy`, or `refused` after it refused or dropped a
 * connection, or did not accept one within the connect timeout. A refused
 * backend is out of the route at once; it comes back when a background
 * probe connects to it (health-probe.ts, every 0.25 s), when its next
 * answer comes, or, bounded, after `retryAt` (REFUSED_FOR_MS), when a
 * request may try it again should the probes not reach it. A backend the
 * route table drops is `gone` and no longer probed; one that comes back
 * into the route later comes back healthy. Draining is the deployer's: a
 * replaced release's instances leave the route in the step the new ones
 * join it, and finish what they have on their own connections.
 */
export type BackendState = 'healthy' | 'refused';

/** One instance of an app's web process, as the router sees it. */
export interface Backend {
  /** host:port as the scheduler reported it: IPv4, [IPv6] or a DNS name (validate.backendAddress). */
  readonly address: string;
  /** Made once per backend, so no request parses an address. */
  readonly target: BackendTarget;
  state: BackendState;
  /** When a refused backend is tried again (ms, monotonic) even if no probe got through. */
  retryAt: number;
  /** A probe of it is under way (health-probe.ts). */
  probing: boolean;
  /** The route table dropped it: no more probes. */
  gone: boolean;
}

/** What a host resolves to. */
export interface AppRoute {
  readonly app: string;
  /** Plain HTTP to a host of the app that has a certificate is redirected to HTTPS. */
  readonly httpsRedirect: boolean;
  /** The Strict-Transport-Security value for the app's HTTPS responses; undefined: none. */
  readonly hsts: string | undefined;
  /** The release whose instances these are; 0 before the first deploy. */
  readonly release: number;
  /** Empty: the app exists but has no running web instance (stopped, or not deployed yet). */
  readonly backends: readonly Backend[];
  /** Request bodies larger than this get a 413 (bytes; 0: no limit; null: the router's default). */
  readonly maxBodySize: number | null;
  /** Round-robin position. */
  next: number;
}

/** An app's entry as Redis has it (route-sync.ts reads it). */
export interface AppState {
  release: number;
  backends: readonly string[];
  /** Custom domains, canonical (lower case, punycode). */
  domains: readonly string[];
  /** certs:set switches. */
  https: HttpsSettings;
  /** proxy:set max-body-size, in bytes; null (or absent): the router's default. */
  maxBodySize?: number | null;
}

/**
 * How long a backend that refused or dropped a connection is skipped at
 * most when no probe gets through to it; a probe that does gives it back
 * sooner.
 */
const REFUSED_FOR_MS = 10_000;

export class RouteTable {
  private readonly byHost = new Map<string, AppRoute>();
  private readonly byApp = new Map<string, { route: AppRoute; hosts: readonly string[] }>();
  private globals: readonly string[] = [];

  /** @param domain BERTH_DOMAIN: every app is served at <app>.<domain>. */
  constructor(private readonly domain: string) {}

  /**
   * The app served at a host (lower case, no port), or undefined when no app
   * is: the app that has the host exactly, else the one with the wildcard
   * one label above it (a.example.com: *.example.com; an exact domain wins).
   */
  lookup(host: string): AppRoute | undefined {
    const exact = this.byHost.get(host);
    if (exact !== undefined) return exact;
    const wildcard = wildcardOf(host);
    return wildcard === undefined ? undefined : this.byHost.get(wildcard);
  }

  /**
   * The name a host is served under, whose certificate it gets: the host
   * itself, or the wildcard that serves it; undefined when no app serves it.
   */
  certName(host: string): string | undefined {
    if (this.byHost.has(host)) return host;
    const wildcard = wildcardOf(host);
    return wildcard !== undefined && this.byHost.has(wildcard) ? wildcard : undefined;
  }

  /** Puts an app's current state in place of its old entry; undefined removes the app. */
  set(app: string, state: AppState | undefined): void {
    const previous = this.byApp.get(app);
    for (const host of previous?.hosts ?? []) {
      if (this.byHost.get(host)?.app === app) this.byHost.delete(host);
    }
    this.byApp.delete(app);
    // Backends that leave the route are probed no more.
    const staying = new Set(state?.backends);
    for (const b of previous?.route.backends ?? []) if (!staying.has(b.address)) b.gone = true;
    if (!state) return;

    // A backend that stays keeps its failure state: a redeploy of other
    // instances must not send traffic back to one that just refused it.
    const known = new Map(previous?.route.backends.map((b) => [b.address, b]));
    const route: AppRoute = {
      app,
      httpsRedirect: state.https.httpsRedirect,
      hsts: state.https.hsts ? `max-age=${state.https.hstsMaxAge}` : undefined,
      release: state.release,
      backends: state.backends.map(
        (address) =>
          known.get(address) ?? {
            address,
            target: backendTarget(address),
            state: 'healthy',
            retryAt: 0,
            probing: false,
            gone: false,
          },
      ),
      maxBodySize: state.maxBodySize ?? null,
      next: 0,
    };
    const hosts = [
      `${app}.${this.domain}`,
      ...this.globals.map((global) => `${app}.${global}`),
      ...state.domains,
    ];
    for (const host of hosts) this.byHost.set(host, route);
    this.byApp.set(app, { route, hosts });
  }

  /**
   * Global domains: every app is also served at <app>.<global>. Takes effect
   * for each app at its next set(); route-sync reloads every app after this.
   */
  setGlobals(globals: readonly string[]): void {
    this.globals = [...globals];
  }

  /** Every app the table holds (for a full reload to drop the ones gone). */
  apps(): string[] {
    return [...this.byApp.keys()];
  }
}

function backendTarget(address: string): BackendTarget {
  const { host, port } = splitBackendAddress(address);
  return { protocol: 'http:', host, hostname: host, port };
}

/** Whether a request may go to the backend now: healthy, or refused long enough ago. */
export const usable = (b: Backend, now: number): boolean =>
  b.state === 'healthy' || b.retryAt <= now;

/**
 * The next backend by round-robin, skipping those refused recently; when all
 * are, the one that refused longest ago (it may be back).
 */
export function pickBackend(route: AppRoute, now: number): Backend | undefined {
  const { backends } = route;
  const n = backends.length;
  let fallback: Backend | undefined;
  for (let i = 0; i < n; i++) {
    const index = (route.next + i) % n;
    const b = backends[index] as Backend;
    if (usable(b, now)) {
      route.next = index + 1;
      return b;
    }
    if (!fallback || b.retryAt < fallback.retryAt) fallback = b;
  }
  return fallback;
}

/** Takes the backend out of the route until a probe or an answer says it is back (or REFUSED_FOR_MS). */
export function markRefused(backend: Backend, now: number): void {
  backend.state = 'refused';
  backend.retryAt = now + REFUSED_FOR_MS;
  probeUntilBack(backend);
}

/** The backend answered: healthy again, if it was not. */
export function markAnswered(backend: Backend): void {
  if (backend.state !== 'healthy') backend.state = 'healthy';
}
