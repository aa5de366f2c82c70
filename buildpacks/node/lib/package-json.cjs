// Questions about package.json for bin/compile and bin/release, answered by
// the app's own Node.js runtime so that the error for a broken file is the
// one Node.js itself gives. The answer is the exit code (0 yes, 1 no) unless
// the command prints a value.
//
//   check FILE           prints nothing when FILE is a JSON object, else why not
//   script FILE NAME     whether scripts.NAME is set
//   install-scripts FILE whether the app has a script npm runs at install time
//   dependencies FILE    whether any dependencies (of any kind) are declared
//   dev-dependencies FILE  whether devDependencies are declared
//   package-manager FILE prints "yarn 1.22.22" from "packageManager": "yarn@1.22.22+sha..."
'use strict';
const fs = require('node:fs');

const [command, file, name] = process.argv.slice(2);

/** Node.js 20 says "at position N" only; 22 and later add the line and column. */
function withLineAndColumn(message, text) {
  const at = /at position (\d+)/.exec(message);
  if (!at || /\(line \d+ column \d+\)/.test(message)) return message;
  const before = text.slice(0, Number(at[1])).split('\n');
  return `${message} (line ${before.length} column ${before[before.length - 1].length + 1})`;
}

function read() {
  const text = fs.readFileSync(file, 'utf8');
  try {
    return { pkg: JSON.parse(text) };
  } catch (e) {
    return { error: withLineAndColumn(e.message, text) };
  }
}

const nonEmpty = (o) => o !== null && typeof o === 'object' && Object.keys(o).length > 0;

function main() {
  const { pkg, error } = read();
  if (command === 'check') {
    if (error) return fail(error);
    if (pkg === null || typeof pkg !== 'object' || Array.isArray(pkg)) {
      return fail(`must hold a JSON object, not ${Array.isArray(pkg) ? 'an array' : String(pkg)}`);
    }
    return 0;
  }
  if (error) return 1;
  switch (command) {
    case 'script': {
      const script = pkg.scripts?.[name];
      return typeof script === 'string' && script.trim() !== '' ? 0 : 1;
    }
    case 'install-scripts':
      return ['preinstall', 'install', 'postinstall', 'prepare'].some(
        (s) => typeof pkg.scripts?.[s] === 'string' && pkg.scripts[s].trim() !== '',
      )
        ? 0
        : 1;
    case 'dependencies':
      return ['dependencies', 'devDependencies', 'optionalDependencies'].some((k) =>
        nonEmpty(pkg[k]),
      )
        ? 0
        : 1;
    case 'dev-dependencies':
      return nonEmpty(pkg.devDependencies) ? 0 : 1;
    case 'package-manager': {
      // Only an exact version: it names the directory the tool is cached in.
      const m = /^(yarn|pnpm)@(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)(?:\+.*)?$/.exec(
        String(pkg.packageManager ?? ''),
      );
      if (!m) return 1;
      process.stdout.write(`${m[1]} ${m[2]}\n`);
      return 0;
    }
    default:
      return fail(`unknown command ${command}`);
  }
}

function fail(message) {
  process.stdout.write(`${message}\n`);
  return 1;
}

process.exitCode = main();
