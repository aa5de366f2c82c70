// How commands print data: aligned text for people, --format json for scripts.
import { BerthError } from '../services/core/errors.ts';
import type { OptionValues } from './command.ts';

export type Format = 'text' | 'json';

export function formatOf(options: OptionValues): Format {
  const f = options.format ?? 'text';
  if (f !== 'text' && f !== 'json') {
    throw new BerthError('BERTH_E_USAGE', { reason: '--format must be text or json' });
  }
  return f;
}

/** Rows as aligned columns, the last column unpadded. */
export function table(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** `key: value` lines, keys aligned, as Dokku's :report commands print them. */
export function report(title: string, entries: readonly (readonly [string, string])[]): string {
  const width = Math.max(...entries.map(([k]) => k.length)) + 1;
  return `=====> ${title}\n${entries.map(([k, v]) => `       ${`${k}:`.padEnd(width)} ${v}\n`).join('')}`;
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
