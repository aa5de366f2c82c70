// Running one command on an accepted ssh2 channel: the streams and an abort
// signal in, the exit status out, then EOF and CLOSE.
//
// The handler writes to ChannelWriters, not to the channel itself, because:
// - ending one (child.stdout.pipe(io.stdout) does) must not end the channel:
//   ssh2 sends EOF and CLOSE the moment the channel's writable side finishes,
//   and an exit status sent after that never reaches the client (it would see
//   no status at all, and OpenSSH exits 255);
// - ssh2 never calls a write's callback once the channel is closed, so a
//   handler writing to a client that went away would wait forever. After
//   release(), writes are dropped and a pending callback is called.
// With a terminal (ssh -t) the client's side is raw: Berth's own output gets
// "\r\n" line ends, and a command may cook stdin into lines (line-discipline.ts).
import { randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import type ssh2 from 'ssh2';
import { BerthError, isBerthError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Terminal } from '../core/terminal.ts';
import type { SessionIo, SshTerminal } from './exec-request.ts';
import { cookLines, toCrlf } from './line-discipline.ts';

export class ChannelWriter extends Writable {
  private pending: (() => void) | undefined;
  private released = false;

  constructor(
    private readonly target: NodeJS.WritableStream,
    /** Lines end "\r\n" (for a client's raw terminal). */
    private readonly crlf = false,
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (e?: Error) => void): void {
    if (this.released) {
      callback();
      return;
    }
    const done = () => {
      if (this.pending !== done) return;
      this.pending = undefined;
      callback();
    };
    this.pending = done;
    if (this.crlf) chunk = toCrlf(chunk);
    // An error here means the channel is gone: the data has nowhere to go.
    this.target.write(chunk, () => done());
  }

  override _final(callback: (e?: Error) => void): void {
    // The channel stays open: runOnChannel sends the exit status, then closes it.
    callback();
  }

  /** The client went away: drop what is written from now on, and unblock a pending write. */
  release(): void {
    this.released = true;
    this.pending?.();
  }

  /** Resolves once everything written so far reached the channel (or was dropped). */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      if (this.writableFinished || this.destroyed) return resolve();
      this.once('error', () => resolve());
      this.end(() => resolve());
    });
  }
}

/** How long to wait for the client to answer our CLOSE before calling the command ended. */
const CLOSE_ANSWER_MS = 2000;

/** A command while it runs, as the connection that carries it sees it. */
export interface RunningCommand {
  /** Aborted when the client goes away, or when the server stops waiting for the command. */
  controller: AbortController;
  /** The client is gone: drop output, unblock writes, abort. */
  gone: () => void;
}

export interface ChannelRun {
  session: ssh2.Session;
  channel: ssh2.ServerChannel;
  /** The env requests the session accepted. */
  env: Readonly<Record<string, string>>;
  /** The pty the session accepted (ssh -t), if any. */
  terminal?: Terminal;
  log: Logger;
  /** Called when the command starts and when it has ended (status sent or client gone). */
  started(command: RunningCommand): void;
  ended(command: RunningCommand): void;
}

/**
 * Runs `run` with the channel's streams. Its status goes to the client; an
 * exception becomes one line on stderr (a BerthError's own line and exit
 * code; anything else "internal error (id)", status 1, details in the log).
 * Everything written reaches the client before the status. Ctrl-C typed
 * into cooked input aborts the command and makes the status 130. Never
 * rejects; resolves with the status.
 */
export async function runOnChannel(
  o: ChannelRun,
  run: (io: SessionIo & { stdout: ChannelWriter; stderr: ChannelWriter }) => Promise<number>,
): Promise<number> {
  const { session, channel } = o;
  const controller = new AbortController();
  // The handler reads its own stream, not the channel: a `for await` over a
  // stream destroys it at the end, and destroying the channel would close it
  // before the exit status is sent (the client then sees no status, exit 255).
  const stdin = channel.pipe(new PassThrough());
  const stdout = new ChannelWriter(channel, o.terminal !== undefined);
  const stderr = new ChannelWriter(channel.stderr, o.terminal !== undefined);
  const raw = o.terminal && new ChannelWriter(channel);
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
    controller.abort(new Error('interrupted (Ctrl-C)'));
  };
  const base = o.terminal;
  const terminal: SshTerminal | undefined = base &&
    raw && {
      term: base.term,
      get size() {
        return base.size;
      },
      onResize: (listener) => base.onResize(listener),
      output: raw,
      cookedInput: () => stdin.pipe(cookLines((text) => stdout.write(text), interrupt)),
    };
  let clientGone = false;
  // The session's 'close' comes with the client's CHANNEL_CLOSE; the channel's
  // own 'close' waits until stdin is read to its end, which a handler may never do.
  const gone = () => {
    if (clientGone) return;
    clientGone = true;
    stdout.release();
    stderr.release();
    raw?.release();
    controller.abort(new Error('the client went away'));
  };
  const command: RunningCommand = { controller, gone };
  channel.on('error', () => undefined);
  channel.stderr.on('error', () => undefined);
  session.once('close', gone);
  o.started(command);
  let code: number;
  try {
    code = await run({
      stdin,
      stdout,
      stderr,
      env: Object.freeze({ ...o.env }),
      signal: controller.signal,
      ...(terminal ? { terminal } : {}),
    });
    if (!Number.isInteger(code) || code < 0 || code > 255) {
      o.log.error({ code }, 'exec handler resolved with an invalid exit status');
      code = 1;
    }
  } catch (e) {
    if (interrupted) {
      code = 130;
    } else if (isBerthError(e)) {
      code = e.exitCode;
      stderr.write(`berth: ${e.toLine()}\n`);
    } else {
      const id = randomBytes(4).toString('hex');
      o.log.error({ err: e, errorId: id }, 'exec handler failed');
      code = 1;
      stderr.write(`berth: ${new BerthError('BERTH_E_INTERNAL', { id }).toLine()}\n`);
    }
  }
  try {
    if (interrupted) code = 130;
    await Promise.all([stdout.flush(), stderr.flush(), raw?.flush()]);
    // Done: the client's CLOSE from here on is an answer, not a Ctrl-C.
    session.off('close', gone);
    if (!clientGone && channel.writable) {
      // Wait for that answer, so that a connection closed right after this
      // (server shutdown, idle) does not cut the status off on its way.
      const answered = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_ANSWER_MS);
        session.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      channel.exit(code);
      channel.end();
      await answered;
    }
  } catch (e) {
    o.log.debug({ err: e }, 'closing the channel failed');
  } finally {
    session.off('close', gone);
    o.ended(command);
  }
  return code;
}
