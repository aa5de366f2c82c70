// The app page's Cron section: the scheduled tasks of the current release's
// app.json, each with its schedule, next run and how its last run went: what
// cron:list prints (the same function, listCron), for anyone who may see the
// app.
import { html, type Safe } from '../core/html.ts';
import type { Store } from '../core/store/index.ts';
import { type CronListing, cronTasks, listCron } from '../platform/release/cron.ts';
import { dataTable, statusWord, time } from './layout.ts';

function lastRun(t: CronListing): Safe | string {
  const r = t.last;
  if (!r) return 'never';
  const how = r.status === 'failed' && r.exitCode !== undefined ? `exit ${r.exitCode}` : '';
  return html`${statusWord(r.status)} ${time(r.startedAt)}${how ? html` <small>${how}</small>` : ''}${r.late ? html` <small>late: due ${time(r.dueAt)}, Berth was not running</small>` : ''}${r.note ? html`<br><small>${r.note}</small>` : ''}`;
}

export async function cronSection(store: Store, app: string): Promise<Safe> {
  // Most apps have none: then no look at the cron queue's schedulers.
  const tasks =
    cronTasks(await store.releases.current(app)).length === 0 ? [] : await listCron(store, app);
  return html`<section class="card" aria-labelledby="cron"><h2 id="cron">Cron</h2>
${
  tasks.length === 0
    ? html`<p>No cron tasks: app.json's <code>cron</code> adds them (<code>{"command": "&hellip;", "schedule": "@daily"}</code>).</p>`
    : dataTable(
        ['id', 'schedule', 'command', 'next run', 'last run'],
        tasks.map((t) => [
          html`<code>${t.id}</code>`,
          html`<code>${t.schedule}</code>`,
          html`<code>${t.command.length > 80 ? `${t.command.slice(0, 80)}…` : t.command}</code>`,
          t.suspended ? statusWord('suspended') : t.maintenance ? 'maintenance' : time(t.next),
          lastRun(t),
        ]),
        { id: 'cron-table', label: 'Cron tasks' },
      )
}
<p><small>Over SSH: <code>cron:run ${app} ID</code> runs one now, <code>cron:logs ${app} ID</code> shows its last output, <code>cron:suspend</code> and <code>cron:resume</code>.</small></p>
</section>`;
}
