// One SSH session of an authenticated client: which requests it may make.
// exec runs the command; env passes GIT_PROTOCOL only; a pty (ssh -t) and
// its window changes are accepted and handed to the command as a Terminal;
// a shell gets one line saying what to do instead; x11, agent forwarding,
// signals and subsystems (sftp included) are refused.
import type ssh2 from 'ssh2';
import { BerthError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { makeTerminal, terminalSize } from '../core/terminal.ts';
import type { UserActor } from './auth.ts';
import { type RunningCommand, runOnChannel } from './exec-channel.ts';
import type { ExecHandler } from './exec-request.ts';
import type { SshLimits } from './limits.ts';

/** The one env request a client may make: git's protocol negotiation ("version=2"). */
const GIT_PROTOCOL = /^[A-Za-z0-9._=:-]{1,256}$/;

// Values of KEY=VALUE arguments (config:set APP SECRET=...) stay out of the log.
const redact = (command: string) =>
  command.replace(/(^|\s)([A-Za-z_][A-Za-z0-9_]*)=\S*/g, '$1$2=***');

/** The command as the log shows it: one line, JSON-escaped, bounded, KEY=VALUE values hidden. */
export const shownCommand = (command: string) =>
  JSON.stringify(command.length > 300 ? `${redact(command.slice(0, 300))}…` : redact(command));

export interface SessionContext {
  actor: UserActor;
  log: Logger;
  onExec: ExecHandler;
  limits: Pick<SshLimits, 'maxCommandLength'>;
  /** The port the server listens on, for the "no shell" hint. */
  port: () => number;
  started(command: RunningCommand): void;
  ended(command: RunningCommand): void;
}

export function handleSession(session: ssh2.Session, ctx: SessionContext): void {
  const { actor, log } = ctx;
  const env: Record<string, string> = {};
  let terminal: ReturnType<typeof makeTerminal> | undefined;
  const run = (channel: ssh2.ServerChannel, fn: Parameters<typeof runOnChannel>[1]) =>
    runOnChannel(
      { session, channel, env, log, started: ctx.started, ended: ctx.ended, terminal },
      fn,
    );

  // `reject` is undefined when the client asked for no reply (OpenSSH's env requests).
  session.on('env', (accept, reject, info) => {
    if (info.key === 'GIT_PROTOCOL' && GIT_PROTOCOL.test(info.val)) {
      env.GIT_PROTOCOL = info.val;
      accept?.();
    } else {
      reject?.();
    }
  });
  // Accepted for every command, since the reply cannot wait for the exec
  // request (some clients, ssh2's, send that only after it). No TTY is made
  // here: `run` gives its container one of this size, and Berth's own
  // commands get line ends and line editing for the client's raw terminal
  // (exec-channel.ts, exec.ts).
  session.on('pty', (accept, _reject, info) => {
    terminal = makeTerminal(info.term, terminalSize(info.rows, info.cols));
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    accept?.();
    terminal?.resize(terminalSize(info.rows, info.cols));
  });
  session.on('x11', (_accept, reject) => reject?.());
  session.on('auth-agent', (_accept, reject) => reject?.());
  session.on('signal', (_accept, reject) => reject?.());
  session.on('sftp', (_accept, reject) => {
    log.info({ subsystem: 'sftp' }, 'refused: subsystem');
    reject?.();
  });
  session.on('subsystem', (_accept, reject, info) => {
    log.info({ subsystem: JSON.stringify(info.name) }, 'refused: subsystem');
    reject?.();
  });

  // Accepted only to say, in one line, what to do instead: better than the
  // client's bare "shell request failed".
  session.on('shell', (accept) => {
    const channel = accept();
    if (channel === undefined) return;
    log.info('refused: shell');
    const error = new BerthError('BERTH_E_SSH_NO_SHELL', { port: ctx.port() });
    void run(channel, async (io) => {
      io.stderr.write(`berth: ${error.toLine()}\n`);
      return error.exitCode;
    });
  });

  session.on('exec', (accept, _reject, info) => {
    const channel = accept();
    if (channel === undefined) return;
    const command = info.command;
    const started = performance.now();
    log.info({ command: shownCommand(command) }, 'exec');
    void run(channel, async (io) => {
      let refusal: BerthError | undefined;
      if (command.length > ctx.limits.maxCommandLength) {
        refusal = new BerthError('BERTH_E_SSH_CMD_TOO_LONG', {
          length: command.length,
          max: ctx.limits.maxCommandLength,
        });
      }
      if (refusal !== undefined) {
        log.info({ reason: refusal.code }, 'exec refused');
        io.stderr.write(`berth: ${refusal.toLine()}\n`);
        return refusal.exitCode;
      }
      return ctx.onExec(actor, command, io);
    }).then((code) => {
      const ms = Math.round(performance.now() - started);
      log.info({ command: shownCommand(command), code, ms }, 'exec finished');
    });
  });
}

/**
 * A session on a connection let in while the store does not answer
 * (auth.ts): each command gets one line saying so, and nothing runs.
 */
export function sayStoreDown(session: ssh2.Session, log: Logger): void {
  const error = new BerthError('BERTH_E_SSH_STORE_DOWN');
  const answer = (channel: ssh2.ServerChannel | undefined) => {
    if (channel === undefined) return;
    log.info('refused: the store does not answer');
    channel.stderr.write(`berth: ${error.toLine()}\n`);
    channel.exit(error.exitCode);
    channel.end();
  };
  session.on('pty', (accept) => accept?.());
  session.on('env', (accept) => accept?.());
  session.on('exec', (accept) => answer(accept()));
  session.on('shell', (accept) => answer(accept()));
}
