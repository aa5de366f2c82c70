// Output from outside as bounded lines (services/core/lines.ts), and the
// Engine streams split through it (services/core/docker-exec.ts). The
// attack: one 40 MB line without a newline, which a splitter that joins the
// pending text to every chunk copies quadratically and hands over whole.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import Docker from 'dockerode';
import { MAX_COLLECTED, streamLines } from '../../services/core/docker-exec.ts';
import { cutMark, LineSplitter, MAX_LINE } from '../../services/core/lines.ts';

const CHUNK = 64 * 1024;

describe('LineSplitter', () => {
  test('lines across chunks, several in one chunk, CRLF, and the last without a newline', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('one\r\ntw'), ['one']);
    assert.deepEqual(s.push('o\nthree\nfo'), ['two', 'three']);
    assert.deepEqual(s.push('ur'), []);
    assert.deepEqual(s.end(), ['four']);
    assert.deepEqual(s.end(), []);
  });

  test('a 40 MB line without a newline comes out cut to MAX_LINE, saying how much was cut', () => {
    const s = new LineSplitter();
    const chunk = 'x'.repeat(CHUNK);
    const total = 40 * 1024 * 1024;
    const out: string[] = [];
    for (let sent = 0; sent < total; sent += CHUNK) out.push(...s.push(chunk));
    out.push(...s.push('\nnext\n'));
    assert.equal(out.length, 2);
    assert.equal(out[0], 'x'.repeat(MAX_LINE) + cutMark(total - MAX_LINE));
    assert.equal(out[1], 'next');
  });

  test('a long line ending at end of input is cut too', () => {
    const s = new LineSplitter(10);
    assert.deepEqual(s.push('abcdefghijklmnop'), []);
    assert.deepEqual(s.end(), [`abcdefghij${cutMark(6)}`]);
  });
});

/** An Engine stream of stdout frames (8-byte headers), as docker-modem demultiplexes it. */
function frames(parts: Buffer[]): PassThrough {
  const stream = new PassThrough();
  for (const p of parts) {
    const header = Buffer.alloc(8);
    header[0] = 1;
    header.writeUInt32BE(p.length, 4);
    stream.write(Buffer.concat([header, p]));
  }
  stream.end();
  return stream;
}

describe('streamLines', () => {
  test("a command's 40 MB of stdout: lines cut, and at most MAX_COLLECTED kept whole", async () => {
    const big = Buffer.alloc(CHUNK, 'y');
    const parts = Array.from({ length: (40 * 1024 * 1024) / CHUNK }, () => big);
    const lines: string[] = [];
    const collected: string[] = [];
    await streamLines(
      new Docker().modem,
      frames([Buffer.from('first\n'), ...parts, Buffer.from('\nlast\n')]),
      (l) => lines.push(l),
      collected,
    );
    assert.deepEqual(
      lines.map((l) => l.length),
      ['first'.length, MAX_LINE + cutMark(40 * 1024 * 1024 - MAX_LINE).length, 'last'.length],
    );
    assert.equal(collected.join('').length, MAX_COLLECTED);
    assert.ok(collected.join('').startsWith('first\nyyy'));
  });
});
