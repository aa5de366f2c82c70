// One client's connection to the SSH server, from accept to close: whom it
// counts against (its source's cap until it signs in), its timers (sign in
// in time, close when idle), its authentication attempts, and the commands
// running on it. The server (ssh-server.ts) accepts it and wires ssh2's
// events to it.
import type net from 'node:net';
import type ssh2 from 'ssh2';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store/index.ts';
import { decidePublicKey, type UserActor } from './auth.ts';
import type { RunningCommand } from './exec-channel.ts';
import type { SshLimits } from './limits.ts';

export class ClientConnection {
  client: ssh2.Connection | undefined;
  actor: UserActor | undefined;
  failures = 0;
  sessions = 0;
  /** The commands running on this connection. */
  readonly running = new Set<RunningCommand>();
  private readonly authTimer: NodeJS.Timeout;
  private idleTimer: NodeJS.Timeout | undefined;
  closed = false;
  /** Let in while the store does not answer, only to be told so (auth.ts). */
  storeDown = false;
  /** Authenticated: it no longer counts against its source's cap. */
  signedIn = false;
  /** Whom its slot counts under once signed in. */
  signedInAs: { user: string; admin: boolean } | undefined;
  /** The client said it speaks SSH; then finished the key exchange (a flood's connections do neither). */
  heardFrom = false;
  handshaken = false;
  /** Since when it has run no command (ms, monotonic); Infinity while one runs. */
  idleSince = Number.POSITIVE_INFINITY;
  /** Its slot is given back (when it closes, or at once when the server drops it for another). */
  released = false;

  constructor(
    readonly id: string,
    readonly socket: net.Socket,
    /** The peer's address and port, as ssh2's connection event names it. */
    readonly peer: string,
    readonly source: string,
    public log: Logger,
    private readonly limits: SshLimits,
  ) {
    this.authTimer = setTimeout(() => {
      this.log.info({ timeoutMs: limits.authTimeoutMs }, 'dropped: not authenticated in time');
      socket.destroy();
    }, limits.authTimeoutMs);
  }

  /** Authenticated: the sign-in timer stops, and the idle timer takes over. */
  onSignedIn(as: { user: string; admin: boolean }): void {
    clearTimeout(this.authTimer);
    this.signedIn = true;
    this.signedInAs = as;
  }

  /** Running no command (an `ssh -N`, or between commands). */
  get idle(): boolean {
    return this.signedIn && this.running.size === 0;
  }

  /** The socket closed: its timers stop, and its commands learn their client is gone. */
  onClosed(): void {
    this.closed = true;
    clearTimeout(this.authTimer);
    clearTimeout(this.idleTimer);
    for (const command of this.running) command.gone();
  }

  /**
   * A signed-in connection with nothing running closes after the idle
   * timeout; while the server closes, at once.
   */
  updateIdle(serverClosing: boolean): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.running.size > 0) this.idleSince = Number.POSITIVE_INFINITY;
    else if (this.idleSince === Number.POSITIVE_INFINITY) this.idleSince = performance.now();
    if (this.closed || this.actor === undefined || this.running.size > 0) return;
    if (serverClosing) {
      this.shutdown();
      return;
    }
    this.idleTimer = setTimeout(() => {
      this.log.info({ idleMs: this.limits.idleTimeoutMs }, 'closing an idle connection');
      this.shutdown();
    }, this.limits.idleTimeoutMs);
  }

  /** Ends the connection politely (SSH disconnect), then for sure. */
  shutdown(): void {
    if (this.closed) return;
    try {
      this.client?.end();
    } catch {}
    if (this.client === undefined) this.socket.destroy();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  /** One authentication request: public keys only, checked against the store's users. */
  async authenticate(ctx: ssh2.AuthContext, users: Store['users']): Promise<void> {
    const fields = { username: JSON.stringify(ctx.username.slice(0, 64)), method: ctx.method };
    if (ctx.method !== 'publickey') {
      // "none" is every client's opening question; the others are refused outright.
      if (ctx.method !== 'none') this.refuse(ctx, { ...fields, reason: 'method not offered' });
      else ctx.reject(['publickey']);
      return;
    }
    // The probe found the store down; the signed request that follows would wait as long again.
    if (this.storeDown) {
      ctx.accept();
      return;
    }
    const decision = await decidePublicKey(users, ctx);
    if (this.closed) return;
    switch (decision.kind) {
      case 'acceptable':
        this.log.debug({ ...fields, fingerprint: decision.fingerprint }, 'key acceptable');
        ctx.accept();
        return;
      case 'authenticated':
        this.actor = decision.actor;
        this.log = this.log.child({ user: decision.actor.user });
        this.log.info(
          { ...fields, fingerprint: decision.actor.credential, role: decision.actor.role },
          'authenticated',
        );
        ctx.accept();
        return;
      case 'unavailable':
        // It stays unauthenticated: its source's cap and sign-in timer still hold it.
        this.storeDown = true;
        this.log.warn(
          { ...fields, fingerprint: decision.fingerprint, err: decision.error },
          'key lookup: the store does not answer',
        );
        ctx.accept();
        return;
      case 'refused': {
        const { reason, fingerprint, user, error } = decision;
        if (error !== undefined) this.log.error({ err: error, fingerprint }, 'key lookup failed');
        this.refuse(ctx, { ...fields, reason, fingerprint, ...(user ? { user } : {}) });
        return;
      }
    }
  }

  private refuse(ctx: ssh2.AuthContext, fields: Record<string, string>): void {
    this.failures++;
    this.log.info({ ...fields, attempt: this.failures }, 'authentication refused');
    ctx.reject(['publickey']);
    if (this.failures >= this.limits.maxAuthAttempts) {
      this.log.info({ attempts: this.failures }, 'dropped: too many failed authentications');
      this.shutdown();
    }
  }
}
