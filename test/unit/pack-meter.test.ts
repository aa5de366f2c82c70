// PackMeter counts the pack of a push as git's receive.maxInputSize does:
// the bytes after the client's commands and their flush-pkt, however the
// stream is cut into chunks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PackMeter } from '../../services/platform/git/push-quota.ts';

const pkt = (line: string) => `${(line.length + 4).toString(16).padStart(4, '0')}${line}`;
const ZERO = '0'.repeat(40);
const NEW = 'a'.repeat(40);
const commands =
  pkt(`${ZERO} ${NEW} refs/heads/main\0 report-status side-band-64k agent=git/2.39\n`) +
  pkt(`${ZERO} ${NEW} refs/heads/other\n`) +
  '0000';
const pack = Buffer.concat([Buffer.from('PACK\0\0\0\x02\0\0\0\x01'), Buffer.alloc(1000, 7)]);
const stream = Buffer.concat([Buffer.from(commands, 'latin1'), pack]);

const measure = (chunks: Buffer[]) => {
  const m = new PackMeter();
  for (const c of chunks) m.observe(c);
  return m.packBytes;
};

describe('PackMeter', () => {
  test('counts only the pack, in one chunk or byte by byte', () => {
    assert.equal(measure([stream]), pack.length);
    assert.equal(measure([...stream].map((b) => Buffer.from([b]))), pack.length);
    for (const cut of [1, 3, 4, 5, 60, commands.length - 1, commands.length, commands.length + 1]) {
      assert.equal(measure([stream.subarray(0, cut), stream.subarray(cut)]), pack.length, `${cut}`);
    }
  });

  test('a deletion sends no pack; what is not a pkt-line counts as pack', () => {
    assert.equal(measure([Buffer.from(`${pkt(`${NEW} ${ZERO} refs/heads/x\n`)}0000`)]), 0);
    assert.equal(measure([Buffer.from('zzzzPACK')]), 8);
    assert.equal(measure([Buffer.from('0002PACK')]), 8);
  });
});
