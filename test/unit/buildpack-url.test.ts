// The rule for third-party buildpack URLs (validate.buildpackUrl): what a
// tenant may name in .buildpacks or buildpacks:add, with hostile input.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BerthError } from '../../services/core/errors.ts';
import {
  buildpack,
  buildpackUrl,
  buildpackUrlPrefix,
  isPublicAddress,
  PUBLIC_HTTPS,
} from '../../services/core/validate.ts';
import { parseBuildpacksFile } from '../../services/platform/build/detect.ts';

const DEFAULT = [PUBLIC_HTTPS];
const refused = (value: string, allowed: readonly string[], reason: RegExp) =>
  assert.throws(
    () => buildpackUrl(value, allowed),
    (e: unknown) =>
      e instanceof BerthError && e.code === 'BERTH_E_INVALID_NAME' && reason.test(e.message),
    value,
  );

describe('buildpackUrl', () => {
  test('a public https git URL, with or without #ref', () => {
    assert.deepEqual(
      buildpackUrl('https://github.com/heroku/heroku-buildpack-go.git#v1', DEFAULT),
      {
        url: 'https://github.com/heroku/heroku-buildpack-go.git',
        ref: 'v1',
        operatorAllowed: false,
        host: 'github.com',
        port: 443,
      },
    );
    assert.equal(buildpackUrl('https://GitLab.com/a/b', DEFAULT).url, 'https://gitlab.com/a/b');
    assert.equal(buildpackUrl('https://93.184.216.34:8443/b.git', DEFAULT).port, 8443);
  });

  test('no other protocol, no path on the server, no credentials, no ref that is an option', () => {
    refused('http://github.com/a/b.git', DEFAULT, /use an https:\/\/ URL/);
    refused('git://github.com/a/b.git', DEFAULT, /use an https:\/\/ URL/);
    refused('ssh://git@github.com/a/b.git', DEFAULT, /user or password/);
    refused('file:///etc/passwd', DEFAULT, /use an https:\/\/ URL/);
    refused('ext::sh -c touch% /tmp/pwned', DEFAULT, /use a git URL/);
    refused('/var/lib/berth/repos/other.git', DEFAULT, /use a git URL/);
    refused('https://user:token@github.com/a/b.git', DEFAULT, /user or password/);
    refused('https://github.com/a/b.git#--upload-pack=touch', DEFAULT, /branch or tag/);
    refused('https://github.com/a/b.git#../../x', DEFAULT, /branch or tag/);
    refused('https://github.com/a/b.git?x=1', DEFAULT, /"\?"/);
    refused('https://github.com/a b.git', DEFAULT, /use a git URL/);
  });

  test('no address of the server or its networks, written any way', () => {
    for (const host of [
      '127.0.0.1',
      '127.1',
      '0x7f000001',
      '2130706433',
      '10.0.0.5',
      '172.17.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '[::1]',
      '[::ffff:127.0.0.1]',
      '[fd00::1]',
      '[fe80::1]',
    ]) {
      refused(`https://${host}/b.git`, DEFAULT, /an address of this server or its networks/);
    }
  });

  test("the operator's prefixes let in their URLs (http, file, private addresses), and only those", () => {
    const allowed = [PUBLIC_HTTPS, 'http://127.0.0.1:9418/', 'https://git.example.com/'];
    assert.equal(buildpackUrl('http://127.0.0.1:9418/bp.git#v1', allowed).operatorAllowed, true);
    refused(
      'http://127.0.0.1:9419/bp.git',
      allowed,
      /use an https:\/\/ URL or a URL starting with/,
    );
    // The prefix ends in "/": a look-alike host is not let in.
    assert.equal(
      buildpackUrl('https://git.example.com.evil.net/bp', allowed).operatorAllowed,
      false,
    );
    refused('https://github.com/a/b', ['http://127.0.0.1:9418/'], /only from URLs starting with/);
    refused('https://github.com/a/b', [], /fetches no buildpack \(BERTH_BUILDPACK_URLS is none\)/);
  });

  test('prefixes are URLs ending in "/", without credentials', () => {
    assert.equal(buildpackUrlPrefix('file:///srv/buildpacks/'), 'file:///srv/buildpacks/');
    assert.throws(() => buildpackUrlPrefix('https://git.example.com'), BerthError);
    assert.throws(() => buildpackUrlPrefix('https://u:p@git.example.com/'), BerthError);
    assert.throws(() => buildpackUrlPrefix('ssh://git.example.com/'), BerthError);
  });

  test('isPublicAddress', () => {
    assert.equal(isPublicAddress('93.184.216.34'), true);
    assert.equal(isPublicAddress('2606:2800:220:1::1'), true);
    for (const ip of [
      '127.0.0.1',
      '10.1.1.1',
      '::1',
      '::ffff:10.0.0.1',
      'fd12::1',
      '224.0.0.1',
      'x',
    ]) {
      assert.equal(isPublicAddress(ip), false, ip);
    }
  });

  test('the store keeps names and canonical URLs only', () => {
    assert.equal(buildpack('node'), 'node');
    assert.equal(buildpack('https://github.com/a/b.git#v1'), 'https://github.com/a/b.git#v1');
    assert.throws(() => buildpack('https://GITHUB.com/a/b.git'), BerthError);
  });
});

describe('.buildpacks with URLs', () => {
  const shipped = ['node', 'python', 'static', 'procfile'];
  test("Berth's names and Heroku's for them, and other git URLs in their canonical form", () => {
    assert.deepEqual(
      parseBuildpacksFile(
        'heroku/nodejs\nhttps://github.com/heroku/heroku-buildpack-python#v250\nhttps://github.com/owner/bp.git#v1\n',
        shipped,
        DEFAULT,
      ),
      ['node', 'python', 'https://github.com/owner/bp.git#v1'],
    );
  });
  test('a URL the rule refuses fails the build, naming the line', () => {
    assert.throws(
      () => parseBuildpacksFile('node\nhttps://10.0.0.1/bp.git\n', shipped, DEFAULT),
      (e: unknown) =>
        e instanceof BerthError &&
        e.code === 'BERTH_E_BUILD_FAILED' &&
        /\.buildpacks:2/.test(e.message) &&
        /10\.0\.0\.1 is an address of this server or its networks/.test(e.message),
    );
  });
});
