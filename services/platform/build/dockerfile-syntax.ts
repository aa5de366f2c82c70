// Just enough of the Dockerfile syntax for the builder to talk about a build:
// which line each instruction starts on (so a failing step is named as
// `Dockerfile:<line>`), the base images the stages start FROM (to say clearly
// which one is missing), the build arguments it declares (GIT_REV is passed
// only when asked for, so Docker prints no "not consumed" warning), and what
// the Engine would fetch or read for it: images (FROM, COPY --from) and ADD
// URLs, which the builder checks against the app's image policy
// (image-policy.ts). Where a variable's value is not known before the build,
// the use says so, and the builder refuses it rather than guess.

export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, COPY ... */
  keyword: string;
  /** What follows the keyword, continuation lines joined. */
  args: string;
  /** 1-based line of the keyword in the file. */
  line: number;
}

/** An image or URL the Engine would use for the build. */
export interface DockerfileUse {
  kind: 'FROM' | 'COPY --from' | 'ADD';
  /** As written. */
  text: string;
  /** With variables filled in; undefined when one has no value known before the build. */
  ref: string | undefined;
  line: number;
}

export interface DockerfileInfo {
  instructions: Instruction[];
  /** The images stages start from: not `scratch`, not an earlier stage; ARG defaults filled in. */
  baseImages: string[];
  /** Every image a FROM or COPY --from names (not a stage, not scratch), and every ADD URL. */
  uses: DockerfileUse[];
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

/** The flags (`--name=value`) and the other words of COPY or ADD, JSON form included. */
function copyWords(args: string): { flags: Map<string, string>; words: string[] } {
  const flags = new Map<string, string>();
  let rest = args.trim();
  for (;;) {
    const m = /^--([A-Za-z-]+)(?:=(\S*))?\s*/.exec(rest);
    if (!m) break;
    flags.set((m[1] ?? '').toLowerCase(), m[2] ?? '');
    rest = rest.slice(m[0].length);
  }
  if (rest.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(rest);
      if (Array.isArray(parsed)) return { flags, words: parsed.map(String) };
    } catch {
      // Not JSON: the Engine reads it as words, as below.
    }
  }
  return { flags, words: rest.split(/\s+/).filter((w) => w !== '') };
}

/** Whether an ADD source is, or may become once its variables are filled in, a URL. */
function mayBeUrl(source: string): boolean {
  const dollar = source.indexOf('$');
  const head = (dollar === -1 ? source : source.slice(0, dollar)).toLowerCase();
  if (/^https?:\/\//.test(head)) return true;
  return dollar !== -1 && ('http://'.startsWith(head) || 'https://'.startsWith(head));
}

/**
 * The file's instructions, images and URLs. `buildArgs` are the values the
 * build passes: as with the Engine, they replace the defaults of ARGs
 * declared before the first FROM, which FROM lines may use.
 */
export function describeDockerfile(
  text: string,
  buildArgs: Readonly<Record<string, string>> = {},
): DockerfileInfo {
  const instructions = parseInstructions(text);
  const metaArgs = new Map<string, string>();
  const args = new Set<string>();
  const stages = new Set<string>();
  const baseImages: string[] = [];
  const uses: DockerfileUse[] = [];
  let stageCount = 0;
  for (const ins of instructions) {
    if (ins.keyword === 'ARG') {
      for (const [name, value] of argDeclarations(ins.args)) {
        args.add(name);
        if (stageCount > 0) continue;
        const given = Object.hasOwn(buildArgs, name) ? buildArgs[name] : value;
        if (given === undefined) metaArgs.delete(name);
        else metaArgs.set(name, given);
      }
    } else if (ins.keyword === 'FROM') {
      stageCount++;
      const { image, stage } = fromImage(ins.args);
      const ref = substitute(image, metaArgs);
      if (ref !== 'scratch' && !(ref !== undefined && stages.has(ref.toLowerCase()))) {
        uses.push({ kind: 'FROM', text: image, ref: ref === '' ? undefined : ref, line: ins.line });
        if (ref !== undefined && ref !== '' && !baseImages.includes(ref)) baseImages.push(ref);
      }
      if (stage !== undefined) stages.add(stage);
    } else if (ins.keyword === 'COPY') {
      // The Engine's classic builder takes --from as written: a stage by
      // name or index, else an image (by name, or by id).
      const from = copyWords(ins.args).flags.get('from');
      if (from === undefined || stages.has(from.toLowerCase())) continue;
      if (/^[0-9]+$/.test(from) && Number(from) < stageCount - 1) continue;
      uses.push({
        kind: 'COPY --from',
        text: from,
        ref: from.includes('$') || from === '' ? undefined : from,
        line: ins.line,
      });
    } else if (ins.keyword === 'ADD') {
      const { words } = copyWords(ins.args);
      for (const source of words.slice(0, -1)) {
        if (!mayBeUrl(source)) continue;
        uses.push({
          kind: 'ADD',
          text: source,
          ref: source.includes('$') ? undefined : source,
          line: ins.line,
        });
      }
    }
  }
  return { instructions, baseImages, uses, args };
}
