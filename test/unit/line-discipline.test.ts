// The line discipline Berth's own commands get under ssh -t: what a raw
// terminal's keystrokes become, and what the client sees echoed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cookLines, toCrlf } from '../../services/ssh/line-discipline.ts';

async function cook(keys: (string | Buffer)[]) {
  let echoed = '';
  let interrupts = 0;
  const t = cookLines(
    (text) => {
      echoed += text;
    },
    () => {
      interrupts++;
    },
  );
  let out = '';
  t.on('data', (d) => {
    out += d;
  });
  const ended = new Promise((resolve) => t.on('end', resolve));
  for (const k of keys) t.write(typeof k === 'string' ? Buffer.from(k) : k);
  t.end();
  await ended;
  return { out, echoed, interrupts };
}

test('typing is echoed, Enter ends a line, Backspace and Ctrl-U erase', async () => {
  const r = await cook(['yez', '\x7f', 's\r', 'no\x15app\r']);
  assert.equal(r.out, 'yes\napp\n');
  assert.equal(r.echoed, 'yez\b \bs\r\nno\b \b\b \bapp\r\n');
});

test('Ctrl-C interrupts, Ctrl-D on an empty line ends the input, control bytes are dropped', async () => {
  const r = await cook(['a\x1b\x03b\r', '\x04', 'after\r']);
  assert.equal(r.out, 'ab\n', 'nothing after Ctrl-D');
  assert.equal(r.interrupts, 1);
  assert.match(r.echoed, /\^C\r\n/);
});

test('a character split across chunks arrives whole; output lines end \\r\\n', async () => {
  const e = Buffer.from('é\r');
  const r = await cook([e.subarray(0, 1), e.subarray(1)]);
  assert.equal(r.out, 'é\n');
  assert.equal(r.echoed, 'é\r\n');
  assert.equal(toCrlf(Buffer.from('a\nb\r\nc')).toString(), 'a\r\nb\r\nc');
});
