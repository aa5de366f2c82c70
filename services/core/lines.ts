// Output from outside (a build, a container, a command in it) as lines,
// bounded: a line longer than MAX_LINE is cut, with the cut said at its end,
// and what a cut line goes on to send is counted, not kept. Linear in what
// comes: a 40 MB line without a newline costs one pass over it, not one
// copy of everything so far for every chunk (joining the pending text to
// each chunk, as a naive splitter does, is quadratic).

/**
 * The longest line kept, in characters: Heroku's log router cuts lines at
 * 10,000 bytes too. Longer ones are cut to this, and end with CUT_MARK.
 */
export const MAX_LINE = 10_000;

/** What ends a line that was cut: `… (N characters not shown)`. */
export const cutMark = (dropped: number) => ` … (${dropped} characters not shown)`;

export class LineSplitter {
  private pending: string[] = [];
  private pendingLength = 0;
  private dropped = 0;

  constructor(private readonly maxLine = MAX_LINE) {}

  /** The lines `chunk` completes, without their newline (and a `\r` before it). */
  push(chunk: string): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
      this.keep(chunk.slice(start, nl));
      lines.push(this.take());
      start = nl + 1;
    }
    if (start < chunk.length) this.keep(chunk.slice(start));
    return lines;
  }

  /** What is left without a final newline: at most one line. */
  end(): string[] {
    return this.pendingLength + this.dropped === 0 ? [] : [this.take()];
  }

  private keep(part: string): void {
    const room = this.maxLine - this.pendingLength;
    if (part.length <= room) {
      this.pending.push(part);
      this.pendingLength += part.length;
      return;
    }
    if (room > 0) this.pending.push(part.slice(0, room));
    this.pendingLength = this.maxLine;
    this.dropped += part.length - Math.max(0, room);
  }

  private take(): string {
    let line = this.pending.length === 1 ? (this.pending[0] as string) : this.pending.join('');
    if (this.dropped === 0 && line.endsWith('\r')) line = line.slice(0, -1);
    if (this.dropped > 0) line += cutMark(this.dropped);
    this.pending = [];
    this.pendingLength = 0;
    this.dropped = 0;
    return line;
  }
}
