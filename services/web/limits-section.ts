// The app page's Resources section: each process type's memory and CPU
// limits (resource:report: its own, else the app's every-type ones, else
// the operator's BERTH_DEFAULT_MEMORY) beside what its running instances use
// now (the most any one of them uses: a limit is per instance), from the
// Engine's stats the instance list already asked for (app-page.ts keeps
// them for USAGE_TTL_MS, so a page view does not ask again).
import type { DefaultLimits } from '../core/config.ts';
import { html, type Safe } from '../core/html.ts';
import type { DeploySettings } from '../core/store/index.ts';
import type { InstanceUsage } from '../platform/scheduler/scheduler.ts';
import { dataTable } from './layout.ts';

const MIB = 1024 * 1024;
const bytes = (n: number) =>
  n >= 10 * 1024 * MIB ? `${(n / 1024 / MIB).toFixed(1)} GiB` : `${(n / MIB).toFixed(0)} MiB`;

/** A figure against its limit: "120 MiB of 512 MiB (23%)", with a meter. */
function against(used: number | undefined, limit: number | undefined, text: (n: number) => string) {
  if (used === undefined)
    return limit === undefined ? '—' : html`&mdash; <small>of ${text(limit)}</small>`;
  if (limit === undefined || limit <= 0) return html`${text(used)} <small>no limit</small>`;
  const share = Math.min(100, Math.round((used / limit) * 100));
  return html`${text(used)} <small>of ${text(limit)}</small> <meter min="0" max="100" low="70" high="90" optimum="0" value="${share}" aria-label="${share}% of the limit">${share}%</meter>`;
}

export function resourcesSection(
  app: string,
  types: readonly string[],
  settings: Pick<DeploySettings, 'resources'>,
  defaults: DefaultLimits | undefined,
  instances: { instances: { type: string; usage?: InstanceUsage }[] } | { note: string },
): Safe {
  const running = 'instances' in instances ? instances.instances : [];
  const rows = types.map((type) => {
    const own = settings.resources[type] ?? settings.resources._all_;
    const memoryLimit =
      own?.memory ?? (defaults && defaults.memory > 0 ? defaults.memory : undefined);
    const cpuLimit = own?.cpus;
    const used = running.filter((i) => i.type === type && i.usage);
    const memory =
      used.length > 0 ? Math.max(...used.map((i) => i.usage?.memoryBytes ?? 0)) : undefined;
    const cpu =
      used.length > 0 ? Math.max(...used.map((i) => i.usage?.cpuPercent ?? 0)) : undefined;
    return [
      type,
      against(memory, memoryLimit, bytes),
      against(cpu, cpuLimit === undefined ? undefined : cpuLimit * 100, (n) => `${n.toFixed(1)}%`),
      own?.pids ?? (defaults && defaults.pids > 0 ? defaults.pids : '—'),
    ];
  });
  return html`<section class="card" aria-labelledby="resources"><h2 id="resources">Resources</h2>
${
  rows.length === 0
    ? html`<p>No processes yet.</p>`
    : dataTable(
        [
          'type',
          'memory (per instance)',
          'CPU (per instance)',
          { label: 'processes limit', num: true },
        ],
        rows,
        {
          id: 'resources-table',
          label: 'Resource limits and usage',
        },
      )
}
<p><small>Usage: the busiest running instance of each type, as the Engine measured it in the last few seconds (CPU: percent of one CPU; 100% &times; the CPU limit is all it may use). Over SSH: <code>resource:limit ${app} --memory 512m --cpus 1 TYPE</code>.</small></p>
</section>`;
}
