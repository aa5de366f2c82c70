// docs/commands.md, made from the command registry (cli/registry.ts) and
// nothing else, so the reference cannot say what the commands do not do
// (issue 20). `npm run docs:commands` writes it; test/unit/commands-doc.test.ts
// fails when the file is not what this makes.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Access, Command } from './command.ts';
import { namespaceOf } from './command.ts';
import { COMMANDS, NAMESPACES } from './registry.ts';

export const COMMANDS_DOC = fileURLToPath(new URL('../docs/commands.md', import.meta.url));

const WHO: Record<string, string> = {
  anyone: 'any user',
  admin: 'admins',
  local: 'root on the server',
  read: 'who may see the app',
  config: "the app's owner, collaborators, admins",
  push: "the app's owner, collaborators, admins",
  manage: "the app's owner, admins",
  destroy: "the app's owner, admins",
};

const who = (a: Access): string => (typeof a === 'string' ? WHO[a] : WHO[a.app]) ?? String(a);

/** A table cell: pipes escaped, one line. */
export const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

function flags(c: Command): string {
  const names = Object.entries(c.options ?? {}).map(([name, o]) => {
    const short = 'short' in o && o.short ? `-${o.short}, ` : '';
    return `\`${short}--${name}${o.type === 'string' ? ' VALUE' : ''}\``;
  });
  if (c.json) names.push('`--format json`');
  if (c.report) names.push('one-value report flags (`--KEY`)');
  return names.join(' ');
}

/** Who may run it: APP_OR_PLATFORM commands (cli/platform-target.ts) ask the app, or admins. */
const whoMay = (c: Command): string =>
  c.appless?.includes('--platform')
    ? 'per app as its other commands; admins with --platform'
    : who(c.access);

function cells(c: Command): string[] {
  const usage = `${c.name} ${c.usage}`.trimEnd();
  return [`\`${cell(usage)}\``, cell(c.summary), cell(flags(c)), whoMay(c)];
}

/** A table padded as biome formats Markdown, so `biome check --write` leaves the file as made. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((v, i) => v.padEnd(widths[i] ?? 0)).join(' | ')} |\n`;
  return line(header) + line(widths.map((w) => '-'.repeat(w))) + rows.map(line).join('');
}

export function commandsMarkdown(): string {
  const order = [
    ...Object.keys(NAMESPACES),
    ...new Set(COMMANDS.map((c) => namespaceOf(c.name))),
  ].filter((n, i, all) => all.indexOf(n) === i);
  let out =
    '# Berth commands\n\n' +
    '<!-- Made by `npm run docs:commands` from cli/registry.ts; do not edit by hand (test/unit/commands-doc.test.ts). -->\n\n' +
    'Every command Berth has, as `berth COMMAND` on the server and `ssh -p PORT berth@HOST COMMAND` ' +
    "from anywhere (any SSH user name, `dokku@HOST` too). Dokku's global flags go before the command: " +
    '`--app APP`, `--quiet`, `--force`, `--trace`, `-v` / `--version`. Where Berth differs from Dokku: ' +
    '[dokku-differences.md](dokku-differences.md). Exit codes: 0 done, 1 failed, 2 refused as given ' +
    '(usage; [errors.md](errors.md) lists each error).\n\n' +
    `${COMMANDS.length} commands.\n`;
  for (const ns of order) {
    const commands = COMMANDS.filter((c) => namespaceOf(c.name) === ns);
    if (commands.length === 0) continue;
    out += `\n## ${ns}\n\n`;
    if (NAMESPACES[ns]) out += `${NAMESPACES[ns]}.\n\n`;
    out += table(['Command', 'What it does', 'Flags', 'Who may'], commands.map(cells));
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  writeFileSync(COMMANDS_DOC, commandsMarkdown());
  process.stdout.write(`wrote ${COMMANDS_DOC}\n`);
}
