// Every *:report command prints through here, so all of them read Dokku's
// way (plugins/common ReportSingleApp, Dokku 0.38): `=====> APP NAMESPACE
// information`, then `Label: value` lines sorted by their flag, the label
// padded to the longest flag (31 at least); `--global` in place of APP for
// the platform-wide report. One `--LABEL-AS-FLAG` prints that value alone
// (for scripts); `--format json` one line, an object keyed by Dokku's report
// keys (the flag without `--NAMESPACE-`; Dokku's Go plugins also emit the
// `NAMESPACE-KEY` legacy keys during 0.38.x, and so does Berth for them).
// The flag is derived from the label, so a row added to a report is a flag
// at once, and the two cannot disagree. A report with no APP (each app the
// user may see, in turn) is the dispatcher's (cli/dispatch.ts).
import { BerthError, EXIT } from '../services/core/errors.ts';
import type { Invocation } from './command.ts';
import { formatOf } from './output.ts';

/** [label as Dokku prints it, value]. */
export type ReportRow = readonly [label: string, value: string];

export interface ReportSpec {
  /** Dokku's plugin name: the flag prefix JSON keys drop (checks, git, ps...). */
  namespace: string;
  /** The app reported on; undefined: the `--global` report. */
  app: string | undefined;
  rows: readonly ReportRow[];
  /**
   * Berth's own fields, kept in --format json beside Dokku's keys (scripts
   * written for Berth read them); an array is printed as it is (ps:report's instances).
   */
  data?: unknown;
  /** More text after the rows (ps prints a table of instances under them). */
  after?: string;
}

/**
 * Dokku's Go plugins whose JSON carries the legacy `NAMESPACE-KEY` keys
 * beside the short ones during 0.38.x (EmitLegacyPrefix); its bash plugins
 * (checks, git, builder-dockerfile, domains, certs, nginx...) do not.
 */
const LEGACY_KEYS = new Set([
  'app-json',
  'app',
  'builder',
  'buildpacks',
  'builds',
  'cron',
  'docker-options',
  'logs',
  'network',
  'ports',
  'proxy',
  'ps',
  'registry',
  'resource',
  'scheduler',
  'storage',
]);

/** "Checks disabled list" -> --checks-disabled-list. */
export const reportFlag = (label: string): string =>
  `--${label
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '-')
    .replace(/^-|-$/g, '')}`;

/** --checks-disabled-list -> disabled-list (Dokku's JSON key). */
export const reportKey = (namespace: string, label: string): string => {
  const flag = reportFlag(label).slice(2);
  return flag.startsWith(`${namespace}-`) ? flag.slice(namespace.length + 1) : flag;
};

export function reportObject(spec: Pick<ReportSpec, 'namespace' | 'rows' | 'data'>) {
  const legacy = LEGACY_KEYS.has(spec.namespace);
  const keyed: Record<string, string> = {};
  for (const [label, value] of spec.rows) {
    const key = reportKey(spec.namespace, label);
    keyed[key] = value;
    if (legacy && key !== reportFlag(label).slice(2)) keyed[reportFlag(label).slice(2)] = value;
  }
  const data = spec.data;
  // Dokku's keys win where a name is both: scripts written for Dokku read them.
  return data !== null && typeof data === 'object' && !Array.isArray(data)
    ? { ...(data as Record<string, unknown>), ...keyed }
    : keyed;
}

/** The report's text as Dokku prints it. */
export function reportText(spec: Pick<ReportSpec, 'namespace' | 'app' | 'rows'>): string {
  const rows = [...spec.rows].sort(([a], [b]) => {
    const [fa, fb] = [reportFlag(a), reportFlag(b)];
    return fa < fb ? -1 : fa > fb ? 1 : 0;
  });
  const width = Math.max(31, ...rows.map(([label]) => reportFlag(label).length));
  const lines = rows.map(([label, value]) => `       ${`${label}:`.padEnd(width)}${value}\n`);
  return `=====> ${spec.app ?? '--global'} ${spec.namespace} information\n${lines.join('')}`;
}

/** Prints the report, one value of it, or its JSON; an unknown flag is one usage line. */
export function writeReport(call: Invocation, spec: ReportSpec): number {
  const { ctx, options, reportFlag: wanted } = call;
  if (wanted !== undefined) {
    if (options.format !== undefined) {
      throw new BerthError('BERTH_E_USAGE', {
        reason: '--format flag cannot be specified when specifying an info flag',
      });
    }
    const row = spec.rows.find(([label]) => reportFlag(label) === wanted);
    if (!row) {
      // Dokku's words, which scripts may match; Berth's exit code for a usage error.
      throw new BerthError('BERTH_E_USAGE', {
        reason: `Invalid flag passed, valid flags: ${spec.rows
          .map(([l]) => reportFlag(l))
          .sort()
          .join(', ')}`,
      });
    }
    ctx.stdout.write(`${row[1]}\n`);
    return EXIT.ok;
  }
  if (formatOf(options) === 'json') {
    // One line, as Dokku prints it: a report of every app is one object a line.
    ctx.stdout.write(
      `${JSON.stringify(Array.isArray(spec.data) ? spec.data : reportObject(spec))}\n`,
    );
    return EXIT.ok;
  }
  ctx.stdout.write(reportText(spec) + (spec.after ?? ''));
  return EXIT.ok;
}

/**
 * Dokku's keys of a setting both an app and `--global` set: the app's own
 * (empty when unset), the global one (empty when unset) and the computed
 * one in effect (the app's, else the global, else Berth's default). With no
 * app (the --global report): the global and computed ones.
 */
export function settingRows(
  namespace: string,
  property: string,
  app: boolean,
  own: string | null,
  global: string | null,
  builtin: string,
): ReportRow[] {
  const globalRow: ReportRow = [`${namespace} global ${property}`, global ?? ''];
  const computed = `${namespace} computed ${property}`;
  if (!app) return [[computed, global ?? builtin], globalRow];
  return [[computed, own ?? global ?? builtin], globalRow, [`${namespace} ${property}`, own ?? '']];
}
