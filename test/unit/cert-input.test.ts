// certs:add's input reader (services/platform/certs/manual.ts, tar.ts) with archives
// built byte by byte: the tar variants GNU tar and bsdtar write, and hostile
// ones (paths that climb out, cut short, damaged headers); the switches' values.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BerthError } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';
import { readCertInput } from '../../services/platform/certs/manual.ts';
import { looksLikeTar, tarFiles } from '../../services/platform/certs/tar.ts';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';

/** One tar entry: a 512-byte header (ustar or GNU magic) and its padded content. */
function entry(
  name: string,
  content: string,
  o: { type?: string; prefix?: string; gnu?: boolean } = {},
): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write(`${Buffer.byteLength(content).toString(8).padStart(11, '0')}\0`, 124);
  header.write(o.type ?? '0', 156);
  if (o.gnu) header.write('ustar  \0', 257, 'latin1');
  else header.write('ustar\u000000', 257, 'latin1');
  if (o.prefix) header.write(o.prefix, 345, 155);
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const body = Buffer.alloc(Math.ceil(Buffer.byteLength(content) / 512) * 512);
  body.write(content);
  return Buffer.concat([header, body]);
}
const tar = (...entries: Buffer[]) => Buffer.concat([...entries, Buffer.alloc(1024)]);
const pax = (path: string) => {
  const record = ` path=${path}\n`;
  let length = record.length + 2;
  if (`${length}${record}`.length !== length) length++;
  return `${length}${record}`;
};

describe('tar archives', () => {
  test('ustar and GNU entries, "./" dropped, pax and GNU long names, later entries win', () => {
    const files = tarFiles(
      tar(
        entry('./server.crt', 'old'),
        entry('server.crt', 'new', { gnu: true }),
        entry('key', 'k', { prefix: 'dir' }),
        entry('PaxHeader', pax('long/name.txt'), { type: 'x' }),
        entry('short', 'pax'),
        entry('././@LongLink', 'gnu/long.txt\0', { type: 'L', gnu: true }),
        entry('gnu/lo', 'gnu', { gnu: true }),
        entry('adir/', '', { type: '5' }),
        entry('link', '', { type: '2' }),
      ),
    );
    assert.deepEqual(Object.fromEntries([...files].map(([k, v]) => [k, v.toString()])), {
      'server.crt': 'new',
      'dir/key': 'k',
      'long/name.txt': 'pax',
      'gnu/long.txt': 'gnu',
    });
  });

  test('a server.crt elsewhere than the top is not taken, whatever its path says', () => {
    for (const name of ['../server.crt', '/server.crt', 'sub/server.crt']) {
      const input = tar(entry(name, CERT), entry('server.key', KEY));
      assert.throws(
        () => readCertInput(input),
        (e: unknown) =>
          e instanceof BerthError &&
          e.code === 'BERTH_E_CERT_INPUT' &&
          e.message.includes('needs server.crt and server.key'),
        name,
      );
    }
    const pair = readCertInput(tar(entry('server.key', KEY), entry('./server.crt', CERT)));
    assert.equal(pair.chain, CERT);
    assert.equal(pair.key, KEY);
  });

  test('damaged and cut-short archives are refused with the reason', () => {
    const whole = tar(entry('server.crt', CERT), entry('server.key', KEY));
    const damaged = Buffer.from(whole);
    damaged[600] = 0x41; // inside the certificate: content is not checked
    damaged[1024 + 1] = 0x41; // the second header's name
    assert.throws(() => tarFiles(damaged), /damaged tar header at byte 1024/);
    assert.throws(() => tarFiles(whole.subarray(0, 540)), /cut short/);
    assert.equal(looksLikeTar(Buffer.alloc(511)), false);
    assert.equal(looksLikeTar(Buffer.alloc(512, 0x20)), false);
    assert.throws(() => readCertInput(Buffer.alloc(2048)), /neither PEM text nor a tar/);
  });
});

describe('PEM bundles', () => {
  test('chain and key in any order; CRLF line ends', () => {
    const pair = readCertInput(Buffer.from(`junk\n${KEY}${CERT}${CERT}`.replace(/\n/g, '\r\n')));
    assert.equal(pair.chain.match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.match(pair.key, /BEGIN PRIVATE KEY/);
  });
});

describe('certs:set values', () => {
  test('switches and max-age', () => {
    assert.equal(validate.onOff('on'), true);
    assert.equal(validate.onOff('FALSE'), false);
    assert.throws(() => validate.onOff('yes\n'), /invalid switch "yes\\n"/);
    assert.equal(validate.hstsMaxAge('0'), 0);
    assert.equal(validate.hstsMaxAge('63072000'), 63_072_000);
    for (const bad of ['', '-1', '01', '1e3', '63072001', ' 5']) {
      assert.throws(() => validate.hstsMaxAge(bad), /invalid HSTS max-age/, bad);
    }
  });
});
