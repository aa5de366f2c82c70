// The SSH server's limits, and the per-source connection count they need.
// Each limit bounds what one client can hold on the server before proving who
// it is (handshake, auth attempts) or while doing nothing (idle).
import net from 'node:net';

export interface SshLimits {
  /**
   * A connection must finish the key exchange and authenticate within this,
   * or it is dropped. Default 20 s (OpenSSH's LoginGraceTime is 120 s; a
   * key-only server needs no time for a person to type a password).
   */
  authTimeoutMs: number;
  /**
   * An authenticated connection that runs no command for this long is closed.
   * Default 10 min. A running command (a push waiting on its build) never
   * counts as idle; dead peers are found by the keepalive instead.
   */
  idleTimeoutMs: number;
  /**
   * Connections not yet authenticated at once from one source: an IPv4
   * address, or an IPv6 /64 (one machine usually has a whole /64). Excess
   * connections are closed at once, before the SSH handshake. Default 30
   * (where OpenSSH's MaxStartups 10:30:100 refuses 30% of new ones). It
   * bounds what a stranger can hold; signed-in
   * connections (a CI runner or an office behind one address pushing many
   * apps at once) count only towards maxConnections.
   */
  maxUnauthenticatedPerSource: number;
  /** Connections open at once in total. Default 256. */
  maxConnections: number;
  /** Failed authentication requests on one connection before it is dropped. Default 6 (OpenSSH's MaxAuthTries). */
  maxAuthAttempts: number;
  /** Sessions (channels) open at once on one connection. Default 10 (OpenSSH's MaxSessions). */
  maxSessionsPerConnection: number;
  /** The longest command line an exec request may carry, in characters. Default 4096. */
  maxCommandLength: number;
  /** close() lets running commands finish for this long, then cuts them off. Default 30 s. */
  closeGraceMs: number;
  /** A keepalive request to an authenticated client this often... Default 15 s. */
  keepaliveIntervalMs: number;
  /** ...and the connection is dropped after this many unanswered in a row. Default 3. */
  keepaliveCountMax: number;
}

export const DEFAULT_LIMITS: Readonly<SshLimits> = Object.freeze({
  authTimeoutMs: 20_000,
  idleTimeoutMs: 10 * 60_000,
  maxUnauthenticatedPerSource: 30,
  maxConnections: 256,
  maxAuthAttempts: 6,
  maxSessionsPerConnection: 10,
  maxCommandLength: 4096,
  closeGraceMs: 30_000,
  keepaliveIntervalMs: 15_000,
  keepaliveCountMax: 3,
});

/** The defaults with the given overrides; throws on a value that is not a positive integer. */
export function resolveLimits(overrides: Partial<SshLimits> = {}): Readonly<SshLimits> {
  const limits = { ...DEFAULT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`SSH limit ${name} must be a positive integer, not ${value}`);
    }
  }
  return Object.freeze(limits);
}

/** Expands an IPv6 address to its eight 16-bit groups (undefined if it is not one). */
function ipv6Groups(address: string): number[] | undefined {
  if (!net.isIPv6(address)) return undefined;
  let text = address.replace(/%.*$/, '');
  // A trailing dotted IPv4 part (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const zeros = new Array(8 - left.length - right.length).fill(0) as number[];
  return [...left, ...zeros, ...right];
}

/**
 * The key connections are counted under: the IPv4 address (also when it
 * arrives IPv4-mapped on an IPv6 socket), or the IPv6 /64 prefix.
 */
export function sourceKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  if (net.isIPv4(address)) return address;
  const groups = ipv6Groups(address);
  if (groups === undefined) return address;
  const isMapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (isMapped) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** Counts open connections in total, and those not yet authenticated per source. */
export class ConnectionCounter {
  private readonly pendingBySource = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly limits: Pick<SshLimits, 'maxConnections' | 'maxUnauthenticatedPerSource'>,
  ) {}

  /**
   * Takes a slot for a new connection from `source`; returns why not when a
   * cap is reached. Call authenticated(source) when it signs in, and
   * release(source, signedIn) once when a taken slot's connection ends.
   */
  acquire(source: string): 'ok' | 'source' | 'total' {
    if (this.total >= this.limits.maxConnections) return 'total';
    const count = this.pendingBySource.get(source) ?? 0;
    if (count >= this.limits.maxUnauthenticatedPerSource) return 'source';
    this.pendingBySource.set(source, count + 1);
    this.total++;
    return 'ok';
  }

  /** The connection signed in: it no longer counts against its source. */
  authenticated(source: string): void {
    this.dropPending(source);
  }

  release(source: string, signedIn: boolean): void {
    if (!signedIn) this.dropPending(source);
    this.total = Math.max(0, this.total - 1);
  }

  private dropPending(source: string): void {
    const count = this.pendingBySource.get(source) ?? 0;
    if (count <= 1) this.pendingBySource.delete(source);
    else this.pendingBySource.set(source, count - 1);
  }

  get size(): number {
    return this.total;
  }
}
