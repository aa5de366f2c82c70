// docs/dokku-compatibility.md: each Dokku command and flag of
// test/fixtures/dokku-commands.json (names read from Dokku's docs) checked
// against Berth's command registry (cli/registry.ts), per namespace, with
// counts. Nothing in the doc is typed by hand: a command is "supported"
// only when the registry has it, "Berth does instead" only when it is a
// cli/dokku-only.ts answer, and "with a difference" only when the fixture
// names the docs/dokku-differences.md section that says how. `npm run
// docs:commands` writes it (with docs/commands.md); test/unit/dokku-compat.test.ts
// fails when the file is stale or claims what the registry lacks.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from '../cli/command.ts';
import { cell, table } from '../cli/commands-doc.ts';
import { findCommand } from '../cli/registry.ts';

export const COMPAT_DOC = fileURLToPath(new URL('../docs/dokku-compatibility.md', import.meta.url));
export const DIFFERENCES_DOC = fileURLToPath(
  new URL('../docs/dokku-differences.md', import.meta.url),
);
const FIXTURE = fileURLToPath(new URL('./fixtures/dokku-commands.json', import.meta.url));

export interface DokkuCommands {
  about: string;
  /** namespace -> command -> Dokku's flags (names without --). */
  namespaces: Record<string, Record<string, string[]>>;
  /** "command" or "command --flag" -> the heading of docs/dokku-differences.md that documents it. */
  differences: Record<string, string>;
}

export const readDokkuCommands = (): DokkuCommands =>
  JSON.parse(readFileSync(FIXTURE, 'utf8')) as DokkuCommands;

export type Status = 'supported' | 'difference' | 'instead' | 'missing';

export interface FlagRow {
  flag: string;
  status: Status;
}

export interface CommandRow {
  name: string;
  status: Status;
  /** The differences heading (difference), or Berth's one line (instead). */
  note?: string;
  flags: FlagRow[];
}

/** GitHub's anchor for a Markdown heading. */
export const anchorOf = (heading: string): string =>
  heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');

/** Whether the Berth command takes Dokku's flag as Dokku's (the dispatcher adds --global and --format). */
export function takesFlag(c: Command, flag: string): boolean {
  if (c.options && Object.hasOwn(c.options, flag)) return true;
  if (flag === 'global') return c.global !== undefined;
  if (flag === 'format') return c.json === true;
  return false;
}

export function classify(data: DokkuCommands, name: string, flags: readonly string[]): CommandRow {
  const c = findCommand(name);
  if (c === undefined)
    return { name, status: 'missing', flags: flags.map((flag) => ({ flag, status: 'missing' })) };
  if (c.instead !== undefined) {
    return {
      name,
      status: 'instead',
      note: c.instead,
      flags: flags.map((flag) => ({ flag, status: 'instead' })),
    };
  }
  const heading = data.differences[name];
  return {
    name,
    status: heading === undefined ? 'supported' : 'difference',
    ...(heading === undefined ? {} : { note: heading }),
    flags: flags.map((flag) => {
      if (!takesFlag(c, flag)) return { flag, status: 'missing' };
      return { flag, status: data.differences[`${name} --${flag}`] ? 'difference' : 'supported' };
    }),
  };
}

export function compatibility(data = readDokkuCommands()): Map<string, CommandRow[]> {
  const out = new Map<string, CommandRow[]>();
  for (const [ns, commands] of Object.entries(data.namespaces)) {
    out.set(
      ns,
      Object.entries(commands).map(([name, flags]) => classify(data, name, flags)),
    );
  }
  return out;
}

interface Counts {
  commands: number;
  flags: number;
  byStatus: Record<Status, number>;
  flagsByStatus: Record<Status, number>;
}

function count(rows: readonly CommandRow[]): Counts {
  const zero = (): Record<Status, number> => ({
    supported: 0,
    difference: 0,
    instead: 0,
    missing: 0,
  });
  const c: Counts = { commands: 0, flags: 0, byStatus: zero(), flagsByStatus: zero() };
  for (const r of rows) {
    c.commands++;
    c.byStatus[r.status]++;
    for (const f of r.flags) {
      c.flags++;
      c.flagsByStatus[f.status]++;
    }
  }
  return c;
}

const WORD: Record<Status, string> = {
  supported: 'supported',
  difference: 'supported with a difference',
  instead: 'Berth does instead',
  missing: 'missing',
};

function berthCell(r: CommandRow): string {
  if (r.status === 'difference')
    return `supported, [with a difference](dokku-differences.md#${anchorOf(r.note ?? '')})`;
  if (r.status === 'instead') return `Berth does instead: ${r.note}`;
  return r.status;
}

function flagsCell(r: CommandRow): string {
  if (r.flags.length === 0) return '';
  const list = (s: Status) =>
    r.flags
      .filter((f) => f.status === s)
      .map((f) => `\`--${f.flag}\``)
      .join(' ');
  if (r.status === 'instead') return `taken, for the answer: ${list('instead')}`;
  return (['supported', 'difference', 'missing'] as const)
    .filter((s) => r.flags.some((f) => f.status === s))
    .map((s) => `${WORD[s]}: ${list(s)}`)
    .join('; ');
}

const figures = (c: Counts): string[] => [
  String(c.commands),
  String(c.byStatus.supported),
  String(c.byStatus.difference),
  String(c.byStatus.instead),
  String(c.byStatus.missing),
  String(c.flags),
  String(c.flagsByStatus.supported + c.flagsByStatus.difference),
  String(c.flagsByStatus.missing),
];

export function compatibilityMarkdown(data = readDokkuCommands()): string {
  const all = compatibility(data);
  const rows = [...all.values()].flat();
  const total = count(rows);
  const covered = total.byStatus.supported + total.byStatus.difference;
  let out =
    '# Dokku compatibility\n\n' +
    '<!-- Made by `npm run docs:commands` from test/fixtures/dokku-commands.json and cli/registry.ts; do not edit by hand (test/unit/dokku-compat.test.ts). -->\n\n' +
    "Each command and flag of Dokku's plugins that map to Berth's features (and of those that only " +
    "make sense inside Dokku), as Dokku's documentation names them, checked against Berth's command " +
    'registry: **supported**; **supported with a difference** (documented, with the reason, in ' +
    '[dokku-differences.md](dokku-differences.md)); **Berth does instead** (the command answers in one ' +
    'line, exit 2, with what Berth does in its place); **missing** (refused as an unknown command or ' +
    "option). Flags are Dokku's `--FLAG`s after the command; a report's one-value flags " +
    '(`--checks-disabled-list`) and the global flags before the command (`--app`, `--quiet`, ' +
    '`--force`, `--trace`) are not counted here. Every command: [commands.md](commands.md).\n\n' +
    `**${total.commands} Dokku commands: ${covered} supported (${total.byStatus.difference} of them with a documented difference), ` +
    `${total.byStatus.instead} answered with what Berth does instead, ${total.byStatus.missing} missing. ` +
    `${total.flags} flags: ${total.flagsByStatus.supported + total.flagsByStatus.difference} supported, ` +
    `${total.flagsByStatus.instead} taken by commands that answer what Berth does instead, ${total.flagsByStatus.missing} missing.**\n\n`;
  out += table(
    [
      'Namespace',
      'Commands',
      'Supported',
      'With a difference',
      'Berth does instead',
      'Missing',
      'Flags',
      'Flags supported',
      'Flags missing',
    ],
    [
      ...[...all.entries()].map(([ns, r]) => [`[${ns}](#${anchorOf(ns)})`, ...figures(count(r))]),
      ['**all**', ...figures(total)],
    ],
  );
  for (const [ns, commands] of all) {
    out += `\n## ${ns}\n\n`;
    out += table(
      ['Dokku', 'Berth', 'Flags'],
      commands.map((r) => [`\`${r.name}\``, cell(berthCell(r)), cell(flagsCell(r))]),
    );
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  writeFileSync(COMPAT_DOC, compatibilityMarkdown());
  process.stdout.write(`wrote ${COMPAT_DOC}\n`);
}
