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
import { ClientConnection } from './connection.ts';
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
    // Client-side errors (resets, garbage, keepalive timeouts) end the connection; nothing to raise.
    client.on('error', (e: Error) => conn.log.debug({ err: e.message }, 'connection error'));
    client.on('authentication', (ctx) => {
      conn.authenticate(ctx, options.store.users).catch((e: unknown) => {
        conn.log.error({ err: e }, 'authentication failed');
        ctx.reject(['publickey']);
      });
    });
    client.on('ready', () => {
      conn.onSignedIn();
      counter.authenticated(conn.source);
      conn.updateIdle(closing);
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
