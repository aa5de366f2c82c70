// What a terminal's line discipline would do for a client with ssh -t, for
// Berth's own commands, which run without a TTY on the server: the client's
// terminal is raw, so output needs "\r\n" and typing needs echo and editing.

import { Transform } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** "\n" as "\r\n" (a "\r\n" already there stays one). */
export const toCrlf = (chunk: Buffer): Buffer =>
  Buffer.from(chunk.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');

/**
 * Raw keystrokes in, lines out: printable characters are echoed, Backspace
 * erases one, Ctrl-U the line, Enter ends it, Ctrl-C calls `interrupt`,
 * Ctrl-D on an empty line ends the input. Other control bytes are dropped.
 */
export function cookLines(echo: (text: string) => void, interrupt: () => void): Transform {
  const decoder = new StringDecoder('utf8');
  let line = '';
  let ended = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      for (const ch of decoder.write(chunk)) {
        if (ended) break;
        if (ch === '\r' || ch === '\n') {
          echo('\r\n');
          this.push(`${line}\n`);
          line = '';
        } else if (ch === '\x7f' || ch === '\b') {
          if (line !== '') {
            line = [...line].slice(0, -1).join('');
            echo('\b \b');
          }
        } else if (ch === '\x15') {
          echo('\b \b'.repeat([...line].length));
          line = '';
        } else if (ch === '\x03') {
          echo('^C\r\n');
          interrupt();
        } else if (ch === '\x04') {
          if (line === '') {
            ended = true;
            this.push(null);
          }
        } else if (ch >= ' ') {
          line += ch;
          echo(ch);
        }
      }
      callback();
    },
    flush(callback) {
      if (!ended && line !== '') this.push(line);
      callback();
    },
  });
}
