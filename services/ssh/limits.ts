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
  /**
   * Connections not signed in yet, from every source together. Default 64.
   * One more drops the one that has waited longest: a client with a key
   * signs in within a second, so connections that never do (a flood from
   * many addresses) cannot hold the door shut for anyone else.
   */
  maxUnauthenticated: number;
  /** Signed-in connections at once, every user together. Default 256. */
  maxConnections: number;
  /**
   * Signed-in connections of one user. Default 32. One more closes that
   * user's connection that has run nothing longest; when all of them run
   * commands, the new one is refused.
   */
  maxConnectionsPerUser: number;
  /**
   * Of maxConnections, this many only admins may take, so that an admin can
   * always get in. Default 16. When the others' share is full, one more
   * closes the idle connection of another user that has run nothing longest.
   */
  adminReserve: number;
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
  maxUnauthenticated: 64,
  maxConnections: 256,
  maxConnectionsPerUser: 32,
  adminReserve: 16,
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

/** Why a connection may not take a slot: a cap, and what the server can do about it. */
export type Refusal =
  /** Its source has too many not signed in: refuse it. */
  | 'source'
  /** Too many not signed in from all sources: drop the one waiting longest, then ask again. */
  | 'unauthenticated'
  /** The user has maxConnectionsPerUser: close one of theirs that is idle, then ask again. */
  | 'user'
  /** Non-admins hold their whole share: close another user's idle one, then ask again. */
  | 'others';

/**
 * Counts connections by what they are: not signed in (per source and in
 * all), and signed in (per user, and the non-admins' share). The server
 * decides which connection to close when a cap is reached; this only counts.
 */
export class ConnectionCounter {
  private readonly pendingBySource = new Map<string, number>();
  private pending = 0;
  private readonly byUser = new Map<string, number>();
  private others = 0;

  constructor(
    private readonly limits: Pick<
      SshLimits,
      | 'maxConnections'
      | 'maxUnauthenticatedPerSource'
      | 'maxUnauthenticated'
      | 'maxConnectionsPerUser'
      | 'adminReserve'
    >,
  ) {}

  /** A slot for a new connection from `source`, not signed in yet; or why not. */
  acquire(source: string): 'ok' | Refusal {
    const count = this.pendingBySource.get(source) ?? 0;
    if (count >= this.limits.maxUnauthenticatedPerSource) return 'source';
    if (this.pending >= this.limits.maxUnauthenticated) return 'unauthenticated';
    this.pendingBySource.set(source, count + 1);
    this.pending++;
    return 'ok';
  }

  /** The connection from `source` signed in as `user`: it moves to the user's count, or why not. */
  signIn(source: string, user: string, admin: boolean): 'ok' | Refusal {
    const mine = this.byUser.get(user) ?? 0;
    if (mine >= this.limits.maxConnectionsPerUser) return 'user';
    if (!admin && this.others >= this.limits.maxConnections - this.limits.adminReserve) {
      return 'others';
    }
    this.dropPending(source);
    this.byUser.set(user, mine + 1);
    if (!admin) this.others++;
    return 'ok';
  }

  /** Once, when a connection that took a slot ends (or is dropped). */
  release(source: string, signedIn: { user: string; admin: boolean } | undefined): void {
    if (signedIn === undefined) {
      this.dropPending(source);
      return;
    }
    const mine = (this.byUser.get(signedIn.user) ?? 1) - 1;
    if (mine <= 0) this.byUser.delete(signedIn.user);
    else this.byUser.set(signedIn.user, mine);
    if (!signedIn.admin) this.others = Math.max(0, this.others - 1);
  }

  private dropPending(source: string): void {
    const count = this.pendingBySource.get(source) ?? 0;
    if (count <= 1) this.pendingBySource.delete(source);
    else this.pendingBySource.set(source, count - 1);
    this.pending = Math.max(0, this.pending - 1);
  }
}
