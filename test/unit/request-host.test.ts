// The request side of proxy/headers.ts around Host: a repeated Host found in
// Node.js' raw list in any spelling (RFC 9112 3.2), and a Connection header
// that cannot strip it. router.test.ts sends them through a real router.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import { repeatedHost, stripHopByHop } from '../../proxy/headers.ts';

test('a repeated Host is found in any case; one Host, or names of four letters that are not Host, are not', () => {
  assert.equal(repeatedHost(['Host', 'a', 'Accept', '*/*']), false);
  assert.equal(repeatedHost(['Date', 'x', 'host', 'a', 'Vary', 'y', 'HoSt', 'a']), true);
  assert.equal(repeatedHost(['Host', 'a', 'X-Host', 'b', 'Hosts', 'c', 'Hos', 'd']), false);
  assert.equal(repeatedHost(['HOST', 'a', 'host', '']), true, 'an empty second one too');
  assert.equal(repeatedHost([]), false);
});

test('Connection cannot strip Host; it strips the other names it lists', () => {
  const headers: IncomingHttpHeaders = {
    host: 'shop.berth.test',
    connection: 'close, HOST , x-gone',
    'x-gone': '1',
    'x-kept': '2',
  };
  stripHopByHop(headers);
  assert.deepEqual(headers, { host: 'shop.berth.test', 'x-kept': '2' });
});
