// How the router's primary and its router processes talk: newline-delimited
// JSON over a unix socket in the data directory, not the IPC channel of a
// parent. A router process connects to whichever primary listens there now,
// so when the primary is killed its router processes keep serving, and the
// next primary adopts them as they reconnect (issue 16, item 12).
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import { type Config, configToEnv } from '../services/core/config.ts';
import { BerthError } from '../services/core/errors.ts';
import { CODE_ID, type EntryCommand } from '../services/core/runtime.ts';
import { VERSION } from '../services/core/version.ts';

/** What a router process tells the primary. */
export type WorkerMessage =
  /** On every (re)connection: who it is and what it runs. */
  | { type: 'hello'; pid: number; fingerprint: string }
  | { type: 'spawned'; id: number; pids: number[] }
  | { type: 'spawn-failed'; id: number; reason: string };

/** What the primary asks of a router process. */
export type PrimaryMessage =
  /**
   * Start `count` router processes that share this one's listening sockets,
   * running `worker` (the primary's own code: after `berth reload`, newer
   * than the code of the router process asked).
   */
  | {
      type: 'spawn';
      id: number;
      count: number;
      env: Record<string, string>;
      worker?: EntryCommand;
    }
  /**
   * Finish the requests in flight and exit. `handover`: other router
   * processes serve on, so first tell keep-alive clients to reconnect.
   */
  | { type: 'stop'; handover?: boolean };

/** What the spawner of a router process tells it over their IPC channel, once. */
export type SpawnMessage =
  /** Bind the HTTP and HTTPS ports yourself (nothing holds them). */
  | { type: 'bind' }
  /** Here is a listening socket a running router process shares (with the handle). */
  | { type: 'socket'; port: 'http' | 'https' };

/**
 * The control socket of the router on this data directory and HTTP port (two
 * routers may share a data directory in tests, never a port). Its folder is
 * the owner's alone: whoever reaches the socket can stop the router.
 */
export function controlSocketPath(config: Config): string {
  const dir = path.join(config.dataDir, 'run');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `router-${config.httpPort}.sock`);
  // sun_path holds 108 bytes on Linux, with the terminating NUL.
  if (Buffer.byteLength(file) > 107) {
    throw new BerthError('BERTH_E_SERVICE_FAILED', {
      service: 'router',
      reason: `the control socket ${file} is longer than the 107 bytes a unix socket path may have; choose a shorter BERTH_DATA_DIR`,
    });
  }
  return file;
}

/**
 * What a router process runs: its configuration and Berth's version. The
 * primary adopts router processes left by its predecessor only when theirs
 * equals its own; others are replaced.
 */
export function fingerprint(config: Config): string {
  return createHash('sha256')
    .update(JSON.stringify([VERSION, CODE_ID, configToEnv(config)]))
    .digest('hex')
    .slice(0, 16);
}

/** Calls `onMessage` for each JSON line on `socket`; a line that is not JSON ends the connection. */
export function readMessages<T>(socket: Socket, onMessage: (m: T) => void): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    // Bounded: the peer is Berth's own, but a stuck line must not grow forever.
    if (buffered.length > 64 * 1024) {
      socket.destroy();
      return;
    }
    let nl = buffered.indexOf('\n');
    while (nl !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let message: T;
      try {
        message = JSON.parse(line) as T;
      } catch {
        socket.destroy();
        return;
      }
      onMessage(message);
      nl = buffered.indexOf('\n');
    }
  });
}

export function sendMessage(socket: Socket, m: WorkerMessage | PrimaryMessage): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(m)}\n`);
}
