// Just enough of the Dockerfile syntax for the builder to talk about a build:
// which line each instruction starts on (so a failing step is named as
// `Dockerfile:<line>`), the base images the stages start FROM (to say clearly
// which one is missing), and the build arguments it declares (GIT_REV is
// passed only when asked for, so Docker prints no "not consumed" warning).
// The Docker Engine stays the parser that decides; nothing here rejects a file.

export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, COPY ... */
  keyword: string;
  /** What follows the keyword, continuation lines joined. */
  args: string;
  /** 1-based line of the keyword in the file. */
  line: number;
}

export interface DockerfileInfo {
  instructions: Instruction[];
  /** The images stages start from: not `scratch`, not an earlier stage; ARG defaults filled in. */
  baseImages: string[];
  /** Names of every ARG the file declares. */
  args: Set<string>;
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;

/** Splits a Dockerfile into instructions with their line numbers. */
export function parseInstructions(text: string): Instruction[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let escapeChar = '\\';
  // Parser directives: only in comments before anything else.
  for (const raw of lines) {
    const m = DIRECTIVE.exec(raw.trim());
    if (!m) break;
    if (m[1]?.toLowerCase() === 'escape' && (m[2] === '`' || m[2] === '\\')) escapeChar = m[2];
  }
  const out: Instruction[] = [];
  let current: { line: number; text: string } | undefined;
  for (const [i, raw] of lines.entries()) {
    const trimmed = raw.trim();
    // Comments and empty lines are dropped, also inside a continued instruction.
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const continues = trimmed.endsWith(escapeChar);
    const body = continues ? trimmed.slice(0, -escapeChar.length) : trimmed;
    current =
      current === undefined
        ? { line: i + 1, text: body }
        : { ...current, text: `${current.text} ${body}` };
    if (continues) continue;
    push(current);
    current = undefined;
  }
  if (current !== undefined) push(current);
  return out;

  function push({ line, text }: { line: number; text: string }) {
    const m = /^(\S+)\s*(.*)$/s.exec(text.trim());
    if (!m) return;
    out.push({ keyword: (m[1] ?? '').toUpperCase(), args: (m[2] ?? '').trim(), line });
  }
}

/** `$NAME` and `${NAME}` from `values`; undefined when one is unknown. */
function substitute(text: string, values: Map<string, string>): string | undefined {
  let unknown = false;
  const out = text.replace(
    /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_, a, b) => {
      const v = values.get((a ?? b) as string);
      if (v === undefined) unknown = true;
      return v ?? '';
    },
  );
  return unknown || out.includes('$') ? undefined : out;
}

/** The names an ARG instruction declares, with their defaults. */
function argDeclarations(args: string): [string, string | undefined][] {
  return args
    .split(/\s+/)
    .filter((w) => w !== '')
    .map((w) => {
      const eq = w.indexOf('=');
      if (eq === -1) return [w, undefined];
      return [w.slice(0, eq), w.slice(eq + 1).replace(/^(["'])(.*)\1$/, '$2')];
    });
}

/** The words of a FROM instruction: [image, stage name or undefined]. */
export function fromImage(args: string): { image: string; stage: string | undefined } {
  const words = args.split(/\s+/).filter((w) => w !== '' && !w.startsWith('--'));
  const as = words[1]?.toUpperCase() === 'AS' ? words[2] : undefined;
  return { image: words[0] ?? '', stage: as?.toLowerCase() };
}

export function describeDockerfile(text: string): DockerfileInfo {
  const instructions = parseInstructions(text);
  const metaArgs = new Map<string, string>();
  const args = new Set<string>();
  const stages = new Set<string>();
  const baseImages: string[] = [];
  let seenFrom = false;
  for (const ins of instructions) {
    if (ins.keyword === 'ARG') {
      for (const [name, value] of argDeclarations(ins.args)) {
        args.add(name);
        if (!seenFrom && value !== undefined) metaArgs.set(name, value);
      }
    } else if (ins.keyword === 'FROM') {
      seenFrom = true;
      const { image, stage } = fromImage(ins.args);
      const ref = substitute(image, metaArgs);
      if (ref !== undefined && ref !== '' && ref !== 'scratch' && !stages.has(ref.toLowerCase())) {
        if (!baseImages.includes(ref)) baseImages.push(ref);
      }
      if (stage !== undefined) stages.add(stage);
    }
  }
  return { instructions, baseImages, args };
}
