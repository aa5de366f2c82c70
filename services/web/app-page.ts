// The app page at /apps/:app: processes and instances, releases,
// domains and certificates, config keys, and for those who may change the
// app its controls (app-controls.ts). An app the actor may not see is the
// same 404 as a missing one (authorizeApp). Config values never reach this
// page's HTML: only the key names, and a button to reveal them for those
// allowed (config-page.ts).
import type Docker from 'dockerode';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { html, type Safe } from '../core/html.ts';
import type { App, Formation, Release, Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp, mayAccess } from '../platform/apps/access.ts';
import { configOf } from '../platform/apps/config.ts';
import { domainsReport } from '../platform/apps/domains.ts';
import { appOverview } from '../platform/apps/overview.ts';
import { type BuildInfo, type HistoryOptions, listBuilds } from '../platform/build/history.ts';
import type { BuildQueue } from '../platform/build/queue.ts';
import { RELEASE_PHASE } from '../platform/release/rollout.ts';
import type { Instance, InstanceUsage } from '../platform/scheduler/scheduler.ts';
import { schedulerFor } from '../platform/scheduler/schedulers.ts';
import { csrfOf, type OutcomeQuery, outcomeOf, restartButton, scaleForm } from './app-controls.ts';
import { formationText, lastDeploy } from './apps-page.ts';
import { actorOf } from './auth.ts';
import { configSection } from './config-page.ts';
import { latencyChart } from './latency-chart.ts';
import { page, signedInHeader, statusWord, time } from './layout.ts';
import { LIVE_SCRIPT } from './live-script.ts';
import { signOutForm } from './sign-in-routes.ts';
import { CHART_HOURS, trafficChart } from './traffic-chart.ts';

/** Releases the page lists, newest first. */
export const PAGE_RELEASES = 20;
/** Builds the page links, newest first. */
export const PAGE_BUILDS = 5;
/** How long the page waits for the Docker Engine's instance list. */
export const ENGINE_TIMEOUT_MS = 1000;
/**
 * How long the page waits, after the list, for the running instances' CPU
 * and memory: the Engine answers them after up to two of its once-a-second
 * readings (the scheduler's usage).
 */
export const USAGE_TIMEOUT_MS = 2500;

export type EngineClient = () => Promise<Docker>;

/** An instance as the page and the API show it: with its CPU and memory while it runs. */
export type ShownInstance = Instance & { usage?: InstanceUsage };

export type InstancesResult = { instances: ShownInstance[] } | { note: string };

/**
 * ps:report's instances, or why there are none to show, within timeoutMs;
 * with what the running ones use when that comes within USAGE_TIMEOUT_MS
 * more (or timeoutMs, if longer), the list is shown without it otherwise.
 */
export async function instancesWithin(
  store: Store,
  engine: EngineClient | undefined,
  app: string,
  timeoutMs = ENGINE_TIMEOUT_MS,
): Promise<InstancesResult> {
  if (!engine) return { note: 'No Docker Engine is configured for the web app.' };
  const listed = await within(
    timeoutMs,
    (async () => {
      try {
        const scheduler = await schedulerFor(store, app, { docker: await engine() });
        return { scheduler, instances: await scheduler.list(app) };
      } catch (e) {
        return { note: `Engine not answering: ${(e as Error).message}` };
      }
    })(),
  );
  if (listed === undefined) {
    return {
      note: `Engine not answering (no instance list within ${timeoutMs} ms); the counts above are what the release asks for.`,
    };
  }
  if ('note' in listed) return listed;
  const running = listed.instances.filter((i) => i.state === 'running').map((i) => i.id);
  const usage =
    running.length === 0
      ? undefined
      : await within(
          Math.max(USAGE_TIMEOUT_MS, timeoutMs),
          listed.scheduler.usage(running).catch(() => undefined),
        );
  return {
    instances: listed.instances.map((i) => {
      const u = usage?.get(i.id);
      return u ? { ...i, usage: u } : i;
    }),
  };
}

/** `p`'s value, or undefined when it takes longer than `ms`. */
async function within<T>(ms: number, p: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

function uptime(since: string | undefined, now: number): string {
  if (!since) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function instancesTable(r: InstancesResult): Safe {
  if ('note' in r) return html`<p class="note">${r.note}</p>`;
  if (r.instances.length === 0) return html`<p>No instances on the Engine.</p>`;
  const now = Date.now();
  return html`<table><thead><tr><th>instance</th><th>release</th><th>state</th><th>up</th><th>restarts</th><th>exit</th><th>CPU</th><th>memory</th></tr></thead><tbody>${r.instances.map(
    (i) =>
      // A process that keeps exiting is shown as crashed, as ps:report does.
      html`<tr><td>${i.type}.${i.instance}</td><td>v${i.release}</td><td>${i.state === 'restarting' || (i.state === 'exited' && i.restarts > 0) ? 'crashed' : i.state}</td><td>${i.state === 'running' ? uptime(i.startedAt, now) : '—'}</td><td>${i.restarts}</td><td>${i.exitCode ?? '—'}</td>${usageCells(i.usage)}</tr>`,
  )}</tbody></table><p><small>CPU: percent of one CPU over the Engine's last second; memory without page cache, of its limit (as docker stats); — when the Engine did not give them in time.</small></p>`;
}

const MIB = 1024 * 1024;

function usageCells(u: InstanceUsage | undefined): Safe {
  if (!u) return html`<td>—</td><td>—</td>`;
  const mib = (n: number) =>
    n >= 10 * 1024 * MIB ? `${(n / 1024 / MIB).toFixed(1)} GiB` : `${(n / MIB).toFixed(1)} MiB`;
  return html`<td>${u.cpuPercent.toFixed(1)}%</td><td>${mib(u.memoryBytes)}${u.memoryLimitBytes > 0 ? html` <small>of ${mib(u.memoryLimitBytes)}</small>` : ''}</td>`;
}

/** The newest builds as links to their log pages. */
function buildsTable(app: string, builds: BuildInfo[]): Safe {
  if (builds.length === 0) return html`<p>No builds yet.</p>`;
  return html`<table><thead><tr><th>build</th><th>commit</th><th>by</th><th>when</th><th>status</th></tr></thead><tbody>${builds.map(
    (b) =>
      html`<tr><td><a href="/apps/${app}/builds/${b.id}">${b.id}</a></td><td>${b.rev?.slice(0, 7) ?? '—'}</td><td>${b.pusher ?? '—'}</td><td>${time(b.requestedAt)}</td><td>${statusWord(b.status)}${b.error ? html`<br><small>${b.error}</small>` : ''}</td></tr>`,
  )}</tbody></table>`;
}

/** A "Roll back to vN" link (to the confirmation page) for a release one may go back to. */
function rollbackControl(app: string, r: Release, current: number | undefined): Safe | string {
  if (r.status !== 'succeeded' || !r.image || current === undefined || r.version === current)
    return '';
  return html`<a href="/apps/${app}/rollback?to=${r.version}">Roll back to v${r.version}</a>`;
}

export interface AppPageOptions {
  store: Store;
  domain: string;
  engine?: EngineClient;
  engineTimeoutMs?: number;
  builds?: { queue: BuildQueue; history: HistoryOptions };
}

/**
 * Answers with the app page of an app the actor may see, `notice` at its top:
 * the GET below, and a control's POST that met an error (control-routes.ts),
 * which shows the page again with the error where the outcome goes.
 */
export type RenderAppPage = (
  req: FastifyRequest,
  reply: FastifyReply,
  found: App,
  notice: Safe,
) => Promise<FastifyReply>;

/** The process types a row shows: those with a count, and every one the image has (0 too, to scale up). */
function processTypes(formation: Formation, current: Release | undefined): string[] {
  const types = new Set([...Object.keys(formation), ...Object.keys(current?.processes ?? {})]);
  types.delete(RELEASE_PHASE);
  return [...types].sort();
}

export function appPageRoutes(server: FastifyInstance, o: AppPageOptions): RenderAppPage {
  const render: RenderAppPage = async (req, reply, found, notice) => {
    const name = found.name;
    // Those who may change the app (as ps:scale, ps:restart, config:set) get its controls.
    const canChange = mayAccess(actorOf(req), found, 'push');
    const csrf = csrfOf(req);
    const now = new Date();
    const [overview, releases, domains, config, instances, builds, traffic, current] =
      await Promise.all([
        appOverview(o.store, found, o.domain),
        o.store.releases.list(name, { limit: PAGE_RELEASES }),
        domainsReport(o.store, found, { base: o.domain }),
        configOf(o.store, found),
        instancesWithin(o.store, o.engine, name, o.engineTimeoutMs),
        o.builds
          ? listBuilds(o.store.redis, o.store.keys.prefix, o.builds.queue, name, {
              ...o.builds.history,
              limit: PAGE_BUILDS,
            })
          : [],
        o.store.metrics.minutes(name, new Date(now.getTime() - CHART_HOURS * 3600_000), now),
        // The processes the image has, also those at 0 (the overview has counts only).
        o.store.releases.current(name),
      ]);
    const keys = Object.keys(config).sort();
    const types = processTypes(overview.formation, current);
    // Scaling and restarting need a deployed release (scale and restart refuse otherwise).
    const running = canChange && Boolean(current?.image);
    const scalable = (t: string) => running && t in (current?.processes ?? {});
    const body = html`${signedInHeader(req, signOutForm)}
<h2>${name} ${statusWord(overview.status)}</h2>
${notice}
<p>Owner ${found.owner}${found.collaborators.length > 0 ? html`, collaborators ${found.collaborators.join(', ')}` : ''}.
Current release ${overview.current ? `v${overview.current.version}` : '—'}; last deploy ${lastDeploy(overview)}</p>
${overview.latest?.status === 'failed' && overview.latest.error ? html`<p class="note">v${overview.latest.version} failed: ${overview.latest.error}</p>` : ''}
<h3>Processes</h3>
${
  types.length === 0
    ? html`<p>No processes yet.</p>`
    : html`<table><thead><tr><th>type</th><th>instances</th><th></th>${running ? html`<th>scale</th>` : ''}</tr></thead><tbody>${types.map(
        (t) =>
          html`<tr><td>${t}</td><td>${overview.formation[t] ?? 0}</td><td>${overview.stopped.includes(t) || overview.stopped.includes('_all_') ? 'stopped (ps:stop)' : ''}</td>${running ? html`<td>${scalable(t) ? scaleForm(name, t, overview.formation[t] ?? 0, csrf) : ''}</td>` : ''}</tr>`,
      )}</tbody></table><p><small>${formationText(overview.formation)}; the router sends requests to ${overview.routed} web ${overview.routed === 1 ? 'instance' : 'instances'}.</small></p>`
}
${running ? restartButton(name) : ''}
${instancesTable(instances)}
<h3>Traffic</h3>
${trafficChart(traffic)}
${latencyChart(traffic, CHART_HOURS)}
<h3>Releases</h3>
${
  releases.length === 0
    ? html`<p>No releases yet.</p>`
    : html`<table><thead><tr><th>release</th><th>what changed</th><th>by</th><th>when</th><th>status</th>${canChange ? html`<th></th>` : ''}</tr></thead><tbody>${releases.map(
        (r) =>
          html`<tr><td>v${r.version}</td><td>${r.description}</td><td>${r.by}</td><td>${time(r.createdAt)}</td><td>${statusWord(r.status)}${r.error ? html`<br><small>${r.error}</small>` : ''}</td>${canChange ? html`<td>${rollbackControl(name, r, overview.current?.version)}</td>` : ''}</tr>`,
      )}</tbody></table>${releases.length === PAGE_RELEASES ? html`<p><small>The newest ${PAGE_RELEASES}; <code>releases</code> over SSH lists more.</small></p>` : ''}`
}
<h3>Logs</h3>
<p><button type="button" id="tail-logs" hidden>Tail the log live</button> <small>Or over SSH: <code>logs ${name} -t</code>.</small></p>
<pre id="runtime-log" data-stream="/apps/${name}/logs/stream"></pre>
${LIVE_SCRIPT}
<h3>Builds</h3>
${buildsTable(name, builds)}
<h3>Domains</h3>
<table><thead><tr><th>domain</th><th>kind</th><th>certificate</th><th>expires</th><th>last error</th></tr></thead><tbody>${domains.map(
      (d) =>
        html`<tr><td><a href="http://${d.domain}/">${d.domain}</a></td><td>${d.kind}</td><td>${d.certificate ? `${d.certificate.source}${d.certificate.issuer ? ` (${d.certificate.issuer})` : ''}` : 'none'}</td><td>${time(d.certificate?.notAfter)}</td><td>${d.certificate?.lastError ?? ''}</td></tr>`,
    )}</tbody></table>
<h3>Config</h3>
${configSection(req, found, keys, canChange)}`;
    return reply
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(page(`${name} · Berth`, body));
  };

  server.get<{ Params: { app: string }; Querystring: OutcomeQuery }>(
    '/apps/:app',
    { config: { auth: 'page' } },
    async (req, reply) => {
      const name = validate.appName(req.params.app);
      const found = await authorizeApp(o.store, actorOf(req), name, 'read');
      return render(req, reply, found, await outcomeOf(o.store, name, req.query));
    },
  );
  return render;
}
