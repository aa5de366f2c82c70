// The language toolchains Berth provides beside the stack: Go, Ruby, PHP and
// a newer Python, each from Debian's own packages (the stack's release,
// its backports, or the next release where only it carries a version), so
// that every version is one Debian builds and patches. Which version an app
// gets is read from its own files, as Heroku's buildpacks read them:
//
//   Go      go.mod's `toolchain` or `go` line (a minimum, by Go's own rules)
//   Ruby    .ruby-version, else the Gemfile's `ruby` line
//   PHP     composer.json's require.php
//   Python  .python-version, else runtime.txt, else pyproject.toml's requires-python
//
// A version Debian does not carry is refused with one line naming the ones
// Berth can provide; it is never silently replaced. An app that asks for
// nothing gets the newest (Go, Ruby, PHP) or the stack's own (Python, so
// that apps built before this keep their interpreter).
//
// The versions are read by ./toolchain-versions.ts; the images are made by
// ./toolchain-image.ts.
import { BerthError } from '../../core/errors.ts';

/** A Debian release and the archive lines mmdebstrap installs from. */
export type Suite = 'bookworm' | 'bookworm-backports' | 'trixie' | 'trixie-backports';

const MIRROR = 'http://deb.debian.org/debian';
const SECURITY = 'http://deb.debian.org/debian-security';

/** mmdebstrap's release argument and the sources.list lines of each suite. */
export const SUITES: Readonly<Record<Suite, { release: string; debian: string; lines: string[] }>> =
  {
    bookworm: {
      release: 'bookworm',
      debian: 'Debian 12',
      lines: [
        `deb ${MIRROR} bookworm main`,
        `deb ${MIRROR} bookworm-updates main`,
        `deb ${SECURITY} bookworm-security main`,
      ],
    },
    'bookworm-backports': {
      release: 'bookworm',
      debian: 'Debian 12 backports',
      lines: [
        `deb ${MIRROR} bookworm main`,
        `deb ${MIRROR} bookworm-updates main`,
        `deb ${SECURITY} bookworm-security main`,
        `deb ${MIRROR} bookworm-backports main`,
      ],
    },
    trixie: {
      release: 'trixie',
      debian: 'Debian 13',
      lines: [
        `deb ${MIRROR} trixie main`,
        `deb ${MIRROR} trixie-updates main`,
        `deb ${SECURITY} trixie-security main`,
      ],
    },
    'trixie-backports': {
      release: 'trixie',
      debian: 'Debian 13 backports',
      lines: [
        `deb ${MIRROR} trixie main`,
        `deb ${MIRROR} trixie-updates main`,
        `deb ${SECURITY} trixie-security main`,
        `deb ${MIRROR} trixie-backports main`,
      ],
    },
  };

/**
 * What every toolchain image has of the stack (infra/bootstrap/stack-image.ts,
 * STACK_PACKAGES; a unit test keeps the two equal), so that any buildpack
 * runs on any of them.
 */
export const STACK_BASE_PACKAGES: readonly string[] = [
  'ca-certificates',
  'libatomic1',
  'nginx-light',
  'python3',
  'python3-venv',
];

export type Language = 'go' | 'ruby' | 'php' | 'python';

const NAMES: Record<Language, string> = { go: 'Go', ruby: 'Ruby', php: 'PHP', python: 'Python' };

export interface Offer {
  /** major.minor */
  version: string;
  suite: Suite;
  packages: readonly string[];
}

const go = (minor: number, suite: Suite): Offer => ({
  version: `1.${minor}`,
  suite,
  packages: [`golang-1.${minor}-go`],
});

/**
 * Ruby: Bundler, a C compiler and the headers for gems with native
 * extensions, and Debian's Rack, WEBrick and Sinatra, which Bundler sees as
 * installed gems (so an app locked to those versions installs offline).
 */
const RUBY_PACKAGES = [
  'ruby',
  'ruby-dev',
  'bundler',
  'gcc',
  'make',
  'libc6-dev',
  'ruby-rack',
  'ruby-webrick',
  'ruby-sinatra',
];

/** PHP: php-fpm behind nginx, Composer, and the extensions most apps need. */
const php = (v: string, suite: Suite): Offer => ({
  version: v,
  suite,
  packages: [
    `php${v}-cli`,
    `php${v}-fpm`,
    `php${v}-mbstring`,
    `php${v}-xml`,
    `php${v}-curl`,
    `php${v}-zip`,
    `php${v}-sqlite3`,
    `php${v}-pgsql`,
    `php${v}-mysql`,
    `php${v}-intl`,
    'composer',
    'unzip',
  ],
});

/** Every version Berth provides, oldest first. */
export const OFFERS: Readonly<Record<Language, readonly Offer[]>> = {
  go: [
    go(19, 'bookworm'),
    go(21, 'bookworm-backports'),
    go(22, 'bookworm-backports'),
    go(23, 'bookworm-backports'),
    go(24, 'trixie'),
    go(25, 'trixie-backports'),
    go(26, 'trixie-backports'),
    go(27, 'trixie-backports'),
  ],
  ruby: [
    { version: '3.1', suite: 'bookworm', packages: RUBY_PACKAGES },
    // Rack 3 moved the rackup command into a gem of its own.
    { version: '3.3', suite: 'trixie', packages: [...RUBY_PACKAGES, 'ruby-rackup'] },
  ],
  php: [php('8.2', 'bookworm'), php('8.4', 'trixie')],
  // 3.11 is the stack's own (no image is made for it); 3.13 is Debian 13's.
  python: [
    { version: '3.11', suite: 'bookworm', packages: [] },
    { version: '3.13', suite: 'trixie', packages: [] },
  ],
};

/** The Python the stack has: apps on it need no toolchain image. */
export const STACK_PYTHON = '3.11';

export interface Toolchain {
  language: Language;
  /** major.minor */
  version: string;
  suite: Suite;
  /** Every package the image installs (the stack's and the language's). */
  packages: readonly string[];
  /** berth-toolchain/<language>:<version> */
  ref: string;
  /** "Go 1.22, Debian 12 backports", for the log. */
  title: string;
}

/**
 * Not under berth/: app images are berth/<app>, and an app named
 * toolchain-go would take the toolchain's tags for its own (retention and
 * apps:destroy remove an app's tags).
 */
export const TOOLCHAIN_REPO = 'berth-toolchain';

export function toolchain(language: Language, offer: Offer): Toolchain {
  return {
    language,
    version: offer.version,
    suite: offer.suite,
    packages: [...STACK_BASE_PACKAGES, ...offer.packages],
    ref: `${TOOLCHAIN_REPO}/${language}:${offer.version}`,
    title: `${NAMES[language]} ${offer.version}, ${SUITES[offer.suite].debian}`,
  };
}

/** "1.19, 1.21, 1.22" */
export function available(language: Language): string {
  return OFFERS[language].map((o) => o.version).join(', ');
}

/** What an app asked for, and the toolchain that gives it. */
export interface Resolved {
  toolchain: Toolchain;
  /** Why this version, for the log: "go.mod: go 1.22.3". */
  because: string;
}

/** BERTH_E_BUILD_FAILED: "<where>: <asked><why>: Berth provides <the versions>...". */
export function refuse(language: Language, where: string, asked: string, why = ''): never {
  throw new BerthError('BERTH_E_BUILD_FAILED', {
    where,
    reason: `${asked}${why}: Berth provides ${NAMES[language]} ${available(language)} (Debian's packages); ask for one of them, or add a Dockerfile`,
  });
}

export function offer(language: Language, version: string): Offer | undefined {
  return OFFERS[language].find((o) => o.version === version);
}

export const newest = (language: Language): Offer => OFFERS[language].at(-1) as Offer;
