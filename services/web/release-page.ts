// A release's page at /apps/:app/releases/:version: what it changed against
// the release before it (services/platform/release/release-diff.ts): the
// image, the config keys added, removed or changed (names only: values never
// reach a page unless revealed, config-page.ts), the formation and the
// process types; who made it, when, and why it failed if it did. Anyone who
// may see the app may see it; another user's app is the 404 of a missing one.
import type { FastifyInstance } from 'fastify';
import { BerthError } from '../core/errors.ts';
import { html, type Safe } from '../core/html.ts';
import type { Store } from '../core/store/index.ts';
import * as validate from '../core/validate.ts';
import { authorizeApp, mayAccess } from '../platform/apps/access.ts';
import { releaseDiff } from '../platform/release/release-diff.ts';
import { releaseVersion } from '../platform/release/releases.ts';
import { actorOf } from './auth.ts';
import { dataTable, page, signedInHeader, statusWord, time } from './layout.ts';
import { signOutForm } from './sign-in-routes.ts';

const keyList = (keys: readonly string[]): Safe =>
  html`${keys.map((k, i) => html`${i > 0 ? ', ' : ''}<code>${k}</code>`)}`;

export function releasePageRoutes(server: FastifyInstance, o: { store: Store }) {
  server.get<{ Params: { app: string; version: string } }>(
    '/apps/:app/releases/:version',
    { config: { auth: 'page' } },
    async (req, reply) => {
      const actor = actorOf(req);
      const found = await authorizeApp(o.store, actor, validate.appName(req.params.app), 'read');
      const version = releaseVersion(req.params.version);
      const release = await o.store.releases.get(found.name, version);
      if (!release)
        throw new BerthError('BERTH_E_RELEASE_NOT_FOUND', {
          app: found.name,
          version: `v${version}`,
        });
      const previous =
        version > 1 ? await o.store.releases.get(found.name, version - 1) : undefined;
      const current = await o.store.releases.current(found.name);
      const diff = releaseDiff(release, previous);
      const rows: [string, Safe | string][] = [];
      if (diff.image) {
        rows.push([
          'image',
          html`<code>${diff.image.from ?? 'none'}</code> &rarr; <code>${diff.image.to ?? 'none'}</code>`,
        ]);
      }
      if (diff.config.added.length > 0) rows.push(['config added', keyList(diff.config.added)]);
      if (diff.config.changed.length > 0)
        rows.push(['config changed', keyList(diff.config.changed)]);
      if (diff.config.removed.length > 0)
        rows.push(['config removed', keyList(diff.config.removed)]);
      for (const f of diff.formation) rows.push([`${f.type} instances`, `${f.from} → ${f.to}`]);
      if (diff.processes.added.length > 0)
        rows.push(['process types added', keyList(diff.processes.added)]);
      if (diff.processes.removed.length > 0)
        rows.push(['process types removed', keyList(diff.processes.removed)]);
      if (diff.processes.changed.length > 0)
        rows.push(['commands changed', keyList(diff.processes.changed)]);
      const mayRollBack =
        mayAccess(actor, found, 'push') &&
        release.status === 'succeeded' &&
        Boolean(release.image) &&
        current !== undefined &&
        current.version !== release.version;
      const body = html`<div class="page-head"><h1><a href="/apps/${found.name}">${found.name}</a> v${release.version}</h1> ${statusWord(release.status)}</div>
<p class="lede">${release.description}, by ${release.by}, ${time(release.createdAt)}${current?.version === release.version ? ' (the current release)' : ''}.</p>
${release.error ? html`<p class="note">It failed: ${release.error}</p>` : ''}
<section class="card" aria-labelledby="changes"><h2 id="changes">What changed${previous ? html` since v${previous.version}` : ''}</h2>
${
  rows.length === 0
    ? html`<p>Nothing but the release itself (a restart or a rollout of the same image and config).</p>`
    : dataTable(['what', 'change'], rows, { id: 'release-diff', label: 'Changes' })
}
<p><small>Config values are not shown here; those who may see them reveal them on the app's page.</small></p>
${mayRollBack ? html`<p><a class="button" href="/apps/${found.name}/rollback?to=${release.version}">Roll back to v${release.version}</a></p>` : ''}
</section>`;
      return reply
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(
          page(
            `${found.name} v${release.version} · Berth`,
            body,
            signedInHeader(req, signOutForm, 'apps'),
          ),
        );
    },
  );
}
