// README.md's first-deploy walkthrough, read from the README itself, so that
// the test that runs it (test/e2e/readme-walkthrough.test.ts) follows the
// README as it is and the README cannot drift from the product.
//
// A walkthrough block is a fenced code block right after a marker line:
//   <!-- walkthrough: start ... -->     `npm start` (with its settings), the ready banner after it
//   <!-- walkthrough: server -->        commands run as root on the server, in the clone
//   <!-- walkthrough: laptop -->        commands run from the user's machine, in their checkout
//   <!-- walkthrough: file NAME -->     the block is the file NAME in the checkout
// Commands are the lines that start with "$ " (a trailing backslash continues
// one); the lines after a command, up to the next, are what it prints.

export type StepKind = 'start' | 'server' | 'laptop';

export interface WalkthroughCommand {
  kind: StepKind;
  /** The command line as the README has it, without the prompt. */
  line: string;
  /** What the README shows it printing ("..." lines stand for lines left out). */
  output: string[];
}

export type WalkthroughStep =
  | { kind: 'file'; name: string; content: string }
  | { kind: StepKind; commands: WalkthroughCommand[] };

const MARKER = /^<!-- walkthrough: (start|server|laptop|file)\b\s*(.*?)\s*-->$/;

export function readWalkthrough(readme: string): WalkthroughStep[] {
  const lines = readme.split('\n');
  const steps: WalkthroughStep[] = [];
  for (let i = 0; i < lines.length; i++) {
    const marker = MARKER.exec(lines[i] ?? '');
    if (!marker) continue;
    const kind = marker[1] as StepKind | 'file';
    if (!/^```\w*$/.test(lines[i + 1] ?? '')) {
      throw new Error(`README.md:${i + 1}: a walkthrough marker must be followed by a code block`);
    }
    const body: string[] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j] !== '```'; j++) body.push(lines[j] ?? '');
    if (j === lines.length) throw new Error(`README.md:${i + 2}: the code block is not closed`);
    if (kind === 'file') {
      const name = marker[2] ?? '';
      if (!/^[\w.-]+$/.test(name)) throw new Error(`README.md:${i + 1}: no file name`);
      steps.push({ kind, name, content: `${body.join('\n')}\n` });
    } else {
      steps.push({ kind, commands: commandsOf(kind, body, i + 3) });
    }
    i = j;
  }
  return steps;
}

function commandsOf(kind: StepKind, body: string[], firstLine: number): WalkthroughCommand[] {
  const commands: WalkthroughCommand[] = [];
  for (let k = 0; k < body.length; k++) {
    const text = body[k] ?? '';
    if (text.startsWith('$ ')) {
      let line = text.slice(2);
      while (line.endsWith('\\') && k + 1 < body.length) {
        k++;
        line = `${line.slice(0, -1)} ${(body[k] ?? '').trim()}`;
      }
      commands.push({ kind, line, output: [] });
    } else if (commands.length === 0) {
      if (text.trim() !== '')
        throw new Error(`README.md:${firstLine + k}: output before the first command`);
    } else {
      commands.at(-1)?.output.push(text);
    }
  }
  return commands;
}

/**
 * One line of the README's output as a pattern: whitespace runs match any
 * whitespace, and every word holding a digit (a version, a hash, a time, a
 * count, a base64 fingerprint, with its + and /) matches any such word, since
 * they differ from run to run; a line that ends in "..." matches any rest;
 * the rest is literal.
 */
export function linePattern(expected: string): RegExp {
  // A line that ends in "..." is shown cut short: any rest matches.
  const cut = /\S\.\.\.$/.test(expected.trim()) || / \.\.\.$/.test(expected.trim());
  const parts = expected
    .trim()
    .replace(/\.\.\.$/, '')
    .split(/(\s+|[A-Za-z0-9+/]*[0-9][A-Za-z0-9+/]*)/)
    .filter((p) => p !== '');
  const source = parts
    .map((p) => {
      if (/^\s+$/.test(p)) return '\\s+';
      if (/[0-9]/.test(p) && /^[A-Za-z0-9+/]+$/.test(p)) return '[A-Za-z0-9+/]+';
      return p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${source}${cut ? '.*' : '$'}`);
}

/**
 * Whether `actual` (the lines a command printed) shows what the README says
 * it prints: the README's lines in order, each run of them between "..."
 * lines on consecutive lines of the output (blank lines aside), with any
 * lines before, after and in place of each "...". Returns undefined when it
 * does, else the first README line not found where it should be.
 */
export function missingOutput(expected: string[], actual: string[]): string | undefined {
  const got = actual.map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  const runs: string[][] = [[]];
  for (const line of expected) {
    if (line.trim() === '') continue;
    if (line.trim() === '...') runs.push([]);
    else runs.at(-1)?.push(line);
  }
  let from = 0;
  for (const run of runs) {
    if (run.length === 0) continue;
    const patterns = run.map(linePattern);
    let found = -1;
    for (let at = from; at + patterns.length <= got.length && found < 0; at++) {
      if (patterns.every((p, k) => p.test((got[at + k] ?? '').trim()))) found = at;
    }
    if (found < 0) {
      // The longest head of the run found, to name the line that is not.
      for (let n = run.length - 1; n >= 1; n--) {
        const head = patterns.slice(0, n);
        for (let at = from; at + n <= got.length; at++) {
          if (head.every((p, k) => p.test((got[at + k] ?? '').trim()))) return run[n];
        }
      }
      return run[0];
    }
    from = found + patterns.length;
  }
  return undefined;
}
