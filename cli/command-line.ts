// Splits the command line an SSH client sends ("config:set api 'A=b c'")
// into words, as a POSIX shell would quote them but with no expansion at
// all: no variables, no globs, no command substitution, no operators. Berth
// never runs a shell, so `;`, `$(...)` and backticks are just characters of
// an argument, which the command's own validation then refuses.
import { BerthError } from '../services/core/errors.ts';

const usage = (reason: string) => new BerthError('BERTH_E_USAGE', { reason });

export function splitCommandLine(line: string): string[] {
  // eslint-style control check: a newline could smuggle a second command into a log or a hook.
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(line)) {
    throw usage('the command line contains a newline or another control character');
  }
  if (line.length > 64 * 1024) throw usage('the command line is longer than 64 KB');
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1] as string)) {
        word += line[++i];
      } else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw usage('the command line ends with a backslash');
      word += line[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== undefined) throw usage(`the command line has an unclosed ${quote}`);
  if (inWord) words.push(word);
  return words;
}

/** Dokku's global flags, read before the command name (`dokku --app shop config:set A=1`). */
export interface GlobalFlags {
  /** The app the command is about; the command then takes no APP argument. */
  app?: string;
  /** Drop the `----->` / `=====>` header lines, as Dokku's --quiet does. */
  quiet: boolean;
  /** Passed to the command as its own --force (apps:destroy, ...). */
  force: boolean;
  /** Print the command as Berth read it, and its exit code, on stderr. */
  trace: boolean;
}

/**
 * Takes the global flags off the front of argv. `-v` / `--version` there is
 * the version command; anything else starting with `-` stops the scan (the
 * command's own options, or --help).
 */
export function takeGlobalFlags(argv: readonly string[]): {
  flags: GlobalFlags;
  rest: string[];
} {
  const flags: GlobalFlags = { quiet: false, force: false, trace: false };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--quiet') flags.quiet = true;
    else if (a === '--force') flags.force = true;
    else if (a === '--trace') flags.trace = true;
    else if (a === '-v' || a === '--version') return { flags, rest: ['version'] };
    else if (a === '--app' || a === '-a') {
      const app = argv[i + 1];
      if (app === undefined || app.startsWith('-')) throw usage('--app needs an app name');
      flags.app = app;
      i++;
    } else if (a.startsWith('--app=')) flags.app = a.slice('--app='.length);
    else break;
  }
  return { flags, rest: argv.slice(i) };
}
