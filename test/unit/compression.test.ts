// Which encoding the web service answers with, from a request's Accept-Encoding (RFC 9110 12.5.3).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseEncoding } from '../../services/web/compression.ts';

test('brotli when taken, else gzip; q=0 refuses; nothing asked, nothing compressed', () => {
  const cases: [string | undefined, 'br' | 'gzip' | undefined][] = [
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip', 'gzip'],
    ['GZIP;Q=1', 'gzip'],
    ['br;q=0, gzip;q=0.5', 'gzip'],
    ['br;q=0.5, gzip', 'gzip'],
    ['*', 'br'],
    ['*;q=0', undefined],
    ['identity', undefined],
    ['deflate', undefined],
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [header, expected] of cases) assert.equal(chooseEncoding(header), expected, header);
});
