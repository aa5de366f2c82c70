// Compiles Berth's TypeScript once, so no process compiles at run time
// (issue 17: tsx kept a compiler thread and an esbuild process beside every
// service). Each process's entry module is bundled with its own sources into
// plain ES modules under `.build/<hash>/` (the same paths, `.js`; shared code
// in `chunks/`), npm packages included (but NOT_BUNDLED below). <hash> covers
// every source file, package.json and package-lock.json, so a changed source
// gets a new directory and stale output is never run. The output is written
// to a temporary directory and renamed into place: a compile that crashes or
// runs beside another (tests start several Berths at once) never leaves a
// half-written directory under that name. Plain JavaScript on purpose: it
// runs before any TypeScript can.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Every module a process starts from: the services the supervisor runs
 * (infra/supervisor.ts' SERVICES), the router processes, and the `berth`
 * command, which runs the supervisor itself (`berth start`).
 */
export const ENTRIES = [
  'cli/main.ts',
  'services/control/main.ts',
  'services/ssh/main.ts',
  'proxy/main.ts',
  'proxy/worker.ts',
  // `npm start` prepares the machine in a process of its own.
  'infra/prepare-main.ts',
];

/** The folders whose files the output depends on (tests and buildpacks are not bundled). */
const SOURCE_DIRS = ['services', 'proxy', 'cli', 'infra'];
const SOURCE_FILES = ['package.json', 'package-lock.json', 'tsconfig.json'];

function listFiles(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) listFiles(file, out);
    else if (entry.isFile()) out.push(file);
  }
  return out;
}

/** The hash of everything the bundles are made from (names and contents). */
export function sourceHash(root = ROOT) {
  const files = [
    ...SOURCE_DIRS.flatMap((d) => listFiles(path.join(root, d), [])),
    ...SOURCE_FILES.map((f) => path.join(root, f)),
  ].sort();
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${path.relative(root, file)}\0`);
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

const exists = (p) => {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
};

/**
 * The directory of the current bundles, compiling them first when the
 * sources changed since the last compile. `log` hears one line when it
 * compiles; `claim` keeps the directory while this process runs (claim()).
 */
export async function ensureBuild({ log = () => {}, root = ROOT, claim: claims = false } = {}) {
  const buildRoot = path.join(root, '.build');
  const hash = sourceHash(root);
  const dir = path.join(buildRoot, hash);
  if (exists(dir)) return claims ? claim(dir) : dir;
  log('compiling the TypeScript sources to .build/ (once for each change)');
  const started = Date.now();
  const tmp = path.join(buildRoot, `tmp-${process.pid}-${Date.now().toString(36)}`);
  try {
    // In a process of its own: esbuild's module and its service process
    // would otherwise stay in this one (the supervisor: as long as Berth runs).
    // Not waited for synchronously: a reload compiles in a running supervisor.
    const r = await compileInChild(root, tmp);
    if (r.status !== 0) {
      // The compiler's first error names the file, line and column.
      const first = r.stderr.split('\n').find((l) => /: error: /.test(l));
      throw new Error(`compiling the sources failed: ${first ?? r.error ?? `exit ${r.status}`}`);
    }
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another start compiled the same sources first: theirs is as good.
      if (!exists(dir)) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  log(`compiled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  removeUnused(buildRoot, hash);
  return claims ? claim(dir) : dir;
}

/** Runs compile() in a child; its stderr is passed on and kept for the error. */
function compileInChild(root, tmp) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), root, tmp], {
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      process.stderr.write(chunk);
      if (stderr.length < 64 * 1024) stderr += chunk;
    });
    child.on('error', (e) => resolve({ status: null, error: e.message, stderr }));
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

/**
 * Marks `dir` as used by this process, so that a compile of newer sources
 * (a `berth` command run after an edit) leaves it alone while this process
 * lives: the supervisor imports from it and starts services from it for as
 * long as Berth runs, and its own command line does not name it.
 */
function claim(dir) {
  const users = path.join(dir, '.users');
  mkdirSync(users, { recursive: true });
  writeFileSync(path.join(users, String(process.pid)), '');
  return dir;
}

/** Whether a process that claimed `dir` still runs. */
function claimed(dir) {
  let pids = [];
  try {
    pids = readdirSync(path.join(dir, '.users'));
  } catch {
    return false;
  }
  return pids.some((pid) => /^\d+$/.test(pid) && exists(`/proc/${pid}`));
}

/**
 * Removes the bundles of older sources that no process runs any more (a
 * router left serving by a killed supervisor may still run one), and
 * temporary directories of compiles whose process is gone.
 */
function removeUnused(buildRoot, current) {
  let names;
  try {
    names = readdirSync(buildRoot);
  } catch {
    return;
  }
  const cmdlines = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      cmdlines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {}
  }
  for (const name of names) {
    if (name === current) continue;
    if (cmdlines.some((c) => c.includes(`${path.join(buildRoot, name)}/`))) continue;
    if (claimed(path.join(buildRoot, name))) continue;
    const tmp = /^tmp-(\d+)-/.exec(name);
    if (tmp && exists(`/proc/${tmp[1]}`)) continue;
    rmSync(path.join(buildRoot, name), { recursive: true, force: true });
  }
}

/**
 * Packages loaded from node_modules, not bundled: native addons (.node
 * files). Bundled packages that find files next to their own code would look
 * in chunks/ instead; Berth uses none of those paths (dockerode's BuildKit
 * session protos, BullMQ's sandboxed processors, pino's transports, msgpackr's
 * optional native build, which falls back to JavaScript).
 */
const NOT_BUNDLED = ['ssh2', 'cpu-features', 'esbuild'];

const ESM_SHIMS = [
  // Only names of Node's own modules here: a bundled module's hoisted
  // top-level var (@peculiar/x509 has one named URL) shadows a global for
  // the whole chunk, this banner included.
  "import { createRequire as __berthRequire } from 'node:module';",
  "import { dirname as __berthDirname } from 'node:path';",
  "import { fileURLToPath as __berthPath } from 'node:url';",
  'const require = __berthRequire(import.meta.url);',
  'const __filename = __berthPath(import.meta.url);',
  'const __dirname = __berthDirname(__filename);',
].join('\n');

/**
 * dockerode's `./session` and `./buildkit` (BuildKit over gRPC and protobuf,
 * for builds Berth never asks for) replaced by
 * infra/bundle/dockerode-buildkit.cjs, which says so if ever called.
 */
const withoutDockerodeBuildKit = {
  name: 'without-dockerode-buildkit',
  setup(build) {
    const stub = path.join(
      build.initialOptions.absWorkingDir,
      'infra/bundle/dockerode-buildkit.cjs',
    );
    build.onResolve({ filter: /^\.\/(session|buildkit)$/ }, (args) =>
      /[\\/]node_modules[\\/]dockerode[\\/]lib$/.test(args.resolveDir) ? { path: stub } : undefined,
    );
  },
};

/** One line per esbuild message: `file:line:column: error: text`. */
function messageLine(kind, m) {
  const at = m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1}: ` : '';
  return `${at}${kind}: ${m.text}`;
}

/** Bundles every entry of `root` into `outdir` (run as `node infra/build.mjs ROOT OUTDIR`). */
async function compile(root, outdir) {
  const esbuild = await import('esbuild');
  let result;
  try {
    result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: ENTRIES,
      outdir,
      outbase: '.',
      bundle: true,
      splitting: true,
      chunkNames: 'chunks/[name]-[hash]',
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // npm packages are bundled too: a process then reads a few files
      // instead of hundreds, and starts 3 to 5 times faster (issue 17: warm
      // start; 2.1–2.9 s → 0.4–1.0 s for the control process's packages on a
      // loaded machine). Left out: packages with native addons, loaded by
      // path from their own folder.
      external: NOT_BUNDLED,
      // A package's ES module build where it has one: CommonJS builds reached
      // by import() lose their named exports in a bundle (bullmq's Queue),
      // and some (jsonc-parser's UMD) require files by computed paths.
      mainFields: ['module', 'main'],
      // CommonJS packages in an ES module bundle still call require() for
      // Node's own modules, and some read __dirname.
      banner: { js: ESM_SHIMS },
      plugins: [withoutDockerodeBuildKit],
      // Printed below, one line each: `berth reload` reports the first error's line.
      logLevel: 'silent',
    });
  } catch (e) {
    for (const m of e.errors ?? []) process.stderr.write(`${messageLine('error', m)}\n`);
    if (!e.errors?.length) process.stderr.write(`error: ${e.message}\n`);
    process.exit(1);
  }
  for (const m of result.warnings) process.stderr.write(`${messageLine('warning', m)}\n`);
  const { asciiComments } = await import('./ascii-source.mjs');
  for (const file of listFiles(outdir, []).filter((f) => f.endsWith('.js'))) {
    const code = readFileSync(file, 'utf8');
    const ascii = asciiComments(code);
    if (ascii.code !== code) writeFileSync(file, ascii.code);
    if (ascii.left > 0)
      process.stderr.write(
        `warning: ${path.relative(outdir, file)}: ${ascii.left} characters that are not ASCII outside comments (a tagged template's text?): the file's source takes twice the memory\n`,
      );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [root, outdir] = process.argv.slice(2);
  await compile(root, outdir);
}
