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
import { isAdmin } from '../core/actor.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store/index.ts';
import { ClientConnection } from './connection.ts';
import type { ExecHandler } from './exec-request.ts';
import { ConnectionCounter, resolveLimits, type SshLimits, sourceKey } from './limits.ts';
import { handleSession, sayStoreDown } from './session.ts';

export interface SshServerOptions {
  /** The host private key (OpenSSH format), e.g. loadOrCreateHostKey(dir).privateKey. */
  hostKey: string | Buffer;
  store: Pick<Store, 'users'>;
  log: Logger;
  onExec: ExecHandler;
  limits?: Partial<SshLimits>;
}

export interface SshServer {
  /**
   * Starts accepting on one address; call again for another (e.g. 0.0.0.0
   * and ::). `handle`: on the listening socket a replaced process handed
   * over (services/core/handover.ts), instead of binding the address.
   */
  listen(port: number, host: string, handle?: object): Promise<net.Server>;
  /**
   * Stops accepting, closes idle connections at once and lets running
   * commands finish for limits.closeGraceMs before cutting them off.
   */
  close(): Promise<void>;
  /** The first listener's address (its port when listening on port 0). */
  address(): net.AddressInfo | null;
}

export function createSshServer(options: SshServerOptions): SshServer {
  const limits = resolveLimits(options.limits);
  // `module`, not `component`: the service's logger already binds the latter.
  const log = options.log.child({ module: 'ssh-server' });
  const counter = new ConnectionCounter(limits);
  const listeners: net.Server[] = [];
  const connections = new Set<ClientConnection>();
  // ssh2 names a connection by its peer's address; that is how its events find ours.
  const byPeer = new Map<string, ClientConnection>();
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

  const onSocketClosed = (conn: ClientConnection) => {
    if (conn.closed) return;
    conn.onClosed();
    connections.delete(conn);
    byPeer.delete(conn.peer);
    release(conn);
    conn.log.debug('connection closed');
    if (connections.size === 0) for (const resolve of onDrained) resolve();
  };

  const release = (conn: ClientConnection) => {
    if (conn.released) return;
    conn.released = true;
    counter.release(conn.source, conn.signedInAs);
  };

  /** Closes `conn` to make room for another, giving its slot back at once. */
  const dropForRoom = (conn: ClientConnection, why: string) => {
    conn.log.info({ user: conn.signedInAs?.user }, why);
    release(conn);
    if (conn.signedIn) conn.shutdown();
    else conn.socket.destroy();
  };

  /**
   * The connection not signed in that most likely never will: one that has
   * said nothing, then one that has not finished the key exchange, then the
   * one waiting longest. A real client gets through all three in well under
   * a second; a flood's connections stay in the first.
   */
  const unlikeliestPending = (): ClientConnection | undefined => {
    const pending = [...connections].filter((c) => !c.signedIn && !c.released);
    return pending.find((c) => !c.heardFrom) ?? pending.find((c) => !c.handshaken) ?? pending[0];
  };

  /** The signed-in connection (of `user`, or of any non-admin) that has been idle longest. */
  const longestIdle = (except: ClientConnection, user?: string): ClientConnection | undefined => {
    let found: ClientConnection | undefined;
    for (const c of connections) {
      if (c === except || c.released || !c.idle || c.signedInAs === undefined) continue;
      if (user === undefined ? c.signedInAs.admin : c.signedInAs.user !== user) continue;
      if (found === undefined || c.idleSince < found.idleSince) found = c;
    }
    return found;
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
    let slot = counter.acquire(source);
    const waiting = slot === 'unauthenticated' ? unlikeliestPending() : undefined;
    if (waiting !== undefined) {
      dropForRoom(waiting, 'dropped for a newer connection: too many not signed in');
      slot = counter.acquire(source);
    }
    if (slot !== 'ok') {
      log.warn(
        {
          remote,
          source,
          limit: slot === 'source' ? limits.maxUnauthenticatedPerSource : limits.maxUnauthenticated,
        },
        slot === 'source'
          ? 'connection refused: too many not signed in from this source'
          : 'connection refused: too many not signed in',
      );
      socket.destroy();
      return;
    }
    const id = randomBytes(4).toString('hex');
    const conn = new ClientConnection(
      id,
      socket,
      peerOf(socket.remoteAddress, socket.remotePort),
      source,
      log.child({ conn: id, remote }),
      limits,
    );
    connections.add(conn);
    byPeer.set(conn.peer, conn);
    socket.once('close', () => onSocketClosed(conn));
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
    conn.heardFrom = true;
    client.once('handshake', () => {
      conn.handshaken = true;
    });
    // Client-side errors (resets, garbage, keepalive timeouts) end the connection; nothing to raise.
    client.on('error', (e: Error) => conn.log.debug({ err: e.message }, 'connection error'));
    client.on('authentication', (ctx) => {
      conn.authenticate(ctx, options.store.users).catch((e: unknown) => {
        conn.log.error({ err: e }, 'authentication failed');
        ctx.reject(['publickey']);
      });
    });
    client.on('ready', () => {
      const actor = conn.actor;
      if (actor === undefined) return;
      const as = { user: actor.user, admin: isAdmin(actor) };
      let outcome = counter.signIn(conn.source, as.user, as.admin);
      // The user's own longest-idle connection makes room, else (the
      // non-admins' share full) anyone's but an admin's.
      const idle =
        outcome === 'user'
          ? longestIdle(conn, as.user)
          : outcome === 'others'
            ? longestIdle(conn)
            : undefined;
      if (idle !== undefined) {
        dropForRoom(
          idle,
          outcome === 'user'
            ? `closed for a newer connection of ${as.user}: at most ${limits.maxConnectionsPerUser} at once`
            : "closed for a newer connection: the users' share of connections is full",
        );
        outcome = counter.signIn(conn.source, as.user, as.admin);
      }
      if (outcome !== 'ok') {
        conn.log.warn(
          { limit: outcome === 'user' ? limits.maxConnectionsPerUser : limits.maxConnections },
          outcome === 'user'
            ? 'refused: every connection of this user runs a command'
            : "refused: the users' share of connections is full of running commands",
        );
        conn.shutdown();
        return;
      }
      conn.onSignedIn(as);
      conn.updateIdle(closing);
    });
    client.on('session', (acceptSession, reject) => {
      if (closing || conn.sessions >= limits.maxSessionsPerConnection) {
        reject();
        return;
      }
      if (conn.storeDown) {
        conn.sessions++;
        const session = acceptSession();
        session.once('close', () => conn.sessions--);
        sayStoreDown(session, conn.log);
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
          conn.updateIdle(closing);
        },
        ended: (command) => {
          conn.running.delete(command);
          conn.updateIdle(closing);
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

  return {
    listen(port, host, handle) {
      return new Promise((resolve, reject) => {
        const tcp = net.createServer({ noDelay: true }, accept);
        tcp.once('error', reject);
        const where = handle ? { handle } : { port, host, ipv6Only: host.includes(':') };
        tcp.listen(where, () => {
          tcp.off('error', reject);
          tcp.on('error', (e) => log.error({ err: e }, 'listener error'));
          listeners.push(tcp);
          const address = tcp.address();
          if (listenPort === 0 && address !== null && typeof address === 'object') {
            listenPort = address.port;
          }
          resolve(tcp);
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
        else conn.updateIdle(closing); // closes it now, or when its commands finish
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
          conn.shutdown();
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
