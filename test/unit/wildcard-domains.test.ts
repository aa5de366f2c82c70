// Wildcard custom domains (*.example.com): which spellings are one, which
// are refused, and which app the router's table answers a host with: the
// exact domain first, else the wildcard one label above it, never deeper.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RouteTable } from '../../proxy/route-table.ts';
import { BerthError } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';

const refused = (f: () => unknown, why: RegExp) =>
  assert.throws(f, (e: unknown) => e instanceof BerthError && why.test(e.toLine()));

describe('validate.domainOrWildcard', () => {
  test('a wildcard is canonical as a domain is: case, trailing dot, IDNA', () => {
    assert.equal(validate.domainOrWildcard('*.Example.COM.'), '*.example.com');
    assert.equal(validate.domainOrWildcard('*.bücher.example'), '*.xn--bcher-kva.example');
    assert.equal(validate.domainOrWildcard('Shop.Example.com'), 'shop.example.com');
  });

  test('refused: a bare *, a whole top-level domain, * anywhere but the whole first label', () => {
    refused(() => validate.domainOrWildcard('*'), /letters, digits|wildcard/);
    refused(() => validate.domainOrWildcard('*.'), /empty|letters, digits/);
    refused(() => validate.domainOrWildcard('*.com'), /never a whole top-level domain/);
    refused(() => validate.domainOrWildcard('*.*.example.com'), /one leading "\*\."/);
    refused(() => validate.domainOrWildcard('a.*.example.com'), /wildcard|letters/);
    refused(() => validate.domainOrWildcard('a*.example.com'), /letters, digits/);
    refused(() => validate.domainOrWildcard('**.example.com'), /wildcard|letters/);
    refused(() => validate.domainOrWildcard('*.example.com\n'), /control|spaces/);
    refused(() => validate.domainOrWildcard('*.1.2.3.4'), /IP address/);
  });

  test('a plain domain (certificates, ACME, global domains) takes no wildcard', () => {
    refused(() => validate.domain('*.example.com'), /only as an app's custom domain/);
  });

  test('wildcardOf: the wildcard one label above a host, none for one or two labels', () => {
    assert.equal(validate.wildcardOf('a.example.com'), '*.example.com');
    assert.equal(validate.wildcardOf('a.b.example.com'), '*.b.example.com');
    assert.equal(validate.wildcardOf('example.com'), undefined);
    assert.equal(validate.wildcardOf('localhost'), undefined);
  });
});

describe('RouteTable with a wildcard', () => {
  const https = { httpsRedirect: true, hsts: false, hstsMaxAge: 0 };
  const table = new RouteTable('berth.test');
  table.set('catch', { release: 1, backends: ['127.0.0.1:1'], domains: ['*.example.com'], https });
  table.set('api', { release: 1, backends: ['127.0.0.1:2'], domains: ['api.example.com'], https });

  test('any single-label subdomain is the wildcard app; an exact domain wins', () => {
    assert.equal(table.lookup('shop.example.com')?.app, 'catch');
    assert.equal(table.lookup('x-1.example.com')?.app, 'catch');
    assert.equal(table.lookup('api.example.com')?.app, 'api');
    assert.equal(table.lookup('catch.berth.test')?.app, 'catch');
  });

  test('one label only, as a TLS wildcard matches: not deeper, not the apex', () => {
    assert.equal(table.lookup('a.shop.example.com'), undefined);
    assert.equal(table.lookup('example.com'), undefined);
    assert.equal(table.lookup('shop.example.org'), undefined);
  });

  test('certName: the name whose certificate serves a host', () => {
    assert.equal(table.certName('shop.example.com'), '*.example.com');
    assert.equal(table.certName('api.example.com'), 'api.example.com');
    assert.equal(table.certName('a.shop.example.com'), undefined);
  });

  test('the wildcard goes with its app', () => {
    const t = new RouteTable('berth.test');
    t.set('catch', { release: 1, backends: [], domains: ['*.example.com'], https });
    t.set('catch', undefined);
    assert.equal(t.lookup('shop.example.com'), undefined);
  });
});
