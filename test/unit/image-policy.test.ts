// What the image policy reads from a Dockerfile and a reference, without the
// Engine: the uses it must see (a use it misses is an image it never checks),
// Docker's normalization, the patterns and the internal addresses.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} here is Dockerfile text, not JavaScript
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeDockerfile } from '../../services/platform/build/dockerfile-syntax.ts';
import {
  checkFetchHost,
  isInternalAddress,
  matchesPattern,
  normalizeImage,
} from '../../services/platform/build/image-policy.ts';

const uses = (text: string, args: Record<string, string> = {}) =>
  describeDockerfile(text, args).uses.map((u) => `${u.kind} ${u.ref ?? `?${u.text}`}`);

describe('the images and URLs a Dockerfile uses', () => {
  test('FROM, COPY --from and ADD URLs; not stages, scratch or local paths', () => {
    const text = [
      '# escape=`',
      'FROM --platform=linux/amd64 node:20 AS Build',
      'COPY --from=build /a /b',
      'COPY --from=0 /a /b',
      'copy --chown=1:1 --from=berth/other:latest /s /s',
      'FROM scratch',
      'COPY --from=1 /x /y',
      'ADD ["https://example.com/a.tgz", "local.txt", "/dst/"]',
      'ADD --chown=1 files/ /srv/',
      'from `',
      '  build',
    ].join('\n');
    // A stage's own index is no earlier stage: the Engine would read it as an image (by id).
    assert.deepEqual(uses(text), [
      'FROM node:20',
      'COPY --from 0',
      'COPY --from berth/other:latest',
      'COPY --from 1',
      'ADD https://example.com/a.tgz',
    ]);
  });

  test('build args replace the defaults of ARGs before the first FROM, as the Engine does', () => {
    const text = 'ARG BASE=debian:bookworm-slim\nFROM $BASE\nARG LATER=x\nFROM ${LATER}\n';
    assert.deepEqual(uses(text), ['FROM debian:bookworm-slim', 'FROM ?${LATER}']);
    assert.deepEqual(uses(text, { BASE: 'berth/other:1' }), [
      'FROM berth/other:1',
      'FROM ?${LATER}',
    ]);
    // Declared without a default and not passed: no value.
    assert.deepEqual(uses('ARG B\nFROM $B\n'), ['FROM ?$B']);
  });

  test('a value the policy cannot know is marked unknown, never guessed', () => {
    assert.deepEqual(
      uses('FROM ${X:-berth/other}\nCOPY --from=$Y /a /b\nADD ${URL} /d\nADD htt$P /e\n'),
      ['FROM ?${X:-berth/other}', 'COPY --from ?$Y', 'ADD ?${URL}', 'ADD ?htt$P'],
    );
  });
});

describe('image references', () => {
  test('normalized as the Engine reads them', () => {
    assert.equal(normalizeImage('node').full, 'docker.io/library/node:latest');
    assert.equal(normalizeImage('berth/app:v1').full, 'docker.io/berth/app:v1');
    assert.equal(normalizeImage('localhost/x').registry, 'localhost');
    assert.equal(normalizeImage('127.0.0.1:5000/x:1').full, '127.0.0.1:5000/x:1');
    assert.equal(
      normalizeImage(`ghcr.io/a/b@sha256:${'a'.repeat(64)}`).full,
      `ghcr.io/a/b@sha256:${'a'.repeat(64)}`,
    );
  });

  test('patterns: * is any run of characters, everything else literal', () => {
    assert.ok(matchesPattern('docker.io/library/*', 'docker.io/library/node:20'));
    assert.ok(!matchesPattern('docker.io/library/*', 'docker.io/berth/app:1'));
    assert.ok(!matchesPattern('ghcr.io/a.b/*', 'ghcr.io/aXb/c:1'));
    assert.ok(matchesPattern('*', 'registry.example.com:5000/x:1'));
  });

  test('loopback, link-local, private and reserved addresses are internal', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
    ]) {
      assert.ok(isInternalAddress(a), a);
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:1.1.1.1']) {
      assert.ok(!isInternalAddress(a), a);
    }
  });

  test('a host is refused by what it resolves to, and when it resolves to nothing', async () => {
    const resolve = async (host: string) =>
      ({ 'reg.example': ['203.0.113.5'], 'rebind.example': ['203.0.113.5', '10.0.0.1'] })[host] ??
      [];
    await checkFetchHost('reg.example', 'x', resolve);
    await assert.rejects(checkFetchHost('rebind.example', 'x', resolve), /resolves to 10\.0\.0\.1/);
    await assert.rejects(checkFetchHost('nowhere.example', 'x', resolve), /does not resolve/);
    await assert.rejects(checkFetchHost('[::1]', 'x', resolve), /address of this machine/);
    await assert.rejects(checkFetchHost('a.localhost', 'x', resolve), /is this machine/);
  });
});
