// Where Berth's code runs from. `npm start` runs the processes from plain
// JavaScript that infra/build.mjs bundled into `.build/<hash>/` (no
// TypeScript compiler in any process: issue 17); development and the tests
// may run the TypeScript sources with tsx. A bundle no longer sits where its
// source did, so every file Berth ships beside its code (the git hook, the
// buildpacks, package.json) is found from the repository root, and every
// process is started from the same kind of code as the one starting it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
const built = /^(.*)\/\.build\/([^/]+)\//.exec(here);

/** The repository's root directory (the clone `npm start` runs in). */
export const ROOT: string = built
  ? (built[1] as string)
  : path.resolve(path.dirname(here), '..', '..');

/** The bundle this process runs from (`<root>/.build/<hash>`), or undefined under tsx. */
export const BUILD_DIR: string | undefined = built
  ? path.join(ROOT, '.build', built[2] as string)
  : undefined;

/** A file Berth ships, by its path from the repository root. */
export const shipped = (relative: string): string => path.join(ROOT, relative);

/**
 * Node.js options for the processes that mostly wait (the supervisor, the
 * control services, the router's primary): V8's young generation grows to
 * 16 MB per semi-space under a burst of work and stays there, about 20 MB a
 * process for nothing while idle; 1 MB is plenty between requests (`npm run
 * bench footprint`: 465 MB in all before, 330 MB after). And no optimizing
 * compiler (`--no-opt`: V8's interpreter and its baseline compiler only):
 * TurboFan compiles the hot functions of the start's burst of work, and its
 * code and the memory its compiler threads took stay for the life of the
 * process; without it, idle with no apps, control 47 → 41 MiB, ssh 36 → 26
 * MiB, all of Berth 153 → 133 MB. These processes mostly wait on Redis, the
 * Engine, git and the network; the router processes, which run per request,
 * keep it (ROUTER_HEAP_OPTIONS). And V8's `--optimize-for-size` (a heap
 * that grows by smaller steps and is compacted more eagerly, builtins that
 * favour size): idle with no apps, 3 pairs in one run on a shared machine,
 * all of Berth 148.8 → 139.7, 145.7 → 140.0, 145.6 → 138.4 MB (control
 * 49 → 45, ssh 28 → 24, router primary 11 → 10 MiB); the speed it costs is
 * in work these processes hand to Redis, the Engine and git.
 */
export const IDLE_HEAP_OPTIONS: readonly string[] = [
  '--max-semi-space-size=1',
  '--no-opt',
  '--optimize-for-size',
];

/**
 * The router processes allocate per request all day long: 4 MB semi-spaces
 * keep most of the saving while idle, and proxied as fast as V8's default
 * in `npm run bench proxy` (the router against the default's in the same
 * rounds: throughput ratio 0.99, where two runs of the same code give
 * 0.94). With 1 MB, two such runs gave 1.06 and 0.84: too close to call.
 */
export const ROUTER_HEAP_OPTIONS: readonly string[] = ['--max-semi-space-size=4'];

/** How to start a process: the file node runs and the options before it. */
export interface EntryCommand {
  file: string;
  execArgv: string[];
}

/**
 * How to run an entry module, named by its source (`services/control/main.ts`):
 * its bundle under plain node, or the source through tsx when this process
 * runs from sources too. `buildDir`: another bundle's (a reload starts the
 * services from the newly compiled one while the supervisor runs its own).
 */
export function entryCommand(entry: string, buildDir = BUILD_DIR): EntryCommand {
  if (buildDir !== undefined) {
    return { file: path.join(buildDir, entry.replace(/\.ts$/, '.js')), execArgv: [] };
  }
  return { file: path.join(ROOT, entry), execArgv: ['--import', 'tsx'] };
}

/**
 * Which code this process runs: the bundle's hash of the sources, or
 * `source`. Part of what a supervisor compares before adopting a router a
 * previous one left: a router running other code is replaced.
 */
export const CODE_ID: string = BUILD_DIR === undefined ? 'source' : path.basename(BUILD_DIR);

/** Whether a process's argv runs `entry` of this repository, from any bundle or its source. */
export function runsEntry(argv: readonly string[], entry: string): boolean {
  const stem = entry.replace(/\.ts$/, '');
  return argv.some((a) => {
    if (a === path.join(ROOT, entry)) return true;
    const rest = a.startsWith(`${ROOT}/.build/`) ? a.slice(ROOT.length + 8) : undefined;
    return rest !== undefined && rest.replace(/^[^/]+\//, '') === `${stem}.js`;
  });
}
