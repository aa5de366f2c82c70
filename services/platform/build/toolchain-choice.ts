// Which toolchain image a buildpack build starts from, decided before the
// build container exists (the image must be there to start it): the first
// buildpack in the build's order whose marker file the commit has (the same
// files its bin/detect looks for) names the language, and the language's
// files name the version (./toolchains.ts). Go compiles on its toolchain and
// runs on the plain stack; Ruby, PHP and a Python other than the stack's run
// on their toolchain image.
import type { CommitSource } from './source.ts';
import { resolveGo, resolvePhp, resolvePython, resolveRuby } from './toolchain-versions.ts';
import type { Language, Resolved } from './toolchains.ts';

/** The files each buildpack's bin/detect looks for (any one of them). */
export const MARKERS: Readonly<Record<string, readonly string[]>> = {
  ruby: ['Gemfile'],
  node: ['package.json'],
  python: ['requirements.txt', 'pyproject.toml', 'setup.py', 'Pipfile'],
  php: ['composer.json', 'index.php'],
  go: ['go.mod'],
};

export interface ToolchainChoice extends Resolved {
  /** The buildpack whose language it is. */
  buildpack: string;
  /** true: the app image is the stack plus /app (Go's binaries need no toolchain to run). */
  runOnStack: boolean;
}

type Source = Pick<CommitSource, 'entry' | 'readFile'>;

async function read(source: Source, file: string): Promise<string | undefined> {
  const e = await source.entry(file);
  return e?.type === 'blob' && e.mode !== '120000' ? source.readFile(file) : undefined;
}

/** The buildpack that will claim the app, by its markers; undefined when none has one. */
export async function likelyBuildpack(
  source: Source,
  candidates: readonly string[],
): Promise<string | undefined> {
  for (const name of candidates) {
    for (const file of MARKERS[name] ?? []) {
      if ((await source.entry(file))?.type === 'blob') return name;
    }
  }
  return undefined;
}

/** The toolchain the app's language and version need; undefined: the stack (or Node.js's own image). */
export async function chooseToolchain(
  source: Source,
  candidates: readonly string[],
): Promise<ToolchainChoice | undefined> {
  const buildpack = await likelyBuildpack(source, candidates);
  const language = buildpack as Language | undefined;
  let resolved: Resolved | undefined;
  switch (language) {
    case 'go':
      resolved = resolveGo((await read(source, 'go.mod')) ?? '');
      break;
    case 'ruby':
      resolved = resolveRuby({
        ...optional('rubyVersion', await read(source, '.ruby-version')),
        ...optional('gemfile', await read(source, 'Gemfile')),
      });
      break;
    case 'php':
      resolved = resolvePhp(await read(source, 'composer.json'));
      break;
    case 'python':
      resolved = resolvePython({
        ...optional('pythonVersion', await read(source, '.python-version')),
        ...optional('runtimeTxt', await read(source, 'runtime.txt')),
        ...optional('pyproject', await read(source, 'pyproject.toml')),
      });
      break;
    default:
      return undefined;
  }
  if (!resolved || !buildpack) return undefined;
  return { ...resolved, buildpack, runOnStack: language === 'go' };
}

const optional = <K extends string>(key: K, value: string | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, string>>;
