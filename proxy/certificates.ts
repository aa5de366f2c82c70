// The certificates a router process serves over HTTPS, by SNI: each domain's
// PEM file (services/platform/certs/cert-files.ts) turned into a TLS SecureContext on
// its first handshake and kept until `P certs-changed` names the domain, so
// a replaced certificate is served from the next handshake on, with no
// restart. Anything without a certificate of its own gets the fallback; a
// handshake without SNI gets BERTH_DOMAIN's certificate while it has one
// (serveWithoutSni).
import tls, { type SecureContext } from 'node:tls';
import type { Redis } from 'ioredis';
import type { Logger } from '../services/core/log.ts';
import type { DataPaths } from '../services/core/paths.ts';
import type { KeyLayout } from '../services/core/store/keys.ts';
import { readCertFile } from '../services/platform/certs/cert-files.ts';
import type { PemPair } from '../services/platform/certs/fallback-cert.ts';

export interface CertificateCacheOptions {
  paths: DataPaths;
  /** Served when a host has no certificate of its own. */
  fallback: SecureContext;
  /**
   * The name whose certificate serves `host`: the host itself, or the app's
   * wildcard (*.example.com) that serves it; undefined when the router does
   * not serve it. Only those names' files are read, and entries are by name,
   * so a client's made-up SNI names (under a wildcard too) cost no disk read
   * and no entry of their own.
   */
  certName(host: string): string | undefined;
  log: Logger;
}

/** null: the host has no usable certificate (no file, or one that did not load). */
type Entry = SecureContext | null | Promise<SecureContext | null>;

type SniCallback = (err: Error | null, ctx?: SecureContext) => void;

/** A host as SNI or a Host header names it, in the store's spelling. */
const canonical = (name: string): string =>
  (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();

/** Where a handshake without SNI is served from: a host's certificate while it has one. */
interface NoSni {
  host: string;
  server: tls.Server;
  fallback: PemPair;
  /** Bumped per reload, so that an older read finishing late never wins. */
  loads: number;
}

export class CertificateCache {
  private readonly entries = new Map<string, Entry>();
  private noSni: NoSni | undefined;

  constructor(private readonly o: CertificateCacheOptions) {}

  /** tls.Server's SNICallback: the host's certificate, or the fallback. Never fails. */
  readonly sniCallback = (servername: string, done: SniCallback): void => {
    const found = this.lookup(canonical(servername));
    if (found instanceof Promise) void found.then((ctx) => done(null, ctx ?? this.o.fallback));
    else done(null, found ?? this.o.fallback);
  };

  /**
   * Whether a certificate of the host's own is served (the HTTPS redirect
   * depends on it): known at once after the first look, a promise before.
   */
  has(host: string): boolean | Promise<boolean> {
    const found = this.lookup(host);
    return found instanceof Promise ? found.then((ctx) => ctx !== null) : found !== null;
  }

  /** Forgets a domain's certificate: the next handshake reads its file again. */
  drop(domain: string): void {
    const host = canonical(domain);
    this.entries.delete(host);
    if (host === this.noSni?.host) void this.loadNoSni();
  }

  /** Forgets every certificate (after a Redis reconnect, changes may have been missed). */
  clear(): void {
    this.entries.clear();
    if (this.noSni) void this.loadNoSni();
  }

  /**
   * Serves `host`'s certificate (BERTH_DOMAIN's: the status page's) to
   * handshakes that name no host, while it has one, and `fallback` otherwise;
   * from now on and after every change of it. As nginx's default server: a
   * client that sends no SNI (openssl s_client to a name without a dot, such
   * as the default BERTH_DOMAIN localhost; any client given an IP address)
   * was sent to HTTPS by the redirect (https-redirect.ts), which follows the
   * host's certificate, and then got the fallback. Resolves once the first
   * read is applied.
   */
  serveWithoutSni(host: string, server: tls.Server, fallback: PemPair): Promise<void> {
    this.noSni = { host: canonical(host), server, fallback, loads: 0 };
    return this.loadNoSni();
  }

  private async loadNoSni(): Promise<void> {
    const target = this.noSni;
    if (!target) return;
    const load = ++target.loads;
    let pem: PemPair = target.fallback;
    try {
      const pair = await readCertFile(this.o.paths, target.host);
      if (pair !== undefined && pair.key !== '' && pair.chain !== '') {
        pem = { key: pair.key, cert: pair.chain };
      }
    } catch {
      // Unreadable: load() says so for the SNI path; the fallback is served here too.
    }
    if (load !== target.loads) return;
    try {
      target.server.setSecureContext(pem);
    } catch (e) {
      this.o.log.error(
        { err: e, domain: target.host },
        `cannot load the certificate of ${target.host}; serving the fallback certificate to clients without SNI until it changes`,
      );
      target.server.setSecureContext(target.fallback);
    }
  }

  private lookup(requested: string): Entry {
    const host = requested === '' ? undefined : this.o.certName(requested);
    if (host === undefined) {
      // A host no longer served (its app destroyed) leaves nothing behind.
      this.entries.delete(requested);
      return null;
    }
    const known = this.entries.get(host);
    if (known !== undefined) return known;
    const loading: Promise<SecureContext | null> = this.load(host).then((ctx) => {
      // Dropped while loading: the next handshake loads again; this one's result is not kept.
      if (this.entries.get(host) === loading) this.entries.set(host, ctx);
      return ctx;
    });
    this.entries.set(host, loading);
    return loading;
  }

  /** Never rejects: a file that fails is logged once (until the domain changes) and served as none. */
  private async load(host: string): Promise<SecureContext | null> {
    try {
      const pair = await readCertFile(this.o.paths, host);
      if (pair === undefined) return null;
      if (pair.key === '' || pair.chain === '') {
        throw new Error('the file holds no private key or no certificate');
      }
      return tls.createSecureContext({ key: pair.key, cert: pair.chain });
    } catch (e) {
      this.o.log.error(
        { err: e, domain: host },
        `cannot load the certificate of ${host}; serving the fallback certificate until it changes`,
      );
      return null;
    }
  }
}

/**
 * Drops a domain from the cache whenever `P certs-changed` names it, on the
 * router's subscriber connection (shared with route-sync.ts); resolves once
 * subscribed.
 */
export async function followCertChanges(o: {
  subscriber: Redis;
  keys: KeyLayout;
  cache: CertificateCache;
  log: Logger;
}): Promise<void> {
  o.subscriber.on('message', (channel: string, domain: string) => {
    if (channel === o.keys.certsChannel) o.cache.drop(domain);
  });
  let subscribed = false;
  // ioredis resubscribes after a reconnect; what was published in between is lost.
  o.subscriber.on('ready', () => {
    if (!subscribed) return;
    o.log.info('reconnected to Redis; reading every certificate again');
    o.cache.clear();
  });
  await o.subscriber.subscribe(o.keys.certsChannel);
  subscribed = true;
}
