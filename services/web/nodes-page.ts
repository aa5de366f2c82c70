// The Nodes page at /nodes, for admins: the machines apps run on and which
// instances run where. With docker-local that is this machine's Engine,
// one node; where the operator configured a Docker Swarm
// (BERTH_SWARM_MANAGER), its nodes as the manager lists them too, and each
// instance of an app on the swarm scheduler with the node its task runs on.
// Anyone else gets the same 404 as a page that does not exist: the machines
// are the operator's business.
//
// One question per source and view, each bounded (a slow Engine or an
// unreachable manager makes a note, not a slow page), the answers kept a
// few seconds (engine-cache.ts) so that reloads do not add to them. The
// swarm's nodes are nodes:list's (platform/scheduler/swarm-nodes.ts).
import type { FastifyInstance } from 'fastify';
import { isAdmin } from '../core/actor.ts';
import type { SwarmSettings } from '../core/config.ts';
import { LABELS } from '../core/docker.ts';
import { BerthError } from '../core/errors.ts';
import { html, type Safe } from '../core/html.ts';
import type { Store } from '../core/store/index.ts';
import type { Instance } from '../platform/scheduler/scheduler.ts';
import { schedulerNamed } from '../platform/scheduler/schedulers.ts';
import { SWARM_SCHEDULER, type Swarm } from '../platform/scheduler/swarm.ts';
import { listNodes } from '../platform/scheduler/swarm-nodes.ts';
import type { EngineClient } from './app-page.ts';
import { actorOf } from './auth.ts';
import { EngineCache } from './engine-cache.ts';
import { sendError } from './errors.ts';
import { dataTable, page, signedInHeader, statusWord } from './layout.ts';
import { signOutForm } from './sign-in-routes.ts';

/** How long the page waits for each source, and how long an answer is kept. */
const WAIT_MS = 2000;
const TTL_MS = 10_000;

interface NodeRow {
  name: string;
  role: string;
  state: string;
  address: string;
  /** This machine's (the swarm's nodes: nodes:list gives none). */
  cpus?: number;
  memory?: number;
  engine: string;
}

interface Placed {
  app: string;
  instance: string;
  release: number;
  state: string;
  node: string;
}

const gib = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GiB`;

export interface NodesOptions {
  store: Store;
  engine?: EngineClient;
  /** BERTH_SWARM_*: the manager to ask (none: no swarm). */
  swarm?: SwarmSettings;
}

export function nodesPageRoutes(server: FastifyInstance, o: NodesOptions): void {
  const cache = new EngineCache<{ nodes: NodeRow[]; placed: Placed[] }>(TTL_MS, 4);
  /** This machine's Engine, as one node, and the instances docker-local runs on it. */
  async function local(): Promise<{ nodes: NodeRow[]; placed: Placed[] }> {
    if (!o.engine) throw new Error('no Docker Engine is configured for the web app');
    const docker = await o.engine();
    const [info, containers] = await Promise.all([
      docker.info() as Promise<{
        Name: string;
        NCPU: number;
        MemTotal: number;
        ServerVersion: string;
        Swarm?: { NodeAddr?: string };
      }>,
      docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`] } }),
    ]);
    const placed = containers
      .filter((c) => c.Labels[LABELS.app] && c.Labels[LABELS.process])
      .map((c) => ({
        app: c.Labels[LABELS.app] ?? '',
        instance: `${c.Labels[LABELS.process]}.${c.Labels[LABELS.instance] ?? '?'}`,
        release: Number(c.Labels[LABELS.release] ?? 0),
        state: c.State,
        node: info.Name,
      }));
    return {
      nodes: [
        {
          name: info.Name,
          role: 'this machine (docker-local)',
          state: 'ready',
          address: info.Swarm?.NodeAddr || '—',
          cpus: info.NCPU,
          memory: info.MemTotal,
          engine: info.ServerVersion,
        },
      ],
      placed,
    };
  }

  /**
   * The swarm's nodes as nodes:list lists them (the same function, through
   * the swarm scheduler's manager client), and the instances of apps on the
   * swarm scheduler by node. A scheduler made per question: its client, once
   * failed, stays failed, and the manager may answer again by the next view.
   */
  async function swarm(): Promise<{ nodes: NodeRow[]; placed: Placed[] }> {
    if (!o.engine || !o.swarm?.manager) return { nodes: [], placed: [] };
    const scheduler = schedulerNamed(SWARM_SCHEDULER, {
      docker: await o.engine(),
      swarm: o.swarm,
    }) as Swarm;
    const nodes = (await listNodes(await scheduler.manager())).map((n) => ({
      name: n.hostname || n.id.slice(0, 12),
      role: `swarm ${n.role}${n.leader ? ' (leader)' : ''}`,
      state: `${n.state}${n.availability === 'active' ? '' : `, ${n.availability}`}`,
      address: n.address || '—',
      engine: n.engine || '—',
    }));
    // An instance's address is <node address>:<port> (swarm.ts): its node by that address.
    const byAddr = new Map(nodes.map((n) => [n.address, n.name]));
    const placed: Placed[] = [];
    for (const app of await o.store.apps.list()) {
      if ((await o.store.apps.deploySettings(app.name)).scheduler !== SWARM_SCHEDULER) continue;
      const instances: Instance[] = await scheduler.list(app.name);
      for (const i of instances) {
        const host = i.address?.replace(/:[0-9]+$/, '') ?? '';
        placed.push({
          app: app.name,
          instance: `${i.type}.${i.instance}`,
          release: i.release,
          state: i.state,
          node: byAddr.get(host) ?? (host || '—'),
        });
      }
    }
    return { nodes, placed };
  }

  server.get('/nodes', { config: { auth: 'page' } }, async (req, reply) => {
    if (!isAdmin(actorOf(req))) {
      // As a page that does not exist (errors.ts' not-found answer).
      return sendError(
        req,
        reply,
        new BerthError('BERTH_E_USAGE', { reason: 'there is no page /nodes' }),
        404,
      );
    }
    const notes: string[] = [];
    const [here, cluster] = await Promise.all([
      cache.get('local', local, WAIT_MS),
      o.swarm?.manager ? cache.get('swarm', swarm, WAIT_MS) : undefined,
    ]);
    if (!here) notes.push('The Docker Engine did not answer in time (or none is configured).');
    if (o.swarm?.manager && !cluster)
      notes.push(`The swarm manager (${o.swarm.manager}) did not answer in time.`);
    const nodes = [...(here?.nodes ?? []), ...(cluster?.nodes ?? [])];
    const placed = [...(here?.placed ?? []), ...(cluster?.placed ?? [])].sort(
      (a, b) => a.app.localeCompare(b.app) || a.instance.localeCompare(b.instance),
    );
    const nodeTable: Safe = dataTable(
      [
        'node',
        'role',
        'state',
        'address',
        { label: 'CPUs', num: true },
        { label: 'memory', num: true },
        'Engine',
      ],
      nodes.map((n) => [
        n.name,
        n.role,
        statusWord(n.state),
        n.address,
        n.cpus ?? '—',
        n.memory === undefined ? '—' : gib(n.memory),
        n.engine,
      ]),
      { id: 'nodes-table', label: 'Nodes' },
    );
    const body = html`<div class="page-head"><h1>Nodes</h1></div>
${notes.map((n) => html`<p class="note">${n}</p>`)}
<section class="card" aria-labelledby="nodes-heading"><h2 id="nodes-heading">Machines</h2>
${nodes.length === 0 ? html`<p>No node answered.</p>` : nodeTable}
<p><small>${o.swarm?.manager ? "Apps on the swarm scheduler (scheduler:set APP selected swarm) run on the swarm's nodes; the others on this machine." : 'Every app runs on this machine (docker-local). A Docker Swarm is configured with BERTH_SWARM_MANAGER.'}</small></p>
</section>
<section class="card" aria-labelledby="placement"><h2 id="placement">Where each instance runs</h2>
${
  placed.length === 0
    ? html`<p>No instances.</p>`
    : dataTable(
        ['app', 'instance', 'release', 'state', 'node'],
        placed.map((p) => [
          html`<a href="/apps/${p.app}">${p.app}</a>`,
          p.instance,
          `v${p.release}`,
          statusWord(p.state),
          p.node,
        ]),
        { id: 'placement-table', label: 'Instances by node' },
      )
}
</section>`;
    return reply
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(page('Nodes · Berth', body, signedInHeader(req, signOutForm, 'nodes')));
  });
}
