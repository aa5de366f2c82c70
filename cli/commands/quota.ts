// quota:set|report — per-user caps on apps, instances, process types, build
// minutes, the size of one push and the disk the user's git repositories take
// (BERTH_QUOTA_* by default; admins have none).

import { EXIT } from '../../services/core/errors.ts';
import {
  QUOTAS,
  type QuotaLine,
  type QuotaName,
  type QuotaReport,
  SIZE_QUOTAS,
} from '../../services/core/store/index.ts';
import { describeSize } from '../../services/core/validate.ts';
import { parseQuotas, quotaReport, setQuotas } from '../../services/platform/accounts/quotas.ts';
import type { Command } from '../command.ts';
import { formatOf, json, report } from '../output.ts';

/** What each quota counts, as quota:report says it. */
const COUNTS = {
  apps: 'owned',
  instances: 'running across those apps',
  'process-types': 'in the app that runs the most',
  'build-minutes': 'used today (UTC)',
  'push-size': 'for the git objects one push sends',
  disk: 'taken by the git repositories of those apps',
} as const;

/** "5 running across those apps; cap 25 (default)"; "1.2m taken by ...; cap 2g (default)". */
function describe(name: QuotaName, line: QuotaLine): string {
  const amount = (n: number) => (SIZE_QUOTAS.includes(name) ? describeSize(n) : String(n));
  const cap =
    line.from === 'admin'
      ? 'no cap (admins have none)'
      : `${line.cap === null ? 'no cap' : `cap ${amount(line.cap)}`} (${line.from === 'default' ? 'default' : 'set for this user'})`;
  return line.used === null
    ? `${cap} ${COUNTS[name]}`
    : `${amount(line.used)} ${COUNTS[name]}; ${cap}`;
}

/** The text quota:set and quota:report print. */
const reportText = (r: QuotaReport): string =>
  report(
    `Quotas of ${r.user}`,
    QUOTAS.map((q) => [q, describe(q, r.quotas[q])]),
  );

export const quotaCommands: readonly Command[] = [
  {
    name: 'quota:set',
    usage: 'USER QUOTA=N...',
    summary:
      "set a user's own caps on apps, instances, process-types, build-minutes (N), push-size, disk (a size such as 512m or 2g), or unlimited, or default (BERTH_QUOTA_*)",
    access: 'admin',
    arity: [2, Infinity],
    async run({ ctx, args }) {
      const [user = '', ...assignments] = args;
      const patch = parseQuotas(assignments);
      const store = await ctx.store();
      await setQuotas(store, user, patch);
      ctx.stdout.write(reportText(await store.quotas.report(user)));
      return EXIT.ok;
    },
  },
  {
    name: 'quota:report',
    usage: '[USER] [--format json]',
    summary: 'what a user has against their caps (yours; admins: anyone’s)',
    access: 'anyone',
    json: true,
    arity: [0, 1],
    async run({ ctx, args, options }) {
      const r = await quotaReport(await ctx.store(), ctx.actor, args[0]);
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(r));
        return EXIT.ok;
      }
      ctx.stdout.write(reportText(r));
      return EXIT.ok;
    },
  },
];
