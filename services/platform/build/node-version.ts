// Which Node.js version an app gets: the highest published release that its
// package.json's engines.node range allows, or the current LTS when it names
// none (as Heroku's node buildpack does). Pure: the versions on offer and the
// date come from the caller, so the rule is testable at any date.
import semver from 'semver';
import { BerthError } from '../../core/errors.ts';

// Node.js's release schedule (https://github.com/nodejs/release#release-schedule),
// fixed enough to compute instead of fetching a schedule file at build time:
//   - up to 26, majors come twice a year: an even major N in April of 2013 + N/2,
//     LTS from October of that year, end of life 30 months later (April of
//     2016 + N/2); an odd major in October, never LTS, end of life the next June.
//   - from 27 (announced 2026, nodejs/Release#1113), one major a year, N in
//     April of 2000 + N, and every one becomes LTS that October, end of life
//     36 months after its release. Without this branch the even-major rule
//     would never pick 27 and would pick 28 a year early.
// The first LTS was 4 (October 2015); 0.x lines predate the schedule.
const FIRST_LTS = 4;
const LAST_BIENNIAL = 26;

/** When `major` became (or becomes) LTS; undefined for majors that never do. */
export function ltsStart(major: number): Date | undefined {
  if (major < FIRST_LTS) return undefined;
  if (major > LAST_BIENNIAL) return new Date(Date.UTC(2000 + major, 9, 1));
  if (major % 2 === 1) return undefined;
  return new Date(Date.UTC(2013 + major / 2, 9, 1));
}

/** The first day `major` is no longer maintained (its end of life). */
function endOfLife(major: number): Date {
  if (major < FIRST_LTS) return new Date(Date.UTC(2017, 0, 1));
  if (major > LAST_BIENNIAL) return new Date(Date.UTC(2003 + major, 4, 1));
  if (major % 2 === 1) return new Date(Date.UTC(2013 + (major + 1) / 2, 5, 1));
  return new Date(Date.UTC(2016 + major / 2, 4, 1));
}

const majorsOf = (versions: readonly string[]): number[] =>
  [...new Set(versions.map((v) => semver.major(v)))].sort((a, b) => a - b);

/** The current LTS major at `today` among `majors`: the newest whose LTS has begun. */
function currentLts(majors: readonly number[], today: Date): number | undefined {
  const lts = majors.filter((m) => {
    const start = ltsStart(m);
    return start !== undefined && start.getTime() <= today.getTime();
  });
  return lts.length > 0 ? Math.max(...lts) : undefined;
}

/**
 * The Node.js version for `range` (package.json's engines.node): the highest
 * release in `available` that satisfies it, prereleases never. No range (or an
 * empty one) means the newest release of the current LTS major at `today`.
 * BERTH_E_NODE_VERSION when nothing fits, naming the majors there are.
 */
export function resolveNodeVersion(
  range: string | undefined,
  available: readonly string[],
  today: Date,
): string {
  const releases = available.filter((v) => semver.valid(v) !== null && !semver.prerelease(v));
  const wanted = range?.trim() ?? '';
  let found: string | null = null;
  if (wanted === '') {
    const lts = currentLts(majorsOf(releases), today);
    if (lts !== undefined) found = semver.maxSatisfying(releases, `${lts}.x`);
  } else if (semver.validRange(wanted) !== null) {
    found = semver.maxSatisfying(releases, wanted);
  }
  if (found !== null) return found;
  throw new BerthError('BERTH_E_NODE_VERSION', {
    range: wanted === '' ? '(not set, so the current LTS)' : `"${wanted}"`,
    majors: describeMajors(releases, today),
    example: `${currentLts(majorsOf(releases), today) ?? Math.max(0, ...majorsOf(releases))}.x`,
  });
}

/**
 * "22, 24, 26": the majors a user should choose from, those still maintained
 * at `today`; all of them when none is (a cache of old versions), "none" for none.
 */
function describeMajors(releases: readonly string[], today: Date): string {
  const all = majorsOf(releases);
  const maintained = all.filter((m) => endOfLife(m).getTime() > today.getTime());
  const shown = maintained.length > 0 ? maintained : all;
  return shown.length > 0 ? shown.join(', ') : 'none';
}
