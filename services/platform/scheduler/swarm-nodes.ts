// The swarm's nodes as Berth's admins see them (nodes:list|report|drain|label,
// as Dokku's k3s scheduler has nodes:*): listed from a manager, drained
// (Swarm moves their tasks to the other nodes) and labelled (for placement
// constraints) through the manager's Engine API. Joining and leaving:
// swarm-membership.ts.
import type Docker from 'dockerode';
import { BerthError } from '../../core/errors.ts';

export interface SwarmNodeInfo {
  id: string;
  hostname: string;
  role: 'manager' | 'worker';
  /** The manager that leads the swarm's Raft. */
  leader: boolean;
  /** ready, down, unknown, disconnected. */
  state: string;
  /** active, pause, drain. */
  availability: string;
  /** The address the node advertises to the swarm (its tasks are reached there). */
  address: string;
  labels: Record<string, string>;
  engine: string;
}

type RawNode = {
  ID: string;
  Version: { Index: number };
  Spec: { Role?: string; Availability?: string; Labels?: Record<string, string> } & Record<
    string,
    unknown
  >;
  Description?: { Hostname?: string; Engine?: { EngineVersion?: string } };
  Status?: { State?: string; Addr?: string };
  ManagerStatus?: { Leader?: boolean };
};

const info = (n: RawNode): SwarmNodeInfo => ({
  id: n.ID,
  hostname: n.Description?.Hostname ?? '',
  role: n.Spec.Role === 'manager' ? 'manager' : 'worker',
  leader: n.ManagerStatus?.Leader === true,
  state: n.Status?.State ?? 'unknown',
  availability: n.Spec.Availability ?? 'active',
  address: n.Status?.Addr ?? '',
  labels: { ...(n.Spec.Labels ?? {}) },
  engine: n.Description?.Engine?.EngineVersion ?? '',
});

/** Every node, managers first, then by hostname. */
export async function listNodes(docker: Docker): Promise<SwarmNodeInfo[]> {
  const nodes = (await docker.listNodes()) as unknown as RawNode[];
  return nodes
    .map(info)
    .sort((a, b) => a.role.localeCompare(b.role) || a.hostname.localeCompare(b.hostname));
}

/** A node by its hostname or its id; BERTH_E_SWARM_NODE_UNKNOWN for any other name. */
async function rawNode(docker: Docker, name: string): Promise<RawNode> {
  const nodes = (await docker.listNodes()) as unknown as RawNode[];
  const found =
    nodes.find((n) => n.ID === name) ?? nodes.filter((n) => n.Description?.Hostname === name);
  if (!Array.isArray(found)) return found;
  if (found.length === 1) return found[0] as RawNode;
  throw new BerthError('BERTH_E_SWARM_NODE_UNKNOWN', {
    node: name,
    reason: found.length === 0 ? 'no node has that hostname or id' : 'hostnames repeat: use its id',
  });
}

export async function nodeInfo(docker: Docker, name: string): Promise<SwarmNodeInfo> {
  return info(await rawNode(docker, name));
}

/** Changes a node's spec as `change` makes it; the node as it is then. */
async function updateNode(
  docker: Docker,
  name: string,
  change: (spec: RawNode['Spec']) => RawNode['Spec'],
): Promise<SwarmNodeInfo> {
  for (let attempt = 0; ; attempt++) {
    const node = await rawNode(docker, name);
    try {
      await docker
        .getNode(node.ID)
        .update({ version: node.Version.Index, ...change({ ...node.Spec }) });
      return nodeInfo(docker, node.ID);
    } catch (e) {
      // Another update came between: the version is out of date.
      if (attempt >= 5 || !/update out of sequence/i.test(String(e))) throw e;
    }
  }
}

/** drain: Swarm moves the node's tasks elsewhere and places none there; active: it takes tasks again. */
export function setAvailability(
  docker: Docker,
  name: string,
  availability: 'drain' | 'active',
): Promise<SwarmNodeInfo> {
  return updateNode(docker, name, (spec) => ({ ...spec, Availability: availability }));
}

/** Sets labels (KEY=VALUE) and removes others (KEY); placement constraints read them (node.labels.KEY). */
export function setLabels(
  docker: Docker,
  name: string,
  set: Readonly<Record<string, string>>,
  remove: readonly string[],
): Promise<SwarmNodeInfo> {
  return updateNode(docker, name, (spec) => {
    const labels = { ...(spec.Labels ?? {}), ...set };
    for (const key of remove) delete labels[key];
    return { ...spec, Labels: labels };
  });
}

/** worker: a manager leaves the managers' Raft (nodes:remove demotes one before removing it). */
export function setRole(
  docker: Docker,
  name: string,
  role: 'manager' | 'worker',
): Promise<SwarmNodeInfo> {
  return updateNode(docker, name, (spec) => ({ ...spec, Role: role }));
}
