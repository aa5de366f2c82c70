// What the SSH server hands to whatever runs a client's exec request (a git
// service or a Berth command): who the client is, and the channel's streams.
import type { Actor } from '../core/actor.ts';
import type { ClientTerminal } from '../core/terminal.ts';

/** The client's terminal (ssh -t), as an SSH session offers it. */
export interface SshTerminal extends ClientTerminal {
  /**
   * Standard input cooked into lines as a terminal's line discipline does
   * (echo, erase, Enter, Ctrl-C interrupts the command, Ctrl-D ends input),
   * for Berth's own commands, which have no TTY on the server. A program
   * with a TTY of its own (run) reads the raw stdin instead.
   */
  cookedInput(): NodeJS.ReadableStream;
}

export interface SessionIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** The env requests the server accepted (only GIT_PROTOCOL). */
  env: Readonly<Record<string, string>>;
  /** Aborted when the client goes away (Ctrl-C, a dropped connection). */
  signal: AbortSignal;
  /** Present when the client asked for a terminal (ssh -t). */
  terminal?: SshTerminal;
}

/** Runs one exec request; resolves with the exit status sent to the client. */
export type ExecHandler = (
  actor: Extract<Actor, { kind: 'user' }>,
  command: string,
  io: SessionIo,
) => Promise<number>;
