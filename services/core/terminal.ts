// A terminal the client asked for (ssh -t, or the local `berth` on a TTY):
// its type and size now, and its resizes. The SSH session and the local CLI
// make one; `run` hands it to the container's TTY.

export interface TerminalSize {
  rows: number;
  cols: number;
}

export interface Terminal {
  /** $TERM as the client sent it (validated), e.g. "xterm-256color". */
  term: string;
  size: TerminalSize;
  /** Calls `listener` on every resize from now on; returns the unsubscribe. */
  onResize(listener: (size: TerminalSize) => void): () => void;
}

/** A $TERM value Berth passes on: a terminfo name, else "xterm". */
export const termName = (value: string | undefined): string =>
  value !== undefined && /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/.test(value) ? value : 'xterm';

/** Rows and columns a client reports, clamped to what a terminal can be (0: unknown). */
export const terminalSize = (rows: number, cols: number): TerminalSize => {
  const clamp = (n: number) => (Number.isSafeInteger(n) && n > 0 ? Math.min(n, 10_000) : 0);
  return { rows: clamp(rows), cols: clamp(cols) };
};

/** A Terminal whose size the owner changes with resize(). */
export function makeTerminal(term: string | undefined, size: TerminalSize) {
  const listeners = new Set<(size: TerminalSize) => void>();
  const terminal: Terminal & { resize(size: TerminalSize): void } = {
    term: termName(term),
    size,
    onResize(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    resize(next) {
      terminal.size = next;
      for (const l of listeners) l(next);
    },
  };
  return terminal;
}

/** A terminal client as a command sees it. */
export interface ClientTerminal extends Terminal {
  /**
   * The terminal's output as is, for a program with a TTY of its own (`run`):
   * the command's stdout and stderr end lines with "\r\n" for the client's raw
   * terminal, which a TTY does by itself.
   */
  output: NodeJS.WritableStream;
}
