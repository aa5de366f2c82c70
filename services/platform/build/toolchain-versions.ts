// The version an app asks for, read from its files as Heroku's buildpacks
// read them, and the toolchain (./toolchains.ts) that provides it, or the one
// line that refuses it. Each language's own way of writing versions is
// matched against Debian's major.minor releases: go.mod's minimum, RubyGems'
// requirements, Composer's constraints and PEP 440 specifiers.
import { BerthError } from '../../core/errors.ts';
import {
  newest,
  OFFERS,
  offer,
  type Resolved,
  refuse,
  STACK_PYTHON,
  toolchain,
} from './toolchains.ts';

type Parts = [number, number, number];

function parts(version: string): Parts | undefined {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(version);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

const compare = (a: Parts, b: Parts) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

// ---- Go ----------------------------------------------------------------

/**
 * go.mod's `go` line is the least Go version the module needs (Go 1.21 and
 * later refuse older toolchains), and `toolchain` the one it prefers: the
 * preferred one when Berth has it, else the oldest Berth has that is at least
 * the `go` line. Newer than every provided version: refused.
 */
export function resolveGo(goMod: string): Resolved {
  const line = (word: string) =>
    new RegExp(`^\\s*${word}\\s+(?:go)?(\\S+)\\s*(?://.*)?$`, 'm').exec(goMod)?.[1];
  const least = line('go');
  const preferred = line('toolchain');
  if (preferred && preferred !== 'default') {
    const p = parts(preferred);
    const o = p && offer('go', `${p[0]}.${p[1]}`);
    if (o) return { toolchain: toolchain('go', o), because: `go.mod: toolchain go${preferred}` };
  }
  if (least === undefined) {
    return {
      toolchain: toolchain('go', newest('go')),
      because: 'go.mod has no go line: the newest',
    };
  }
  const want = parts(least);
  if (!want || !/^\d+\.\d+(\.\d+)?((rc|beta)\d+)?$/.test(least)) {
    refuse('go', 'go.mod', `go ${least}`, ' is not a Go version');
  }
  const o = OFFERS.go.find((x) => compare(parts(x.version) as Parts, [want[0], want[1], 0]) >= 0);
  if (!o) refuse('go', 'go.mod', `go ${least}`, ' is newer than every Go Berth has');
  const exact = o.version === `${want[0]}.${want[1]}`;
  return {
    toolchain: toolchain('go', o),
    because: exact
      ? `go.mod: go ${least}`
      : `go.mod: go ${least}, a minimum; Berth has no Go ${want[0]}.${want[1]}, and ${o.version} is the oldest newer one`,
  };
}

// ---- Ruby --------------------------------------------------------------

/** "3.3.0", "ruby-3.3.0", "3.3" → "3.3" (the patch is Debian's); undefined when not a version. */
function rubyMinor(text: string): string | undefined {
  const m = /^(?:ruby-)?(\d+)\.(\d+)(?:\.\d+)?(?:-p\d+)?$/.exec(text.trim());
  return m ? `${m[1]}.${m[2]}` : undefined;
}

/** A Gemfile's `ruby "3.3.0"` or `ruby ">= 3.1", "< 3.4"` (its requirements, joined by commas); `file:` forms are left to .ruby-version. */
function gemfileRuby(gemfile: string): string | undefined {
  const line = /^\s*ruby\s*\(?\s*(["'][^\n]*)$/m.exec(gemfile)?.[1];
  if (line === undefined) return undefined;
  const args: string[] = [];
  for (const m of line.matchAll(/\s*["']([^"']+)["']\s*(,|\)|$|\s)/g)) args.push(m[1] as string);
  return args.length > 0 ? args.join(', ') : undefined;
}

/** RubyGems' requirement operators against a major.minor version. */
function satisfiesGem(requirement: string, version: string): boolean {
  const v = parts(version) as Parts;
  return requirement.split(',').every((one) => {
    const m = /^\s*(~>|>=|<=|!=|=|>|<)?\s*(\d+(?:\.\d+){0,2})\s*$/.exec(one);
    if (!m) return false;
    const op = m[1] ?? '=';
    const r = parts(m[2] as string) as Parts;
    const depth = (m[2] as string).split('.').length;
    const c = compareTo(v, r, depth);
    switch (op) {
      case '=':
        return c === 0;
      case '!=':
        return c !== 0;
      case '>':
        return c > 0;
      case '<':
        return c < 0;
      case '>=':
        return c >= 0;
      case '<=':
        return c <= 0;
      default: {
        // ~> 3.2 means >= 3.2, < 4; ~> 3.2.1 means >= 3.2.1, < 3.3
        if (depth <= 2) return c >= 0 && v[0] === r[0];
        return v[0] === r[0] && v[1] === r[1];
      }
    }
  });
}

/** Compares on the first `depth` parts, so that a Debian 3.3 equals a requested 3.3 and a requested 3.3.0. */
function compareTo(v: Parts, r: Parts, depth: number): number {
  for (let i = 0; i < Math.min(depth, 2); i++) {
    const d = (v[i] as number) - (r[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

export function resolveRuby(files: { rubyVersion?: string; gemfile?: string }): Resolved {
  if (files.rubyVersion !== undefined) {
    const text = files.rubyVersion.split('\n').find((l) => l.trim() && !l.startsWith('#')) ?? '';
    const minor = rubyMinor(text);
    if (!minor)
      refuse(
        'ruby',
        '.ruby-version',
        `"${text.trim().slice(0, 40)}"`,
        ' is not a Ruby version (MRI)',
      );
    const o = offer('ruby', minor);
    if (!o) refuse('ruby', '.ruby-version', `Ruby ${text.trim()}`);
    return { toolchain: toolchain('ruby', o), because: `.ruby-version: ${text.trim()}` };
  }
  const asked = files.gemfile === undefined ? undefined : gemfileRuby(files.gemfile);
  if (asked !== undefined) {
    const exact = rubyMinor(asked);
    const fits = [...OFFERS.ruby]
      .reverse()
      .find((o) => (exact ? o.version === exact : satisfiesGem(asked, o.version)));
    if (!fits) refuse('ruby', 'Gemfile', `ruby "${asked}"`);
    return { toolchain: toolchain('ruby', fits), because: `Gemfile: ruby "${asked}"` };
  }
  return {
    toolchain: toolchain('ruby', newest('ruby')),
    because: 'no version asked for: the newest',
  };
}

// ---- PHP ---------------------------------------------------------------

/** Composer's constraints (^, ~, *, comparison, || and spaces or commas for and) against major.minor. */
export function satisfiesComposer(constraint: string, version: string): boolean {
  const v = parts(version) as Parts;
  return constraint.split(/\|\|?/).some((alt) =>
    alt
      .replace(/(>=|<=|!=|==|>|<|\^|~|=)\s+/g, '$1')
      .split(/[\s,]+/)
      .filter((s) => s !== '')
      .every((one) => {
        const m = /^(\^|~|>=|<=|!=|==|=|>|<)?\s*v?(\d+)(?:\.(\d+|\*))?(?:\.(\d+|\*))?$/.exec(one);
        if (!m) return one === '*';
        const op = m[1] ?? '=';
        const major = Number(m[2]);
        const minor = m[3] === undefined || m[3] === '*' ? undefined : Number(m[3]);
        const r: Parts = [major, minor ?? 0, 0];
        // Debian's patch release stands for every patch of its minor.
        const c = minor === undefined ? v[0] - major : v[0] - major || v[1] - (minor as number);
        switch (op) {
          case '^':
            return v[0] === major && compare([v[0], v[1], 0], [r[0], r[1], 0]) >= 0;
          case '~':
            return minor === undefined || m[4] !== undefined
              ? v[0] === major && (minor === undefined || v[1] === minor)
              : v[0] === major && v[1] >= minor;
          case '>=':
            return c >= 0;
          case '>':
            return c > 0;
          case '<=':
            return c <= 0;
          case '<':
            return c < 0;
          case '!=':
            return c !== 0;
          default:
            return c === 0;
        }
      }),
  );
}

export function resolvePhp(composerJson: string | undefined): Resolved {
  let asked: unknown;
  if (composerJson !== undefined) {
    let doc: unknown;
    try {
      doc = JSON.parse(composerJson);
    } catch (e) {
      throw new BerthError('BERTH_E_BUILD_FAILED', {
        where: 'composer.json',
        reason: `not valid JSON (${(e as Error).message.split('\n')[0]})`,
      });
    }
    asked = (doc as { require?: Record<string, unknown> } | null)?.require?.php;
  }
  if (asked === undefined) {
    return {
      toolchain: toolchain('php', newest('php')),
      because: 'no version asked for: the newest',
    };
  }
  if (typeof asked !== 'string')
    refuse('php', 'composer.json', 'require.php', ' is not a version constraint');
  const fits = [...OFFERS.php].reverse().find((o) => satisfiesComposer(asked, o.version));
  if (!fits) refuse('php', 'composer.json', `require.php "${asked}"`);
  return { toolchain: toolchain('php', fits), because: `composer.json: require.php "${asked}"` };
}

// ---- Python ------------------------------------------------------------

/** PEP 440 specifiers (>=, <=, >, <, ==, !=, ~=, ==3.12.*) against major.minor. */
export function satisfiesPep440(specifiers: string, version: string): boolean {
  const v = parts(version) as Parts;
  return specifiers.split(',').every((one) => {
    const m = /^\s*(~=|===|==|!=|>=|<=|>|<)\s*(\d+)(?:\.(\d+|\*))?(?:\.(\d+|\*))?\s*$/.exec(one);
    if (!m) return false;
    const op = m[1] as string;
    const major = Number(m[2]);
    const minor = m[3] === undefined || m[3] === '*' ? undefined : Number(m[3]);
    const c = minor === undefined ? v[0] - major : v[0] - major || v[1] - minor;
    switch (op) {
      case '~=':
        return minor === undefined
          ? false
          : m[4] !== undefined
            ? c === 0
            : v[0] === major && c >= 0;
      case '>=':
        return c >= 0;
      case '>':
        // > 3.11 excludes 3.11.x only when it names the patch; Debian's 3.11 is 3.11.2.
        return m[4] !== undefined ? c >= 0 : c > 0;
      case '<=':
        return c <= 0;
      case '<':
        return c < 0;
      case '!=':
        return c !== 0;
      default:
        return c === 0;
    }
  });
}

/**
 * The Python an app asks for; undefined when it asks for nothing or for the
 * stack's own (the build stays on the stack, as before).
 */
export function resolvePython(files: {
  pythonVersion?: string;
  runtimeTxt?: string;
  pyproject?: string;
}): Resolved | undefined {
  const pick = (where: string, text: string): Resolved | undefined => {
    const m = /^(?:python-?)?(\d+)\.(\d+)(?:\.(\d+))?$/.exec(text);
    if (!m)
      refuse('python', where, `"${text.slice(0, 40)}"`, ' is not a CPython version such as 3.13');
    const o = offer('python', `${m[1]}.${m[2]}`);
    if (!o) refuse('python', where, `Python ${text.replace(/^python-?/, '')}`);
    return o.version === STACK_PYTHON
      ? undefined
      : { toolchain: toolchain('python', o), because: `${where}: ${text}` };
  };
  const firstLine = (t: string) =>
    t
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '' && !l.startsWith('#')) ?? '';
  if (files.pythonVersion !== undefined)
    return pick('.python-version', firstLine(files.pythonVersion));
  if (files.runtimeTxt !== undefined) return pick('runtime.txt', firstLine(files.runtimeTxt));
  if (files.pyproject !== undefined) {
    const m = /^\s*requires-python\s*=\s*["']([^"']+)["']/m.exec(files.pyproject);
    if (m) {
      const spec = m[1] as string;
      // The stack's first, so that an app that allows it keeps it.
      const order = [...OFFERS.python].sort((a) => (a.version === STACK_PYTHON ? -1 : 1));
      const fits = order.find((o) => satisfiesPep440(spec, o.version));
      if (!fits) refuse('python', 'pyproject.toml', `requires-python "${spec}"`);
      return fits.version === STACK_PYTHON
        ? undefined
        : {
            toolchain: toolchain('python', fits),
            because: `pyproject.toml: requires-python "${spec}"`,
          };
    }
  }
  return undefined;
}
