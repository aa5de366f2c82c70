// Nodes coming into the swarm and leaving it (nodes:add, nodes:remove), as
// Dokku's scheduler-k3s:cluster:add|remove: the join command with the
// manager's token, run by the operator on the new host or by Berth over
// SSH; and a removal that loses nothing: drained first (Swarm moves its
// tasks), demoted if a manager, then taken out of the swarm's list.
import { execFile } from 'node:child_process';
import type Docker from 'dockerode';
import { BerthError } from '../../core/errors.ts';
import * as validate from '../../core/validate.ts';
import {
  listNodes,
  nodeInfo,
  type SwarmNodeInfo,
  setAvailability,
  setRole,
} from './swarm-nodes.ts';

export type JoinRole = 'worker' | 'manager';

export interface JoinCommand {
  role: JoinRole;
  /** The manager's address the node joins at (host:2377). */
  address: string;
  /** `docker swarm join --token TOKEN ADDRESS` as arguments. */
  argv: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The command a host runs to join the swarm as `role`, with the manager's token. */
export async function joinCommand(docker: Docker, role: JoinRole): Promise<JoinCommand> {
  const [swarm, info] = (await Promise.all([docker.swarmInspect(), docker.info()])) as [
    { JoinTokens?: { Worker?: string; Manager?: string } },
    { Swarm?: { NodeID?: string; RemoteManagers?: { NodeID: string; Addr: string }[] } },
  ];
  const token = validate.swarmJoinToken(
    (role === 'manager' ? swarm.JoinTokens?.Manager : swarm.JoinTokens?.Worker) ?? '',
  );
  // The manager Berth talks to, as the swarm knows it; any other when it is not listed.
  const managers = info.Swarm?.RemoteManagers ?? [];
  const address = validate.backendAddress(
    (managers.find((m) => m.NodeID === info.Swarm?.NodeID) ?? managers[0])?.Addr ?? '',
  );
  return { role, address, argv: ['docker', 'swarm', 'join', '--token', token, address] };
}

/** OpenSSH's arguments that run `argv` on the target: no prompts, the host key already known. */
export function sshArgs(target: ReturnType<typeof validate.sshTarget>, argv: readonly string[]) {
  return [
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=15',
    '-o',
    'StrictHostKeyChecking=yes',
    '-p',
    String(target.port),
    '--',
    `${target.user}@${target.host}`,
    // The remote side joins these with spaces for its shell: each is
    // validated (token, address), none holds a space or a quote.
    ...argv,
  ];
}

/**
 * Joins a host over SSH (the OpenSSH client, as Berth's user, with its keys
 * and known_hosts) and waits for the new node to be ready in the swarm.
 */
export async function joinOverSsh(
  docker: Docker,
  targetText: string,
  role: JoinRole,
  o: { readyTimeoutMs?: number } = {},
): Promise<SwarmNodeInfo> {
  const target = validate.sshTarget(targetText);
  const join = await joinCommand(docker, role);
  const before = new Set((await listNodes(docker)).map((n) => n.id));
  await new Promise<void>((resolve, reject) => {
    execFile('ssh', sshArgs(target, join.argv), { timeout: 120_000 }, (err, _out, stderr) => {
      if (!err) return resolve();
      const last = String(stderr).trim().split('\n').filter(Boolean).at(-1);
      reject(
        new BerthError('BERTH_E_SWARM_JOIN', {
          target: targetText,
          reason: last ?? (err.killed ? 'ssh took over 120 s' : err.message),
        }),
      );
    });
  });
  const end = Date.now() + (o.readyTimeoutMs ?? 60_000);
  for (;;) {
    const fresh = (await listNodes(docker)).find((n) => !before.has(n.id));
    if (fresh?.state === 'ready') return fresh;
    if (Date.now() > end) {
      throw new BerthError('BERTH_E_SWARM_JOIN', {
        target: targetText,
        reason: fresh
          ? `it joined as ${fresh.hostname} but is ${fresh.state}, not ready`
          : 'the command ran but no new node appeared',
      });
    }
    await sleep(500);
  }
}

type RawTask = {
  ServiceID: string;
  NodeID?: string;
  Status?: { State?: string };
};

type RawService = { Spec?: { Mode?: { Replicated?: { Replicas?: number } } } };

/** The services with a task the swarm means to run on the node. */
async function servicesOn(docker: Docker, nodeId: string): Promise<Set<string>> {
  const tasks = (await docker.listTasks({
    filters: { node: [nodeId], 'desired-state': ['running'] },
  })) as unknown as RawTask[];
  return new Set(tasks.filter((t) => t.NodeID === nodeId).map((t) => t.ServiceID));
}

/**
 * How many tasks the services still lack elsewhere: for each, its replicas
 * less its tasks running on other nodes (a global service's task on the
 * node has no replacement to wait for; a service gone lacks none).
 */
async function missingElsewhere(
  docker: Docker,
  nodeId: string,
  services: ReadonlySet<string>,
): Promise<number> {
  let missing = 0;
  // A task on a node that is down stays "running" in the manager's list.
  const ready = new Set(
    (await listNodes(docker)).filter((n) => n.state === 'ready').map((n) => n.id),
  );
  for (const id of services) {
    const spec = (await docker
      .getService(id)
      .inspect()
      .catch(() => undefined)) as RawService | undefined;
    const replicas = spec?.Spec?.Mode?.Replicated?.Replicas;
    if (replicas === undefined) continue;
    const tasks = (await docker.listTasks({
      filters: { service: [id], 'desired-state': ['running'] },
    })) as unknown as RawTask[];
    const running = tasks.filter(
      (t) =>
        t.ServiceID === id &&
        t.NodeID !== undefined &&
        t.NodeID !== nodeId &&
        ready.has(t.NodeID) &&
        t.Status?.State === 'running',
    ).length;
    missing += Math.max(0, replicas - running);
  }
  return missing;
}

export interface RemoveOptions {
  /** Remove it though its tasks have not moved (they are lost with it) or it is still up. */
  force: boolean;
  /** How long its tasks may take to move; default 120 s. */
  moveTimeoutMs?: number;
  onStep?: (line: string) => void;
}

/**
 * Takes a node out of the swarm: drains it and waits until every service
 * that had a task there has its replicas running on the other nodes (for a
 * node that is down, Swarm has replaced them already), demotes a manager,
 * then removes it from the swarm's list. The node Berth reaches the manager
 * through is never removed (Berth would lose the swarm). What was removed.
 */
export async function removeNode(
  docker: Docker,
  name: string,
  o: RemoveOptions,
): Promise<SwarmNodeInfo> {
  const step = o.onStep ?? (() => {});
  let node = await nodeInfo(docker, name);
  const info = (await docker.info()) as { Swarm?: { NodeID?: string } };
  const refuse = (reason: string): never => {
    throw new BerthError('BERTH_E_SWARM_NODE_REMOVE', { node: node.hostname, reason });
  };
  if (node.id === info.Swarm?.NodeID) {
    refuse('it is the manager Berth reaches the swarm through (BERTH_SWARM_MANAGER)');
  }
  const managers = (await listNodes(docker)).filter((n) => n.role === 'manager');
  if (node.role === 'manager' && managers.length <= 1) refuse('it is the only manager');
  const moving = await servicesOn(docker, node.id);
  node = await setAvailability(docker, node.id, 'drain');
  step(`${node.hostname} drained: Swarm moves its tasks to the other nodes`);
  const timeoutMs = o.moveTimeoutMs ?? 120_000;
  const end = Date.now() + timeoutMs;
  for (;;) {
    const missing = await missingElsewhere(docker, node.id, moving);
    if (missing === 0) break;
    if (Date.now() > end) {
      if (o.force) {
        step(`${missing} of its tasks do not run elsewhere: removed with it (--force)`);
        break;
      }
      refuse(
        `${missing} of its tasks do not run on another node after ${Math.round(timeoutMs / 1000)} s (a placement constraint may hold them to it); it stays drained; --force removes it anyway`,
      );
    }
    await sleep(500);
  }
  if (moving.size > 0) step('its tasks run on other nodes');
  if (node.role === 'manager') {
    node = await setRole(docker, node.id, 'worker');
    step(`${node.hostname} demoted to a worker`);
    // The demoted node leaves the managers' Raft; removing it before that
    // is done is refused by the manager.
    const end = Date.now() + 30_000;
    while (Date.now() < end) {
      const now = (await docker.getNode(node.id).inspect()) as { ManagerStatus?: unknown };
      if (now.ManagerStatus === undefined) break;
      await sleep(500);
    }
  }
  // A node still up is removed with force: its Engine keeps its swarm state
  // until the operator runs `docker swarm leave` on it.
  await docker.getNode(node.id).remove({ force: o.force || node.state !== 'down' });
  return node;
}
