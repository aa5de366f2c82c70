// What the router sends a backend as the request-target (proxy/headers.ts
// originForm): the client's own, except that an absolute-form target
// becomes origin-form. The router sets it on every backend request because
// http-proxy 1.18.1 would merge repeated slashes; router.test.ts checks the
// whole path through a real router.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { originForm } from '../../proxy/headers.ts';

test('a path is sent exactly as the client sent it', () => {
  for (const url of [
    '/',
    '/a/b?c=d&e=f',
    '//evil.example/x',
    '/a//b///c',
    '/a/../b',
    '/a/%2e%2E/b',
    '/%41%zz?q=%20',
    '/a?',
    '/http://x',
  ]) {
    assert.equal(originForm(url), url);
  }
});

test('an absolute-form target becomes its path and query', () => {
  assert.equal(originForm('http://other.example/x//y?z=1'), '/x//y?z=1');
  assert.equal(originForm('HTTPS://other.example:8443/a'), '/a');
  assert.equal(originForm('http://other.example'), '/');
  assert.equal(originForm('http://other.example?q=1'), '/?q=1');
});

test('"*" stays "*"; nothing is "/"', () => {
  assert.equal(originForm('*'), '*');
  assert.equal(originForm(''), '/');
  assert.equal(originForm(undefined), '/');
});
