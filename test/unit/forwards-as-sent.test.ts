// The router's shortcut past http-proxy-3's URL parse (proxy/headers.ts
// forwardsAsSent) must only take targets that the parse gives back unchanged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forwardsAsSent } from '../../proxy/headers.ts';

/** What http-proxy-3 1.23.3 forwards (common.js getPath) for a request-target. */
function parsedPath(url: string): string {
  const u = new URL(
    url.startsWith('//') ? `http://base.invalid${url}` : url,
    'http://base.invalid',
  );
  return `${u.pathname}${u.search}`;
}

const TARGETS = [
  '/',
  '/a/b?c=d&e=f',
  '/api/v1/items;x=1,2:3@4!$&()*+',
  '/%41%zz?q=%20',
  '/~user/file.tar.gz?x=.y',
  '/a/../b',
  '/a/./b',
  '/a/.',
  '/a/%2e%2E/b',
  '/a/%2E/b',
  '/a\\b',
  '/a b',
  '/a?b c',
  "/a?b'c",
  '/a?',
  '/a#frag',
  '/a?b#frag',
  '//evil.example/x',
  '/a/<b>/"c"/`d`/{e}/^f|g',
  '/é',
  'http://other.example/x',
  '*',
  '',
];

test('forwardsAsSent takes only targets the URL parse leaves unchanged', () => {
  for (const url of TARGETS) {
    if (forwardsAsSent(url)) assert.equal(parsedPath(url), url, url);
  }
  assert.ok(forwardsAsSent('/'));
  assert.ok(forwardsAsSent('/a/b?c=d&e=f'));
  assert.ok(!forwardsAsSent('/a/../b'));
  assert.ok(!forwardsAsSent('http://other.example/x'));
  assert.ok(!forwardsAsSent(undefined));
});
