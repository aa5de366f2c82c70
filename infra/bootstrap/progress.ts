// Progress for the long first-start work (apt installs, the stack image):
// a line when a step starts, its output's latest line while it runs, and a
// line with the time it took when it ends. On a terminal the running line is
// redrawn in place; in a log (CI, a pipe) a line is printed every few seconds.
import type { Writable } from 'node:stream';

export interface Step {
  /** Shows a line of the step's own output as its latest activity. */
  update(line: string): void;
  done(summary?: string): void;
  fail(reason: string): void;
}

export interface Progress {
  step(title: string): Step;
  info(line: string): void;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function createProgress(
  out: Writable & { isTTY?: boolean; columns?: number } = process.stderr,
): Progress {
  const tty = out.isTTY === true;
  return {
    info(line) {
      out.write(`       ${line}\n`);
    },
    step(title) {
      const started = Date.now();
      let latest = '';
      let lastPrinted = 0;
      let ended = false;
      out.write(`-----> ${title}\n`);
      const ticker = setInterval(
        () => {
          if (tty) draw();
          else if (Date.now() - lastPrinted >= 10_000) {
            lastPrinted = Date.now();
            out.write(
              `       ... ${seconds(Date.now() - started)}${latest ? `: ${latest}` : ''}\n`,
            );
          }
        },
        tty ? 250 : 1000,
      );
      ticker.unref();
      function draw() {
        const width = (out.columns ?? 100) - 1;
        const text = `       [${seconds(Date.now() - started)}] ${latest}`;
        out.write(`\r\x1b[K${text.slice(0, width)}`);
      }
      function end(line: string) {
        if (ended) return;
        ended = true;
        clearInterval(ticker);
        if (tty) out.write('\r\x1b[K');
        out.write(`${line}\n`);
      }
      return {
        update(line) {
          const clean = line.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
          if (clean !== '') latest = clean;
        },
        done(summary) {
          end(`       done in ${seconds(Date.now() - started)}${summary ? `: ${summary}` : ''}`);
        },
        fail(reason) {
          end(`       FAILED after ${seconds(Date.now() - started)}: ${reason}`);
        },
      };
    },
  };
}

/** A Progress that prints nothing (for tests and quiet runs). */
export const silentProgress: Progress = {
  info() {},
  step: () => ({ update() {}, done() {}, fail() {} }),
};
