// Listening sockets a service hands to its replacement (`berth reload`), so
// that a port is never closed while the new process starts: the new process
// asks its supervisor for each socket before it listens; the supervisor asks
// the process being replaced, which sends it over its IPC channel; the new
// process then accepts on the same kernel socket beside the old one until
// the old one stops. With no predecessor (every ordinary start), the answer
// is "bind": the service binds the port itself.
//
// The socket travels as the server's raw handle (`server._handle`), not as
// the net.Server: Node.js turns a received net.Server back into a listening
// server in every process it passes through, and the supervisor would
// accept connections on it that nobody serves. A raw handle is only passed.
import type net from 'node:net';

/** What a service and its supervisor say about listening sockets (over the IPC channel). */
export type HandoverMessage =
  /** New process to supervisor: the socket named `key`, if a predecessor has it. */
  | { type: 'want-socket'; key: string }
  /** Supervisor to the process being replaced: send the socket named `key`. */
  | { type: 'give-socket'; key: string }
  /** Either way: here it is (with the handle). */
  | { type: 'socket'; key: string }
  /** Either way: there is none; bind the port yourself. */
  | { type: 'no-socket'; key: string };

/** The predecessor did not answer in time: the new process binds (and fails if the port is held). */
const ASK_LIMIT_MS = 10_000;

const offered = new Map<string, net.Server>();
let answering = false;

/**
 * The listening socket named `key` that the process this one replaces
 * holds, or undefined: then bind the port. Without a supervisor (a test
 * starting a service directly) there is none.
 */
export function inheritedSocket(key: string): Promise<object | undefined> {
  const send = process.send?.bind(process);
  if (send === undefined || !process.connected) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const done = (handle: object | undefined) => {
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(handle);
    };
    const onMessage = (m: HandoverMessage, handle: unknown) => {
      if (m?.key !== key) return;
      if (m.type === 'socket' && typeof handle === 'object' && handle !== null) done(handle);
      else if (m.type === 'no-socket' || m.type === 'socket') done(undefined);
    };
    const timer = setTimeout(() => done(undefined), ASK_LIMIT_MS);
    process.on('message', onMessage);
    send({ type: 'want-socket', key } satisfies HandoverMessage);
  });
}

/** Lets a replacement have `server`'s listening socket under `key`, when the supervisor asks. */
export function offerSocket(key: string, server: net.Server): void {
  offered.set(key, server);
  if (answering || process.send === undefined) return;
  answering = true;
  const onMessage = (m: HandoverMessage) => {
    if (m?.type !== 'give-socket') return;
    const server = offered.get(m.key);
    // Internal but stable since Node.js 0.x: what child_process itself sends for a net.Server.
    const handle = (server as unknown as { _handle?: object } | undefined)?._handle;
    if (server?.listening && handle) {
      process.send?.({ type: 'socket', key: m.key } satisfies HandoverMessage, handle as never);
    } else process.send?.({ type: 'no-socket', key: m.key } satisfies HandoverMessage);
  };
  process.on('message', onMessage);
}
