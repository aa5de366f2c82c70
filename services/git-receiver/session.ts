// What the SSH server hands to whatever runs a client's exec request (a git
// service or a Berth command): who the client is, and the channel's streams.
import type { Actor } from '../core/actor.ts';

export interface SessionIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** The env requests the server accepted (only GIT_PROTOCOL). */
  env: Readonly<Record<string, string>>;
  /** Aborted when the client goes away (Ctrl-C, a dropped connection). */
  signal: AbortSignal;
}

/** Runs one exec request; resolves with the exit status sent to the client. */
export type ExecHandler = (
  actor: Extract<Actor, { kind: 'user' }>,
  command: string,
  io: SessionIo,
) => Promise<number>;
