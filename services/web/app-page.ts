// The app page at /apps/:app: processes and instances, releases,
// domains and certificates, config keys, and for those who may change the
// app its controls (app-controls.ts). An app the actor may not see is the
// same 404 as a missing one (authorizeApp). Config values never reach this
// page's HTML: only the key names, and a button to reveal them for those
// allowed (config-page.ts).
import type Docker from 'dockerode';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { html, type Safe } from '../core/html.ts';
import type { Formation, Release, Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp, mayAccess } from '../platform/apps/access.ts';
import { configOf } from '../platform/apps/config.ts';
import { domainsReport } from '../platform/apps/domains.ts';
import { appOverview } from '../platform/apps/overview.ts';
import { type BuildInfo, type HistoryOptions, listBuilds } from '../platform/build/history.ts';
import type { BuildQueue } from '../platform/build/queue.ts';
import { RELEASE_PHASE } from '../platform/release/rollout.ts';
import type { Instance, InstanceUsage } from '../platform/scheduler/scheduler.ts';
import { type SchedulerDeps, schedulerFor } from '../platform/scheduler/schedulers.ts';
import { letsencryptForm, letsencryptOn, redeployForm } from './app-actions.ts';
import {
  addCollaboratorForm,
  addDomainForm,
  csrfOf,
  type OutcomeQuery,
  outcomeOf,
  removeCollaboratorForm,
  removeDomainForm,
  restartButton,
  scaleForm,
} from './app-controls.ts';
import { formationText, lastDeploy } from './apps-page.ts';
import { actorOf } from './auth.ts';
import { configSection } from './config-page.ts';
import { cronSection } from './cron-section.ts';
import { EngineCache } from './engine-cache.ts';
import { latencyChart } from './latency-chart.ts';
import { dataTable, page, signedInHeader, statusWord, time } from './layout.ts';
import { resourcesSection } from './limits-section.ts';
import { LIVE_SCRIPT } from './live-script.ts';
import { notificationsSection } from './notifications.ts';
import type { RenderAppPage } from './page-control.ts';
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
/**
 * How long an app's usage figures are kept: each is a `docker stats` per
 * running instance, which the Engine answers after up to two of its
 * once-a-second readings, so that reloads, and several people on one page,
 * ask the Engine once per period. Within it every view shows the same figures.
 */
export const USAGE_TTL_MS = 10_000;
/** Running instances an app's page asks the Engine about at most. */
export const USAGE_INSTANCES_MAX = 50;
const usageCache = new EngineCache<Map<string, InstanceUsage>>(USAGE_TTL_MS);

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
  deps: Omit<SchedulerDeps, 'docker'> = {},
): Promise<InstancesResult> {
  if (!engine) return { note: 'No Docker Engine is configured for the web app.' };
  const listed = await within(
    timeoutMs,
    (async () => {
      try {
        const scheduler = await schedulerFor(store, app, { ...deps, docker: await engine() });
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
  const running = listed.instances
    .filter((i) => i.state === 'running')
    .map((i) => i.id)
    .slice(0, USAGE_INSTANCES_MAX);
  const usage =
    running.length === 0
      ? undefined
      : await usageCache.get(
          `${app} ${[...running].sort().join(' ')}`,
          () => listed.scheduler.usage(running),
          Math.max(USAGE_TIMEOUT_MS, timeoutMs),
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
  return html`${dataTable(
    [
      'instance',
      'release',
      'state',
      'up',
      { label: 'restarts', num: true },
      { label: 'exit', num: true },
      { label: 'CPU', num: true },
      { label: 'memory', num: true },
    ],
    r.instances.map((i) => [
      `${i.type}.${i.instance}`,
      `v${i.release}`,
      // A process that keeps exiting is shown as crashed, as ps:report does.
      statusWord(
        i.state === 'restarting' || (i.state === 'exited' && i.restarts > 0) ? 'crashed' : i.state,
      ),
      i.state === 'running' ? uptime(i.startedAt, now) : '—',
      i.restarts,
      i.exitCode ?? '—',
      ...usageCells(i.usage),
    ]),
    { id: 'instances', label: 'Instances' },
  )}<p><small>CPU: percent of one CPU over the Engine's last second; memory without page cache, of its limit (as docker stats); &mdash; when the Engine did not give them in time.</small></p>`;
}

const MIB = 1024 * 1024;

function usageCells(u: InstanceUsage | undefined): (Safe | string)[] {
  if (!u) return ['—', '—'];
  const mib = (n: number) =>
    n >= 10 * 1024 * MIB ? `${(n / 1024 / MIB).toFixed(1)} GiB` : `${(n / MIB).toFixed(1)} MiB`;
  return [
    `${u.cpuPercent.toFixed(1)}%`,
    html`${mib(u.memoryBytes)}${u.memoryLimitBytes > 0 ? html` <small>of ${mib(u.memoryLimitBytes)}</small>` : ''}`,
  ];
}

/** The newest builds as links to their log pages. */
function buildsTable(app: string, builds: BuildInfo[]): Safe {
  if (builds.length === 0) return html`<p>No builds yet.</p>`;
  return dataTable(
    ['build', 'commit', 'by', 'when', 'status'],
    builds.map((b) => [
      html`<a href="/apps/${app}/builds/${b.id}">${b.id}</a>`,
      html`<code>${b.rev?.slice(0, 7) ?? '—'}</code>`,
      b.pusher ?? '—',
      time(b.requestedAt),
      html`${statusWord(b.status)}${b.error ? html`<br><small>${b.error}</small>` : ''}`,
    ]),
    { id: 'builds', label: 'Builds' },
  );
}

/** A "Roll back to vN" link (to the confirmation page) for a release one may go back to. */
function rollbackControl(app: string, r: Release, current: number | undefined): Safe | string {
  if (r.status !== 'succeeded' || !r.image || current === undefined || r.version === current)
    return '';
  return html`<a href="/apps/${app}/rollback?to=${r.version}">Roll back to v${r.version}</a>`;
}

export interface AppPageOptions {
  store: Store;
  /** Where users push (ssh://berth@HOST:PORT), for the git remote line. */
  sshUrl?: string;
  domain: string;
  engine?: EngineClient;
  engineTimeoutMs?: number;
  builds?: { queue: BuildQueue; history: HistoryOptions };
  /** The Redeploy button (ps:rebuild; the app's repository is there). */
  rebuild?: boolean;
  /** The Let's Encrypt on/off control (the web app has the ACME settings). */
  letsencrypt?: boolean;
  /** The Backing services section (services-page.ts). */
  services?: (req: FastifyRequest, app: string) => Promise<Safe>;
  /** What the schedulers are made with besides the Engine (swarm, default limits). */
  schedulerDeps?: Omit<SchedulerDeps, 'docker'>;
}

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
    // Who may give others access (access:add): the owner and admins.
    const canManage = mayAccess(actorOf(req), found, 'manage');
    const csrf = csrfOf(req);
    const now = new Date();
    const [overview, releases, domains, config, instances, builds, traffic, current] =
      await Promise.all([
        appOverview(o.store, found, o.domain),
        o.store.releases.list(name, { limit: PAGE_RELEASES }),
        domainsReport(o.store, found, { base: o.domain }),
        configOf(o.store, found),
        instancesWithin(o.store, o.engine, name, o.engineTimeoutMs, o.schedulerDeps),
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
    const header = signedInHeader(req, signOutForm, 'apps');
    const hosts = domains.map((d) => d.domain);
    const [notifications, services, cron, settings, acmeOn] = await Promise.all([
      notificationsSection(o.store, name, canChange ? csrf : undefined),
      o.services ? o.services(req, name) : html``,
      cronSection(o.store, name),
      o.store.apps.deploySettings(name),
      canManage && o.letsencrypt ? letsencryptOn(o.store, hosts) : false,
    ]);
    const body = html`<div class="page-head"><h1>${name}</h1> ${statusWord(overview.status)}</div>
${notice}
<p class="lede">Owner ${found.owner}${found.collaborators.length > 0 ? html`, collaborators ${found.collaborators.join(', ')}` : ''}.
Current release ${overview.current ? `v${overview.current.version}` : '—'}; last deploy ${lastDeploy(overview)}</p>
${overview.latest?.status === 'failed' && overview.latest.error ? html`<p class="note">v${overview.latest.version} failed: ${overview.latest.error}</p>` : ''}
${
  !current?.image && o.sshUrl && canChange
    ? html`<section class="card" aria-labelledby="deploy"><h2 id="deploy">Deploy it</h2>
<p>From the app's git repository on your machine:</p>
<pre id="git-remote">git remote add deploy ${o.sshUrl}/${name}
git push deploy ${found.deployBranch}</pre>
<p><small>Your SSH key must be Berth's (ssh-keys:add); the push builds the app and prints each step.</small></p></section>`
    : ''
}
<section class="card" aria-labelledby="processes"><h2 id="processes">Processes</h2>
${
  types.length === 0
    ? html`<p>No processes yet.</p>`
    : html`${dataTable(
        [
          'type',
          { label: 'instances', num: true },
          { label: 'state', hidden: true },
          ...(running ? [{ label: 'scale', hidden: true }] : []),
        ],
        types.map((t) => [
          t,
          overview.formation[t] ?? 0,
          overview.stopped.includes(t) || overview.stopped.includes('_all_')
            ? 'stopped (ps:stop)'
            : '',
          ...(running
            ? [scalable(t) ? scaleForm(name, t, overview.formation[t] ?? 0, csrf) : '']
            : []),
        ]),
        { id: 'processes-table', label: 'Process types' },
      )}<p><small>${formationText(overview.formation)}; the router sends requests to ${overview.routed} web ${overview.routed === 1 ? 'instance' : 'instances'}.</small></p>`
}
${running ? html`<div class="actions">${restartButton(name)}${o.rebuild ? redeployForm(name, csrf) : ''}</div>` : ''}
${instancesTable(instances)}
</section>
${resourcesSection(name, types, settings, o.schedulerDeps?.limits, instances)}
<section class="card" aria-labelledby="traffic"><h2 id="traffic">Traffic</h2>
${trafficChart(traffic)}
${latencyChart(traffic)}
</section>
<section class="card" aria-labelledby="releases"><h2 id="releases">Releases</h2>
${
  releases.length === 0
    ? html`<p>No releases yet.</p>`
    : html`${dataTable(
        [
          'release',
          'what changed',
          'by',
          'when',
          'status',
          ...(canChange ? [{ label: 'rollback', hidden: true }] : []),
        ],
        releases.map((r) => [
          html`<a href="/apps/${name}/releases/${r.version}">v${r.version}</a>`,
          r.description,
          r.by,
          time(r.createdAt),
          html`${statusWord(r.status)}${r.error ? html`<br><small>${r.error}</small>` : ''}`,
          ...(canChange ? [rollbackControl(name, r, overview.current?.version)] : []),
        ]),
        { id: 'releases-table', label: 'Releases' },
      )}${releases.length === PAGE_RELEASES ? html`<p><small>The newest ${PAGE_RELEASES}; <code>releases</code> over SSH lists more.</small></p>` : ''}`
}
</section>
<section class="card" aria-labelledby="logs"><h2 id="logs">Logs</h2>
<p><button type="button" id="tail-logs" hidden>Tail the log live</button> <small>Or over SSH: <code>logs ${name} -t</code>.</small></p>
<pre id="runtime-log" data-stream="/apps/${name}/logs/stream"></pre>
${LIVE_SCRIPT}
</section>
<section class="card" aria-labelledby="builds-heading"><h2 id="builds-heading">Builds</h2>
${buildsTable(name, builds)}
</section>
${cron}
<section class="card" aria-labelledby="domains"><h2 id="domains">Domains</h2>
${dataTable(
  [
    'domain',
    'kind',
    'certificate',
    'expires',
    'last error',
    ...(canChange ? [{ label: 'remove', hidden: true }] : []),
  ],
  domains.map((d) => [
    html`<a href="http://${d.domain}/">${d.domain}</a>`,
    d.kind,
    d.certificate
      ? `${d.certificate.source}${d.certificate.issuer ? ` (${d.certificate.issuer})` : ''}`
      : 'none',
    time(d.certificate?.notAfter),
    d.certificate?.lastError ?? '',
    ...(canChange ? [d.kind === 'custom' ? removeDomainForm(name, d.domain, csrf) : ''] : []),
  ]),
  { id: 'domains-table', label: 'Domains' },
)}
${canChange ? addDomainForm(name, csrf) : ''}
${canManage && o.letsencrypt ? letsencryptForm(name, acmeOn, csrf) : ''}
</section>
${services}
${
  canManage
    ? html`<section class="card" aria-labelledby="access"><h2 id="access">Access</h2>
<p>${found.owner} owns ${name}. ${found.collaborators.length === 0 ? 'No collaborators: only the owner and admins may push.' : 'Collaborators may push and run its commands:'}</p>
${
  found.collaborators.length === 0
    ? ''
    : dataTable(
        [{ label: 'collaborator' }, { label: 'remove', hidden: true }],
        found.collaborators.map((u) => [u, removeCollaboratorForm(name, u, csrf)]),
        { id: 'collaborators', label: 'Collaborators' },
      )
}
${addCollaboratorForm(name, csrf)}
</section>`
    : ''
}
<section class="card" aria-labelledby="config"><h2 id="config">Config</h2>
${configSection(req, found, keys, canChange)}
</section>
${notifications}`;
    return reply
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(page(`${name} · Berth`, body, header));
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
