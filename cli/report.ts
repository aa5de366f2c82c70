// Every *:report command prints through here, so all of them read Dokku's
// way: `=====> APP NAMESPACE information` and `Label: value` lines; one
// `--LABEL-AS-FLAG` prints that value alone (for scripts); `--format json`
// an object keyed by Dokku's report keys (the flag without `--NAMESPACE-`,
// as Dokku 0.38 emits them). The flag is derived from the label, so a row
// added to a report is a flag at once, and the two cannot disagree.
import { BerthError, EXIT } from '../services/core/errors.ts';
import type { Invocation } from './command.ts';
import { formatOf, json, report } from './output.ts';

/** [label as Dokku prints it, value]. */
export type ReportRow = readonly [label: string, value: string];

export interface ReportSpec {
  /** Dokku's plugin name: the flag prefix JSON keys drop (checks, git, ps...). */
  namespace: string;
  title: string;
  rows: readonly ReportRow[];
  /**
   * Berth's own fields, kept in --format json beside Dokku's keys (scripts
   * written for Berth read them); an array is printed as it is (ps:report's instances).
   */
  data?: unknown;
  /** Replaces the text body (ps prints a table of instances under its rows). */
  text?: string;
}

/** "Checks disabled list" -> --checks-disabled-list. */
export const reportFlag = (label: string): string =>
  `--${label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')}`;

/** --checks-disabled-list -> disabled-list (Dokku's JSON key). */
export const reportKey = (namespace: string, label: string): string => {
  const flag = reportFlag(label).slice(2);
  return flag.startsWith(`${namespace}-`) ? flag.slice(namespace.length + 1) : flag;
};

export function reportObject(spec: ReportSpec): Record<string, unknown> {
  const keyed = Object.fromEntries(spec.rows.map(([l, v]) => [reportKey(spec.namespace, l), v]));
  const data = spec.data;
  // Dokku's keys win where a name is both: scripts written for Dokku read them.
  return data !== null && typeof data === 'object' && !Array.isArray(data)
    ? { ...(data as Record<string, unknown>), ...keyed }
    : keyed;
}

/** Prints the report, one value of it, or its JSON; an unknown flag is one usage line. */
export function writeReport(call: Invocation, spec: ReportSpec): number {
  const { ctx, options, reportFlag: wanted } = call;
  if (wanted !== undefined) {
    const row = spec.rows.find(([label]) => reportFlag(label) === wanted);
    if (!row) {
      throw new BerthError('BERTH_E_USAGE', {
        reason: `${wanted} is not a ${spec.namespace}:report flag; its flags: ${spec.rows.map(([l]) => reportFlag(l)).join(' ')}`,
      });
    }
    ctx.stdout.write(`${row[1]}\n`);
    return EXIT.ok;
  }
  if (formatOf(options) === 'json') {
    ctx.stdout.write(json(Array.isArray(spec.data) ? spec.data : reportObject(spec)));
    return EXIT.ok;
  }
  ctx.stdout.write(spec.text ?? report(spec.title, spec.rows));
  return EXIT.ok;
}
