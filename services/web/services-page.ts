// Backing services (postgres:*, redis:*, mysql:*) on the web app: the
// Services page lists those the user may see (theirs; an admin's: every
// one), and the app page a section with those linked to the app. Each shows
// its status, the size of its data volume, its last backup, and for those
// who may change it (its owner and admins, as postgres:backup asks) a
// "Back up now" button that runs the command's own function (takeBackup).
//
// A backup runs on after the button's answer: a dump takes as long as the
// data does, and the page never waits for it. While it runs, its service
// says so and a second press starts none; how it ended shows under Last
// backup (a failure here with its reason, as the command would print it).
// The Engine is asked within a bound and its slower figure, the volume's
// size (a walk of its files), kept for a while (engine-cache.ts).
import type Docker from 'dockerode';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Actor, actorName } from '../core/actor.ts';
import { execInContainer } from '../core/docker-exec.ts';
import { BerthError, errorLine } from '../core/errors.ts';
import { html, type Safe } from '../core/html.ts';
import type { Datastore, Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp } from '../platform/apps/access.ts';
import { backupSettings } from '../platform/datastores/backup-schedule.ts';
import { listBackups, takeBackup } from '../platform/datastores/backups.ts';
import { mayUse, requireDatastore, visibleDatastores } from '../platform/datastores/datastores.ts';
import type { DatastoreKind } from '../platform/datastores/kind.ts';
import { KINDS, kindNamed } from '../platform/datastores/kinds.ts';
import { type EngineDeps, serverName, serverState } from '../platform/datastores/server.ts';
import { csrfOf } from './app-controls.ts';
import type { EngineClient } from './app-page.ts';
import { actorOf } from './auth.ts';
import { EngineCache } from './engine-cache.ts';
import { dataTable, page, signedInHeader, statusWord, time } from './layout.ts';
import { signOutForm } from './sign-in-routes.ts';

/** How long a page waits for a service's container state, and for its volume's size. */
const STATE_WAIT_MS = 1000;
const SIZE_WAIT_MS = 1500;
/** How long a volume's size is kept: sizes change slowly, and each is a walk of the files. */
const SIZE_TTL_MS = 5 * 60_000;

export interface ServicesOptions {
  store: Store;
  engine?: EngineClient;
  /** BERTH_APP_NETWORKS, as the commands reach the servers with it. */
  appNetworks?: string;
  /** Where backups go and how many a service keeps by default; absent: no backups here. */
  backups?: { dataDir: string; keep: number };
}

type Key = `${string}/${string}`;
const keyOf = (ds: Pick<Datastore, 'kind' | 'name'>): Key => `${ds.kind}/${ds.name}`;

/** The backups the web app runs now, and how each one's last ended (this process's). */
export class BackupRuns {
  readonly running = new Map<Key, string>();
  readonly failed = new Map<Key, { at: string; error: string }>();
}

/** What a row says about one service. */
interface ServiceRow {
  ds: Datastore;
  kind: DatastoreKind;
  status: string;
  sizeBytes: number | undefined;
  last: { at: string; ok: boolean; detail: string } | undefined;
  running: string | undefined;
  links: string[];
}

const sizeText = (n: number | undefined) =>
  n === undefined
    ? '—'
    : n >= 1024 ** 3
      ? `${(n / 1024 ** 3).toFixed(1)} GiB`
      : `${(n / 1024 ** 2).toFixed(1)} MiB`;

export function servicesView(o: ServicesOptions, runs: BackupRuns) {
  const sizes = new EngineCache<number>(SIZE_TTL_MS);

  async function engineDeps(): Promise<EngineDeps | undefined> {
    if (!o.engine) return undefined;
    const docker: Docker = await o.engine();
    return { docker, ...(o.appNetworks ? { appNetworks: o.appNetworks } : {}) };
  }

  /** The data volume's size, as `du` in the server's container counts it. */
  async function volumeSize(d: EngineDeps, kind: DatastoreKind, ds: Datastore): Promise<number> {
    const r = await execInContainer(
      d.docker.getContainer(serverName(ds.kind, ds.name)),
      ['du', '-sk', kind.dataPath],
      { signal: AbortSignal.timeout(30_000) },
    );
    const kib = Number(/^([0-9]+)/.exec(r.stdout)?.[1]);
    if (!Number.isFinite(kib)) throw new Error(`du: exit ${r.exitCode}`);
    return kib * 1024;
  }

  async function rowOf(ds: Datastore, links: string[]): Promise<ServiceRow> {
    const kind = kindNamed(ds.kind);
    const d = await engineDeps().catch(() => undefined);
    const state = d
      ? await Promise.race([
          serverState(d, ds).then(
            (s) => s.status,
            () => 'unknown',
          ),
          new Promise<string>((r) => setTimeout(() => r('unknown'), STATE_WAIT_MS).unref()),
        ])
      : 'unknown';
    const sizeBytes =
      d && state === 'running'
        ? await sizes.get(keyOf(ds), () => volumeSize(d, kind, ds), SIZE_WAIT_MS)
        : undefined;
    const newest = o.backups
      ? (await listBackups(o.backups.dataDir, kind, ds).catch(() => [])).at(-1)
      : undefined;
    const scheduled = (await backupSettings(o.store, ds)).last;
    const failedHere = runs.failed.get(keyOf(ds));
    const candidates = [
      newest && {
        at: newest.createdAt,
        ok: true,
        detail: `${sizeText(newest.size)}, ${newest.trigger}`,
      },
      scheduled?.status === 'failed' && {
        at: scheduled.at,
        ok: false,
        detail: `schedule: ${scheduled.error ?? 'failed'}`,
      },
      failedHere && { at: failedHere.at, ok: false, detail: failedHere.error },
    ].filter((c): c is { at: string; ok: boolean; detail: string } => Boolean(c));
    const last = candidates.sort((a, b) => b.at.localeCompare(a.at))[0];
    return {
      ds,
      kind,
      status: state,
      sizeBytes,
      last,
      running: runs.running.get(keyOf(ds)),
      links,
    };
  }

  function backupButton(r: ServiceRow, csrf: string, back: string | undefined): Safe | string {
    if (!o.backups) return '';
    if (r.running) return html`<small>backing up since ${time(r.running)}</small>`;
    return html`<form method="post" action="/services/${r.ds.kind}/${r.ds.name}/backup" class="inline"><input type="hidden" name="_csrf" value="${csrf}">${back ? html`<input type="hidden" name="back" value="${back}">` : ''}<button type="submit" aria-label="Back up now: ${r.ds.name}">Back up now</button></form>`;
  }

  /** The table of services; `back`: the app whose page the button returns to. */
  function table(
    rows: ServiceRow[],
    actor: Actor,
    csrf: string,
    o2: { back?: string; id: string; withLinks: boolean },
  ): Safe {
    const mayBackUp = rows.some((r) => mayUse(actor, r.ds, 'change'));
    return dataTable(
      [
        'service',
        'kind',
        ...(o2.withLinks ? ['linked apps'] : ['as']),
        'status',
        { label: 'size', num: true },
        'last backup',
        ...(mayBackUp ? [{ label: 'back up', hidden: true }] : []),
      ],
      rows.map((r) => [
        r.ds.name,
        `${r.kind.title} ${r.ds.version}`,
        o2.withLinks
          ? r.links.length === 0
            ? '—'
            : html`${r.links.map((a, i) => html`${i > 0 ? ', ' : ''}<a href="/apps/${a}">${a}</a>`)}`
          : (r.links[0] ?? ''),
        statusWord(r.status),
        sizeText(r.sizeBytes),
        r.last
          ? html`${time(r.last.at)}${r.last.ok ? '' : html` ${statusWord('failed')}`}<br><small>${r.last.detail}</small>`
          : 'never',
        ...(mayBackUp ? [mayUse(actor, r.ds, 'change') ? backupButton(r, csrf, o2.back) : ''] : []),
      ]),
      { id: o2.id, label: 'Backing services' },
    );
  }

  return {
    /** The app page's section: the services linked to the app (what its config's URLs point at). */
    async section(req: FastifyRequest, app: string): Promise<Safe> {
      const linked = await o.store.datastores.linksOf(app);
      const rows = await Promise.all(linked.map((l) => rowOf(l.datastore, [l.alias])));
      return html`<section class="card" aria-labelledby="services-heading"><h2 id="services-heading">Backing services</h2>
${
  rows.length === 0
    ? html`<p>No services linked. Over SSH: <code>postgres:create NAME</code>, then <code>postgres:link NAME ${app}</code> (or redis:, mysql:).</p>`
    : table(rows, actorOf(req), csrfOf(req), { back: app, id: 'app-services', withLinks: false })
}
</section>`;
    },

    /** The Services page's rows: every service the actor may see. */
    async all(req: FastifyRequest): Promise<Safe> {
      const actor = actorOf(req);
      const mine = (
        await Promise.all(KINDS.map((k) => visibleDatastores(o.store, actor, k)))
      ).flat();
      const rows = await Promise.all(
        mine.map(async (ds) =>
          rowOf(
            ds,
            (await o.store.datastores.links(ds.kind, ds.name)).map((l) => l.app),
          ),
        ),
      );
      return rows.length === 0
        ? html`<p>No services yet. Over SSH: <code>postgres:create NAME</code> (or redis:, mysql:) makes one, <code>postgres:link NAME APP</code> gives an app its URL.</p>`
        : table(rows, actor, csrfOf(req), { id: 'services-table', withLinks: true });
    },
  };
}

/** Fixed words for the Services page's ?done= (nothing from the URL reaches the page). */
const DONE = new Map([
  [
    'backup-started',
    'Backup started: it runs on while you use the page; reload to see it under Last backup.',
  ],
  [
    'backup-running',
    'A backup of that service is running already: reload to see it under Last backup.',
  ],
]);

export function servicesRoutes(server: FastifyInstance, o: ServicesOptions) {
  const runs = new BackupRuns();
  const view = servicesView(o, runs);

  server.get<{ Querystring: { done?: string } }>(
    '/services',
    { config: { auth: 'page' } },
    async (req, reply) => {
      const done = typeof req.query.done === 'string' ? DONE.get(req.query.done) : undefined;
      const body = html`<div class="page-head"><h1>Services</h1></div>
${done ? html`<p class="note" id="outcome">${done}</p>` : ''}
<section class="card" aria-labelledby="services-heading"><h2 id="services-heading">Backing services</h2>
${await view.all(req)}
<p><small>Size: the data volume's, counted every few minutes. Backups go to the data directory (<code>postgres:backup-list NAME</code> over SSH lists them; <code>postgres:backup-schedule</code> takes them on a schedule).</small></p>
</section>`;
      return reply
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(page('Services · Berth', body, signedInHeader(req, signOutForm, 'services')));
    },
  );

  // postgres:backup NAME (redis:, mysql:): the owner's and admins' right, as
  // over SSH; another user's service is the 404 of a missing one.
  server.post<{ Params: { kind: string; name: string }; Body: unknown }>(
    '/services/:kind/:name/backup',
    { config: { auth: 'page' } },
    async (req, reply) => {
      const kind = KINDS.find((k) => k.name === req.params.kind);
      if (!kind) {
        throw new BerthError('BERTH_E_DATASTORE_NOT_FOUND', {
          title: 'backing',
          name: req.params.name.slice(0, 64),
          kind: req.params.kind.slice(0, 16),
        });
      }
      const actor = actorOf(req);
      const ds = await requireDatastore(o.store, actor, kind, req.params.name, 'change');
      const backField = (req.body as Record<string, unknown> | null)?.back;
      // Back to the app page it was pressed on, when the user may see that app.
      const back =
        typeof backField === 'string'
          ? `/apps/${(await authorizeApp(o.store, actor, validate.appName(backField), 'read')).name}`
          : '/services';
      const backups = o.backups;
      const engine = o.engine;
      if (!backups || !engine) {
        throw new BerthError('BERTH_E_USAGE', { reason: 'backups are taken over SSH here' });
      }
      const key = keyOf(ds);
      if (runs.running.has(key)) return reply.redirect(`${back}?done=backup-running`, 303);
      runs.running.set(key, new Date().toISOString());
      const keep = (await backupSettings(o.store, ds)).keep ?? backups.keep;
      const d = {
        docker: await engine(),
        ...(o.appNetworks ? { appNetworks: o.appNetworks } : {}),
        dataDir: backups.dataDir,
      };
      void takeBackup(d, kind, ds, {
        keep,
        trigger: 'backup',
        signal: new AbortController().signal,
      })
        .then(
          (b) => {
            runs.failed.delete(key);
            req.log.info({ service: key, id: b.id, by: actorName(actor) }, 'backup taken');
          },
          (e: unknown) => {
            runs.failed.set(key, { at: new Date().toISOString(), error: errorLine(e) });
            req.log.warn({ service: key, err: e }, 'backup failed');
          },
        )
        .finally(() => runs.running.delete(key));
      return reply.redirect(`${back}?done=backup-started`, 303);
    },
  );
  return view;
}
