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
