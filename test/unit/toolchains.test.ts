// Which Go, Ruby, PHP and Python an app gets from its own files
// (services/platform/build/toolchains.ts), and the one line that refuses a
// version Berth cannot provide; Heroku's and Dokku's names for these
// buildpacks (buildpack-aliases.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { STACK_PACKAGES } from '../../infra/bootstrap/stack-image.ts';
import { buildpackAlias } from '../../services/platform/build/buildpack-aliases.ts';
import {
  mmdebstrapArgs,
  toolchainRevision,
} from '../../services/platform/build/toolchain-image.ts';
import {
  resolveGo,
  resolvePhp,
  resolvePython,
  resolveRuby,
  satisfiesComposer,
  satisfiesPep440,
} from '../../services/platform/build/toolchain-versions.ts';
import { STACK_BASE_PACKAGES } from '../../services/platform/build/toolchains.ts';

const version = (r: { toolchain: { version: string } } | undefined) => r?.toolchain.version;

describe('toolchains', () => {
  test('every toolchain image has the stack packages, so that any buildpack runs on it', () => {
    assert.deepEqual([...STACK_BASE_PACKAGES].sort(), [...STACK_PACKAGES].sort());
  });

  test('Go: the toolchain line when Berth has it, else the oldest at least the go line', () => {
    assert.equal(version(resolveGo('module x\n\ngo 1.22\n')), '1.22');
    assert.equal(version(resolveGo('module x\ngo 1.22.5\n')), '1.22');
    assert.equal(version(resolveGo('module x\ngo 1.21.0\ntoolchain go1.24.2\n')), '1.24');
    // Go 1.20 is in no Debian suite; the go line is a minimum, so 1.21 builds it.
    const r = resolveGo('module x\ngo 1.20\n');
    assert.equal(version(r), '1.21');
    assert.match(r.because, /a minimum; Berth has no Go 1\.20, and 1\.21 is the oldest newer one/);
    assert.equal(version(resolveGo('module x\ngo 1.16\n')), '1.19');
    assert.equal(resolveGo('module x\ngo 1.22\n').toolchain.suite, 'bookworm-backports');
    assert.equal(resolveGo('module x\ngo 1.22\n').toolchain.ref, 'berth-toolchain/go:1.22');
    assert.throws(() => resolveGo('module x\ngo 1.99\n'), {
      message:
        "go.mod: go 1.99 is newer than every Go Berth has: Berth provides Go 1.19, 1.21, 1.22, 1.23, 1.24, 1.25, 1.26, 1.27 (Debian's packages); ask for one of them, or add a Dockerfile",
    });
  });

  test('Ruby: .ruby-version, else the Gemfile ruby line, by major.minor', () => {
    assert.equal(version(resolveRuby({ rubyVersion: '3.3.0\n' })), '3.3');
    assert.equal(version(resolveRuby({ rubyVersion: 'ruby-3.1.4' })), '3.1');
    assert.equal(version(resolveRuby({ gemfile: 'source "x"\nruby "~> 3.1"\n' })), '3.3');
    assert.equal(version(resolveRuby({ gemfile: "ruby '>= 3.0', '< 3.2'\n" })), '3.1');
    assert.equal(version(resolveRuby({ gemfile: 'gem "rack"\n' })), '3.3');
    assert.throws(() => resolveRuby({ rubyVersion: '3.2.2\n' }), {
      message:
        ".ruby-version: Ruby 3.2.2: Berth provides Ruby 3.1, 3.3 (Debian's packages); ask for one of them, or add a Dockerfile",
    });
    assert.throws(
      () => resolveRuby({ gemfile: 'ruby "3.4.1"\n' }),
      /^BerthError: Gemfile: ruby "3\.4\.1": Berth provides Ruby 3\.1, 3\.3/,
    );
    assert.throws(() => resolveRuby({ rubyVersion: 'jruby-9.4' }), /is not a Ruby version \(MRI\)/);
  });

  test('PHP: composer.json require.php, the newest that satisfies it', () => {
    assert.equal(version(resolvePhp('{"require":{"php":"^8.1"}}')), '8.4');
    assert.equal(version(resolvePhp('{"require":{"php":"~8.2.0"}}')), '8.2');
    assert.equal(version(resolvePhp('{"require":{"php":">=8.1 <8.3"}}')), '8.2');
    assert.equal(version(resolvePhp('{"require":{"php":"8.2.*"}}')), '8.2');
    assert.equal(version(resolvePhp('{"require":{"php":"^7.4 || ^8.2"}}')), '8.4');
    assert.equal(version(resolvePhp('{}')), '8.4');
    assert.equal(version(resolvePhp(undefined)), '8.4');
    assert.ok(satisfiesComposer('>= 8.2, < 8.5', '8.4'));
    assert.throws(() => resolvePhp('{"require":{"php":"^7.4"}}'), {
      message:
        'composer.json: require.php "^7.4": Berth provides PHP 8.2, 8.4 (Debian\'s packages); ask for one of them, or add a Dockerfile',
    });
    assert.throws(() => resolvePhp('{"require":'), /^BerthError: composer\.json: not valid JSON/);
  });

  test("Python: .python-version, runtime.txt, requires-python; the stack's 3.11 needs no image", () => {
    assert.equal(resolvePython({}), undefined);
    assert.equal(resolvePython({ pythonVersion: '3.11\n' }), undefined);
    assert.equal(resolvePython({ runtimeTxt: 'python-3.11.9\n' }), undefined);
    assert.equal(version(resolvePython({ pythonVersion: '# pinned\n3.13\n' })), '3.13');
    assert.equal(version(resolvePython({ runtimeTxt: 'python-3.13.1' })), '3.13');
    assert.equal(
      resolvePython({ pyproject: '[project]\nrequires-python = ">=3.10"\n' }),
      undefined,
    );
    assert.equal(
      version(resolvePython({ pyproject: '[project]\nrequires-python = ">=3.12"\n' })),
      '3.13',
    );
    // .python-version first, as Heroku reads them.
    assert.equal(
      version(resolvePython({ pythonVersion: '3.13', runtimeTxt: 'python-3.11.2' })),
      '3.13',
    );
    assert.equal(resolvePython({ pythonVersion: '3.13' })?.toolchain.suite, 'trixie');
    assert.throws(() => resolvePython({ runtimeTxt: 'python-3.12.1\n' }), {
      message:
        "runtime.txt: Python 3.12.1: Berth provides Python 3.11, 3.13 (Debian's packages); ask for one of them, or add a Dockerfile",
    });
    assert.throws(
      () => resolvePython({ pyproject: 'requires-python = "==3.12.*"\n' }),
      /^BerthError: pyproject\.toml: requires-python "==3\.12\.\*": Berth provides Python 3\.11, 3\.13/,
    );
    assert.throws(() => resolvePython({ pythonVersion: 'pypy3.10' }), /is not a CPython version/);
    assert.ok(satisfiesPep440('~=3.11', '3.13'));
    assert.ok(!satisfiesPep440('~=3.11.0', '3.13'));
    assert.ok(satisfiesPep440('>=3.9,<3.12', '3.11'));
  });

  test('a toolchain image is made from its suite, and its revision names what it is made of', () => {
    const t = resolveGo('module x\ngo 1.22\n').toolchain;
    const args = mmdebstrapArgs(t);
    assert.ok(args.includes('deb http://deb.debian.org/debian bookworm-backports main'));
    assert.ok(args.some((a) => a.startsWith('--include=') && a.includes('golang-1.22-go')));
    assert.match(toolchainRevision(t), /^[0-9a-f]{12}$/);
    assert.notEqual(toolchainRevision(t), toolchainRevision(resolveGo('go 1.23\n').toolchain));
  });
});

describe('buildpack aliases for Go, Ruby and PHP', () => {
  test("Heroku's and Dokku's names and URLs map to Berth's own buildpacks", () => {
    for (const [name, ours] of [
      ['heroku/go', 'go'],
      ['heroku/ruby', 'ruby'],
      ['heroku/php', 'php'],
      ['https://github.com/heroku/heroku-buildpack-go', 'go'],
      ['https://github.com/heroku/heroku-buildpack-ruby.git#v270', 'ruby'],
      ['https://github.com/heroku/heroku-buildpack-php', 'php'],
      ['https://github.com/dokku/heroku-buildpack-php.git', 'php'],
      ['paketo-buildpacks/go', 'go'],
    ] as const) {
      assert.equal(buildpackAlias(name), ours, name);
    }
    assert.equal(buildpackAlias('https://github.com/heroku/heroku-buildpack-clojure'), undefined);
  });
});
