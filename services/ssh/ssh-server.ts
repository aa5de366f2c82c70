// Berth's front door: an SSH server (ssh2) that takes public keys only and
// runs nothing but exec requests, each handed to an ExecHandler (a git
// service or a Berth command) as who the client is plus the channel's
// streams. No shell, no pty, no forwarding of any kind, no subsystems.
//
// Connections are accepted by our own TCP listeners and injected into ssh2,
// so the per-source and total caps apply before a single byte of SSH is
// parsed. See limits.ts for every limit and its default.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import ssh2 from 'ssh2';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store/index.ts';
import { decidePublicKey, type UserActor } from './auth.ts';
import type { RunningCommand } from './exec-channel.ts';
import type { ExecHandler } from './exec-request.ts';
import { ConnectionCounter, resolveLimits, type SshLimits, sourceKey } from './limits.ts';
import { handleSession } from './session.ts';

export interface SshServerOptions {
  /** The host private key (OpenSSH format), e.g. loadOrCreateHostKey(dir).privateKey. */
  hostKey: string | Buffer;
  store: Pick<Store, 'users'>;
  log: Logger;
  onExec: ExecHandler;
  limits?: Partial<SshLimits>;
}

export interface SshServer {
  /** Starts accepting on one address; call again for another (e.g. 0.0.0.0 and ::). */
  listen(port: number, host: string): Promise<void>;
  /**
   * Stops accepting, closes idle connections at once and lets running
   * commands finish for limits.closeGraceMs before cutting them off.
   */
  close(): Promise<void>;
  /** The first listener's address (its port when listening on port 0). */
  address(): net.AddressInfo | null;
}

interface Connection {
  id: string;
  socket: net.Socket;
  /** The peer's address and port, as ssh2's connection event names it. */
  peer: string;
  source: string;
  log: Logger;
  client?: ssh2.Connection;
  actor?: UserActor;
  failures: number;
  sessions: number;
  /** The commands running on this connection. */
  running: Set<RunningCommand>;
  authTimer?: NodeJS.Timeout;
  idleTimer?: NodeJS.Timeout;
  closed: boolean;
  /** Authenticated: it no longer counts against its source's cap. */
  signedIn: boolean;
}

export function createSshServer(options: SshServerOptions): SshServer {
  const limits = resolveLimits(options.limits);
  // `module`, not `component`: the service's logger already binds the latter.
  const log = options.log.child({ module: 'ssh-server' });
  const counter = new ConnectionCounter(limits);
  const listeners: net.Server[] = [];
  const connections = new Set<Connection>();
  // ssh2 names a connection by its peer's address; that is how its events find ours.
  const byPeer = new Map<string, Connection>();
  const peerOf = (ip: string | undefined, port: number | undefined) => `${ip}|${port}`;
  let closing = false;
  let listenPort = 0;
  const onDrained = new Set<() => void>();

  const server = new ssh2.Server({
    hostKeys: [options.hostKey],
    ident: 'Berth',
    // ssh2's defaults minus SHA-1 MACs and zlib before authentication (the
    // delayed zlib@openssh.com only starts once the client is known).
    algorithms: {
      hmac: [
        'hmac-sha2-256-etm@openssh.com',
        'hmac-sha2-512-etm@openssh.com',
        'hmac-sha2-256',
        'hmac-sha2-512',
      ],
      compress: ['none', 'zlib@openssh.com'],
    },
    keepaliveInterval: limits.keepaliveIntervalMs,
    keepaliveCountMax: limits.keepaliveCountMax,
  });
  server.on('error', (e: Error) => log.error({ err: e }, 'ssh server error'));

  const updateIdle = (conn: Connection) => {
    clearTimeout(conn.idleTimer);
    conn.idleTimer = undefined;
    if (conn.closed || conn.actor === undefined || conn.running.size > 0) return;
    if (closing) {
      shutdown(conn);
      return;
    }
    conn.idleTimer = setTimeout(() => {
      conn.log.info({ idleMs: limits.idleTimeoutMs }, 'closing an idle connection');
      shutdown(conn);
    }, limits.idleTimeoutMs);
  };

  /** Ends the connection politely (SSH disconnect), then for sure. */
  const shutdown = (conn: Connection) => {
    if (conn.closed) return;
    try {
      conn.client?.end();
    } catch {}
    if (conn.client === undefined) conn.socket.destroy();
    setTimeout(() => conn.socket.destroy(), 1000).unref();
  };

  const onSocketClosed = (conn: Connection) => {
    if (conn.closed) return;
    conn.closed = true;
    clearTimeout(conn.authTimer);
    clearTimeout(conn.idleTimer);
    for (const command of conn.running) command.gone();
    connections.delete(conn);
    byPeer.delete(conn.peer);
    counter.release(conn.source, conn.signedIn);
    conn.log.debug('connection closed');
    if (connections.size === 0) for (const resolve of onDrained) resolve();
  };

  const accept = (socket: net.Socket) => {
    // A reset before we look is no error of ours.
    socket.on('error', () => undefined);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const source = sourceKey(socket.remoteAddress);
    if (closing) {
      socket.destroy();
      return;
    }
    const slot = counter.acquire(source);
    if (slot !== 'ok') {
      log.warn(
        {
          remote,
          source,
          limit: slot === 'source' ? limits.maxUnauthenticatedPerSource : limits.maxConnections,
        },
        slot === 'source'
          ? 'connection refused: too many not signed in from this source'
          : 'connection refused: too many open in total',
      );
      socket.destroy();
      return;
    }
    const id = randomBytes(4).toString('hex');
    const conn: Connection = {
      id,
      socket,
      peer: peerOf(socket.remoteAddress, socket.remotePort),
      source,
      log: log.child({ conn: id, remote }),
      failures: 0,
      sessions: 0,
      running: new Set(),
      closed: false,
      signedIn: false,
    };
    connections.add(conn);
    byPeer.set(conn.peer, conn);
    socket.once('close', () => onSocketClosed(conn));
    conn.authTimer = setTimeout(() => {
      conn.log.info({ timeoutMs: limits.authTimeoutMs }, 'dropped: not authenticated in time');
      socket.destroy();
    }, limits.authTimeoutMs);
    socket.setNoDelay(true);
    server.injectSocket(socket);
  };

  server.on('connection', (client, info) => {
    const conn = byPeer.get(peerOf(info.ip, info.port));
    if (conn === undefined || conn.closed) {
      client.end();
      return;
    }
    conn.client = client;
    // Client-side errors (resets, garbage, keepalive timeouts) end the connection; nothing to raise.
    client.on('error', (e: Error) => conn.log.debug({ err: e.message }, 'connection error'));
    client.on('authentication', (ctx) => {
      authenticate(conn, ctx).catch((e: unknown) => {
        conn.log.error({ err: e }, 'authentication failed');
        ctx.reject(['publickey']);
      });
    });
    client.on('ready', () => {
      clearTimeout(conn.authTimer);
      conn.signedIn = true;
      counter.authenticated(conn.source);
      updateIdle(conn);
    });
    client.on('session', (acceptSession, reject) => {
      if (closing || conn.sessions >= limits.maxSessionsPerConnection) {
        reject();
        return;
      }
      const actor = conn.actor;
      if (actor === undefined) return reject(); // ssh2 opens none before authentication
      conn.sessions++;
      const session = acceptSession();
      // ssh2 emits no close for sessions when the whole connection drops; the count dies with it.
      session.once('close', () => conn.sessions--);
      handleSession(session, {
        actor,
        log: conn.log,
        onExec: options.onExec,
        limits,
        port: () => listenPort,
        started: (command) => {
          conn.running.add(command);
          updateIdle(conn);
        },
        ended: (command) => {
          conn.running.delete(command);
          updateIdle(conn);
        },
      });
    });
    // No forwarding of any kind. Channel opens for direct-tcpip and
    // streamlocal are left to ssh2, which refuses them as "administratively
    // prohibited" when nothing listens (a listener that rejects would make it
    // say "connect failed"). Global requests (tcpip-forward, ...) are refused here.
    client.on('request', (_accept, reject, name) => {
      conn.log.info({ request: name }, 'refused: global request');
      reject?.();
    });
  });

  const authenticate = async (conn: Connection, ctx: ssh2.AuthContext) => {
    const fields = { username: JSON.stringify(ctx.username.slice(0, 64)), method: ctx.method };
    if (ctx.method !== 'publickey') {
      // "none" is every client's opening question; the others are refused outright.
      if (ctx.method !== 'none') refuse(conn, ctx, { ...fields, reason: 'method not offered' });
      else ctx.reject(['publickey']);
      return;
    }
    const decision = await decidePublicKey(options.store.users, ctx);
    if (conn.closed) return;
    switch (decision.kind) {
      case 'acceptable':
        conn.log.debug({ ...fields, fingerprint: decision.fingerprint }, 'key acceptable');
        ctx.accept();
        return;
      case 'authenticated':
        conn.actor = decision.actor;
        conn.log = conn.log.child({ user: decision.actor.user });
        conn.log.info(
          { ...fields, fingerprint: decision.actor.credential, role: decision.actor.role },
          'authenticated',
        );
        ctx.accept();
        return;
      case 'refused': {
        const { reason, fingerprint, user, error } = decision;
        if (error !== undefined) conn.log.error({ err: error, fingerprint }, 'key lookup failed');
        refuse(conn, ctx, { ...fields, reason, fingerprint, ...(user ? { user } : {}) });
        return;
      }
    }
  };

  const refuse = (conn: Connection, ctx: ssh2.AuthContext, fields: Record<string, string>) => {
    conn.failures++;
    conn.log.info({ ...fields, attempt: conn.failures }, 'authentication refused');
    ctx.reject(['publickey']);
    if (conn.failures >= limits.maxAuthAttempts) {
      conn.log.info({ attempts: conn.failures }, 'dropped: too many failed authentications');
      shutdown(conn);
    }
  };

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        const tcp = net.createServer({ noDelay: true }, accept);
        tcp.once('error', reject);
        tcp.listen({ port, host, ipv6Only: host.includes(':') }, () => {
          tcp.off('error', reject);
          tcp.on('error', (e) => log.error({ err: e }, 'listener error'));
          listeners.push(tcp);
          const address = tcp.address();
          if (listenPort === 0 && address !== null && typeof address === 'object') {
            listenPort = address.port;
          }
          resolve();
        });
      });
    },

    async close() {
      closing = true;
      const stopped = listeners.map(
        (tcp) => new Promise<void>((resolve) => tcp.close(() => resolve())),
      );
      const drained = new Promise<void>((resolve) => {
        if (connections.size === 0) resolve();
        else onDrained.add(resolve);
      });
      for (const conn of connections) {
        if (conn.actor === undefined) conn.socket.destroy();
        else updateIdle(conn); // closes it now, or when its commands finish
      }
      const grace = setTimeout(() => {
        for (const conn of connections) {
          if (conn.running.size > 0) {
            conn.log.warn(
              { graceMs: limits.closeGraceMs },
              'server closing: cutting off running commands',
            );
          }
          for (const command of conn.running) {
            command.controller.abort(new Error('the server is shutting down'));
          }
          shutdown(conn);
        }
      }, limits.closeGraceMs);
      await drained;
      clearTimeout(grace);
      await Promise.all(stopped);
    },

    address() {
      const address = listeners[0]?.address();
      return address !== undefined && address !== null && typeof address === 'object'
        ? address
        : null;
    },
  };
}
