// The headers a client gets from a backend's response (proxy/headers.ts
// responseHeaders), built from the raw list Node.js keeps. router.test.ts
// checks the common cases through a real router; these are the corners of
// the raw list: any case, repeated names, names the Connection header lists.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { responseHeaders } from '../../proxy/headers.ts';

const ID = 'abcdefghijklmnopqrstuvwxyz';

/** Node.js' raw list (name, value, name, value, ...) from name-value pairs, one per line here. */
const raw = (...pairs: [string, string][]) => pairs.flat();

test('hop-by-hop headers and Transfer-Encoding are dropped in any case; the rest kept in order, as sent', () => {
  const sent = raw(
    ['Content-Type', 'text/plain'],
    ['CONNECTION', 'keep-alive'],
    ['Keep-Alive', 'timeout=5'],
    ['Transfer-Encoding', 'chunked'],
    ['TE', 'trailers'],
    ['Trailer', 'X-Sum'],
    ['Upgrade', 'h2c'],
    ['Proxy-Authenticate', 'Basic'],
    ['Set-Cookie', 'a=1'],
    ['set-cookie', 'b=2'],
    ['X-A-Header-Name-Longer-Than-32-Characters', 'kept'],
  );
  assert.deepEqual(
    responseHeaders(sent, ID, undefined),
    raw(
      ['Content-Type', 'text/plain'],
      ['Set-Cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['X-A-Header-Name-Longer-Than-32-Characters', 'kept'],
      ['X-Request-Id', ID],
    ),
  );
});

test('names the Connection header lists are dropped, wherever they come', () => {
  const sent = raw(
    ['X-Before', '1'],
    ['Connection', 'X-Before, close, x-after'],
    ['X-After', '2'],
    ['X-Kept', '3'],
  );
  assert.deepEqual(
    responseHeaders(sent, ID, undefined),
    raw(['X-Kept', '3'], ['X-Request-Id', ID]),
  );
});

test("a backend's own request id and HSTS policy win; otherwise the router's are added", () => {
  const hsts = 'max-age=60';
  assert.deepEqual(
    responseHeaders(raw(['x-request-id', 'mine']), ID, hsts),
    raw(['x-request-id', 'mine'], ['Strict-Transport-Security', hsts]),
  );
  assert.deepEqual(
    responseHeaders(raw(['Strict-Transport-Security', 'max-age=1']), ID, hsts),
    raw(['Strict-Transport-Security', 'max-age=1'], ['X-Request-Id', ID]),
  );
  assert.deepEqual(responseHeaders([], ID, undefined), raw(['X-Request-Id', ID]));
});
