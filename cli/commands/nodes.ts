// nodes:list|report|add|remove|drain|label — the swarm's nodes (admins),
// read and changed through the manager BERTH_SWARM_MANAGER names. A node
// joins with the `docker swarm join` nodes:add prints (or runs over SSH);
// Berth places tasks through Swarm, so a drained node's tasks move to the
// others, and labels feed placement constraints (scheduler-swarm:set).
import { BerthError, EXIT } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';
import { schedulerNamed } from '../../services/platform/scheduler/schedulers.ts';
import { SWARM_SCHEDULER, type Swarm } from '../../services/platform/scheduler/swarm.ts';
import {
  joinCommand,
  joinOverSsh,
  removeNode,
} from '../../services/platform/scheduler/swarm-membership.ts';
import {
  listNodes,
  nodeInfo,
  type SwarmNodeInfo,
  setAvailability,
  setLabels,
} from '../../services/platform/scheduler/swarm-nodes.ts';
import type { Command, CommandContext } from '../command.ts';
import { formatOf, json, report, table } from '../output.ts';
import { schedulerDeps } from '../release-run.ts';

const CONTROL = /[\u0000-\u001f\u007f]/;

const nodeName = (name: string | undefined) => validate.swarmNodeName(name ?? '');

async function manager(ctx: CommandContext) {
  return (schedulerNamed(SWARM_SCHEDULER, await schedulerDeps(ctx)) as Swarm).manager();
}

const labelText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',') || '-';

function printNode(ctx: CommandContext, n: SwarmNodeInfo, format: 'text' | 'json'): void {
  ctx.stdout.write(
    format === 'json'
      ? json(n)
      : report(`${n.hostname} node`, [
          ['Id', n.id],
          ['Role', n.leader ? `${n.role} (leader)` : n.role],
          ['State', n.state],
          ['Availability', n.availability],
          ['Address', n.address],
          ['Labels', labelText(n.labels)],
          ['Engine', n.engine],
        ]),
  );
}

export const nodesCommands: readonly Command[] = [
  {
    name: 'nodes:list',
    usage: '[--format json]',
    summary: "the swarm's nodes: role, state, availability, address, labels (admins)",
    access: 'admin',
    json: true,
    arity: [0, 0],
    async run({ ctx, options }) {
      const nodes = await listNodes(await manager(ctx));
      if (formatOf(options) === 'json') {
        ctx.stdout.write(json(nodes));
        return EXIT.ok;
      }
      ctx.stdout.write(
        table([
          ['HOSTNAME', 'ROLE', 'STATE', 'AVAILABILITY', 'ADDRESS', 'LABELS'],
          ...nodes.map((n) => [
            n.hostname,
            n.leader ? `${n.role}*` : n.role,
            n.state,
            n.availability,
            n.address,
            labelText(n.labels),
          ]),
        ]),
      );
      return EXIT.ok;
    },
  },
  {
    name: 'nodes:report',
    usage: 'NODE [--format json]',
    summary: 'one node of the swarm, by hostname or id (admins)',
    access: 'admin',
    json: true,
    arity: [1, 1],
    async run({ ctx, args, options }) {
      const format = formatOf(options);
      printNode(ctx, await nodeInfo(await manager(ctx), nodeName(args[0])), format);
      return EXIT.ok;
    },
  },
  {
    name: 'nodes:add',
    usage: '[--manager] [--ssh USER@HOST[:PORT]]',
    summary:
      'the command that joins a host to the swarm as a worker (--manager: a manager); --ssh runs it on that host and waits for the node (admins)',
    access: 'admin',
    options: { manager: { type: 'boolean' }, ssh: { type: 'string' } },
    arity: [0, 0],
    async run({ ctx, options }) {
      const role = options.manager === true ? 'manager' : 'worker';
      const docker = await manager(ctx);
      if (typeof options.ssh === 'string') {
        const n = await joinOverSsh(docker, options.ssh, role);
        ctx.stdout.write(`-----> ${n.hostname} joined the swarm as a ${n.role} (${n.address})\n`);
        return EXIT.ok;
      }
      const join = await joinCommand(docker, role);
      ctx.stdout.write(
        `-----> Run this on the host that joins as a ${role} (Docker installed; it reaches ${join.address}):\n${join.argv.join(' ')}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'nodes:remove',
    usage: 'NODE [--force]',
    summary:
      'take a node out of the swarm: drained, its tasks moved, demoted if a manager, removed (--force: though its tasks did not move) (admins)',
    access: 'admin',
    options: { force: { type: 'boolean' } },
    arity: [1, 1],
    async run({ ctx, args, options }) {
      const n = await removeNode(await manager(ctx), nodeName(args[0]), {
        force: options.force === true,
        onStep: (line) => ctx.stdout.write(`-----> ${line}\n`),
      });
      ctx.stdout.write(
        `-----> ${n.hostname} removed from the swarm${n.state === 'down' ? '' : '; on that host, run: docker swarm leave'}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'nodes:drain',
    usage: 'NODE [--undo]',
    summary:
      "move a node's tasks to the other nodes and place none there (--undo: take tasks again) (admins)",
    access: 'admin',
    options: { undo: { type: 'boolean' } },
    arity: [1, 1],
    async run({ ctx, args, options }) {
      const to = options.undo === true ? 'active' : 'drain';
      const n = await setAvailability(await manager(ctx), nodeName(args[0]), to);
      ctx.stdout.write(
        to === 'drain'
          ? `-----> ${n.hostname} drained: Swarm moves its tasks to the other nodes\n`
          : `-----> ${n.hostname} takes tasks again\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'nodes:label',
    usage: 'NODE KEY=VALUE... | KEY...',
    summary:
      "set a node's labels (KEY=VALUE) or remove them (KEY), for placement constraints (admins)",
    access: 'admin',
    arity: [2, Number.POSITIVE_INFINITY],
    async run({ ctx, args }) {
      const [name, ...changes] = args;
      const set: Record<string, string> = {};
      const remove: string[] = [];
      for (const change of changes) {
        const eq = change.indexOf('=');
        const key = validate.nodeLabelKey(eq < 0 ? change : change.slice(0, eq));
        const value = eq < 0 ? undefined : change.slice(eq + 1);
        if (value !== undefined && (CONTROL.test(value) || value.length > 1024)) {
          throw new BerthError('BERTH_E_USAGE', {
            reason: `the value of label ${key} must be one line of at most 1024 characters`,
          });
        }
        if (value === undefined) remove.push(key);
        else set[key] = value;
      }
      const n = await setLabels(await manager(ctx), nodeName(name), set, remove);
      ctx.stdout.write(`-----> ${n.hostname} labels: ${labelText(n.labels)}\n`);
      return EXIT.ok;
    },
  },
];
