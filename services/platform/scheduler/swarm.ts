// The `swarm` scheduler: an app's instances as Docker Swarm tasks, spread
// over the cluster's nodes by Swarm, reached by the router directly.
//
// Each process type of a release is one Swarm service whose replicas are its
// instances; a rollout that runs a release again (a restart) makes a new
// service beside the old one, so the rollout keeps its meaning: the new
// release's instances start and are checked first, the route switches, the
// old ones drain and stop. start() of instance 1 creates the service, of
// instance n raises it to n replicas and returns the task that came;
// stop() lowers the replicas by one, removing the service at the last.
// Swarm, not Berth, picks which task a lowering ends (the one on the node
// with the most), so an instance's number is its rank among its service's
// tasks (by slot), not a fixed name: the counts are what Berth relies on.
//
// Addresses: no IPVS here, so no virtual IPs and no ingress mesh
// (`dnsrr` endpoints); a web task publishes its PORT in host mode on a port
// its node picks, and the router reaches it at <node address>:<that port>,
// the address the node advertises to the swarm. The tasks join the operator's
// attachable overlay (BERTH_SWARM_NETWORK), where they find one another.
//
// One-off runs (`run`, run:detached, cron, the release phase) are Swarm
// jobs (swarm-jobs.ts): their output through the manager, their exit code
// from the task; no terminal and no stdin, since the task may be on any
// node. app.json's command check of a process type is its service's health
// check (swarm-checks.ts); exec() runs nothing else. Storage lives on the
// manager node (its Engine's volumes, as docker-local's), and an app that
// mounts some runs all its tasks there (a node.id placement constraint).
// Each instance's node is in list() (ps:report).
//
// CPU and memory figures come for the manager node's tasks only (the stats
// API is each node's own Engine's).
//
// What is not here yet (issue 21): per-app and shared networks (every app's
// tasks share the overlay), figures of the workers' tasks, docker-options,
// ps:set restart-policy, app.json predeploy's commit; without
// BERTH_SWARM_REGISTRY or registry:set, the image must be on the nodes
// already. Those say so with BERTH_E_SWARM_UNSUPPORTED or report nothing.
//
// Images: with a registry (../registry/distribute.ts), a release's image is
// pushed there before its release is made (prepareImage, the push's
// progress in the deploy's output), and a service runs the registry's
// reference, created with the registry's credentials (X-Registry-Auth, as
// `docker service create --with-registry-auth`), which the manager hands the
// nodes that pull it.
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { LABELS, MANAGED_LABELS } from '../../core/docker.ts';
import { streamLines } from '../../core/docker-exec.ts';
import { BerthError } from '../../core/errors.ts';
import * as validate from '../../core/validate.ts';
import { commandFor } from '../build/buildpack-build.ts';
import type { DistributedImage } from '../registry/distribute.ts';
import { parseTimedLines, sourceOf } from './app-logs.ts';
import { DockerLocal } from './docker-local.ts';
import type {
  AttachedIo,
  Instance,
  InstanceSpec,
  InstanceState,
  InstanceUsage,
  LogLine,
  NetworkInfo,
  OneOffResult,
  Scheduler,
  SchedulerEvents,
  StorageVolume,
} from './scheduler.ts';
import { checkOf, healthConfig } from './swarm-checks.ts';
import type { JobHost } from './swarm-jobs.ts';
import { removeFinishedJobs, runJob, startDetachedJob } from './swarm-jobs.ts';

export const SWARM_SCHEDULER = 'swarm';

const LOG_OPTIONS = { 'max-size': '10m', 'max-file': '3' };

export interface SwarmOptions {
  /** Makes a client of a manager node's Engine (called once, on first use); undefined: no BERTH_SWARM_MANAGER. */
  manager: (() => Promise<Docker>) | undefined;
  /** The attachable overlay the tasks join. */
  network: string;
  labels?: Readonly<Record<string, string>>;
  /** Limits of instances whose app set none. */
  defaults?: { memory: number; pids: number };
  /** How long a task may take to run (its image's pull included); default 120 s. */
  startTimeoutMs?: number;
  /** Puts an app's image where the nodes pull it (pushed when missing); absent: it is on the nodes. */
  distribute?: (
    app: string,
    image: string,
    onLine?: (line: string) => void,
  ) => Promise<DistributedImage>;
}

type SwarmNode = {
  ID: string;
  Status?: { State?: string; Addr?: string };
  Description?: { Hostname?: string };
};

/** How often watch() looks at the swarm's tasks and nodes (the manager sends no task events). */
const WATCH_EVERY_MS = 1000;
/** Every how many looks watch() removes the services of one-offs that ended. */
const SWEEP_EVERY = 10;

type Task = Docker.Task & {
  ID: string;
  ServiceID: string;
  NodeID?: string;
  Slot?: number;
  CreatedAt: string;
  DesiredState: string;
  Status: {
    State: string;
    Timestamp?: string;
    Err?: string;
    ContainerStatus?: { ExitCode?: number };
    PortStatus?: { Ports?: { TargetPort: number; PublishedPort: number }[] };
  };
};

const STARTING = new Set([
  'new',
  'allocated',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'ready',
  'starting',
]);
const FAILED = new Set(['failed', 'rejected', 'orphaned']);

function stateOf(t: Task): InstanceState {
  if (t.Status.State === 'running') return 'running';
  if (STARTING.has(t.Status.State)) return 'starting';
  return 'exited';
}

/**
 * An instance's id: its service's and its task's. A lowering may end
 * another task than the one stopped, and Swarm deletes the tasks it ended,
 * so the service is not to be found from the task.
 */
const instanceId = (serviceId: string, taskId: string) => `${serviceId}.${taskId}`;
const idParts = (id: string) => {
  const [serviceId = '', taskId = ''] = id.split('.');
  return { serviceId, taskId };
};

/** The manager's 404: the service (or task) is gone. */
const notFound = (e: unknown) => (e as { statusCode?: number }).statusCode === 404;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Docker's multiplexed log stream as text (no TTY: 8-byte frame headers). */
function demux(raw: Buffer): string {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= raw.length && (raw[i] === 1 || raw[i] === 2) && raw[i + 1] === 0) {
    const size = raw.readUInt32BE(i + 4);
    out.push(raw.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return i === 0 ? raw.toString('utf8') : Buffer.concat(out).toString('utf8');
}

/**
 * The app's placement (scheduler-swarm:set) as the service's: constraints as
 * given (validate.placementConstraint checked them) and those its storage
 * needs (the node its volumes are on), each preference `spread=DESCRIPTOR`
 * as Swarm's Spread.
 */
function placementOf(
  spec: InstanceSpec,
  storageConstraints: readonly string[],
): { Placement?: Record<string, unknown> } {
  const constraints = [
    ...(spec.placement?.constraints ?? []).map(validate.placementConstraint),
    ...storageConstraints,
  ];
  const preferences = (spec.placement?.preferences ?? []).map((p) => ({
    Spread: { SpreadDescriptor: validate.placementPreference(p).slice('spread='.length) },
  }));
  if (constraints.length === 0 && preferences.length === 0) return {};
  return {
    Placement: {
      ...(constraints.length > 0 ? { Constraints: constraints } : {}),
      ...(preferences.length > 0 ? { Preferences: preferences } : {}),
    },
  };
}

/** How long a task may wait for a node its placement allows before the start fails. */
const UNPLACED_MS = 5000;

/** A task Swarm found no node for (its placement constraints match none that is up): its reason. */
function unplaced(t: Task): string | undefined {
  return t.Status.State === 'pending' && /no suitable node/i.test(t.Status.Err ?? '')
    ? t.Status.Err
    : undefined;
}

export class Swarm implements Scheduler {
  readonly name = SWARM_SCHEDULER;
  /** Swarm replaces a task that exited or whose node was lost in its slot itself. */
  readonly keepsCount = true;
  /** The service each (app, type, release) rollout is filling, by key: start() of instance n > 1 joins it. */
  private readonly filling = new Map<string, string>();

  constructor(private readonly o: SwarmOptions) {}

  private client: Promise<Docker> | undefined;

  /** The manager's client, made on first use (dockerode loads only then). */
  private async docker(): Promise<Docker> {
    if (this.o.manager === undefined) {
      throw new BerthError('BERTH_E_SWARM_UNREACHABLE', {
        reason: 'BERTH_SWARM_MANAGER is not set',
      });
    }
    this.client ??= this.o.manager();
    return this.client;
  }

  /** The manager's Engine client (nodes:*); BERTH_E_SWARM_UNREACHABLE without BERTH_SWARM_MANAGER. */
  manager(): Promise<Docker> {
    return this.docker();
  }

  async prepareImage(app: string, image: string, onLine: (line: string) => void): Promise<void> {
    await this.o.distribute?.(app, image, onLine);
  }

  private unsupported(app: string, what: string): never {
    throw new BerthError('BERTH_E_SWARM_UNSUPPORTED', { app, what });
  }

  private async servicesOf(app: string): Promise<Docker.Service[]> {
    const list = (await (
      await this.docker()
    ).listServices({
      filters: { label: [`${LABELS.managed}=true`, `${LABELS.app}=${validate.appName(app)}`] },
    })) as unknown as { ID: string; Spec: { Labels?: Record<string, string> } }[];
    // One-off runs are services too (swarm-jobs.ts), but no instances.
    return list.filter(
      (s) => s.Spec.Labels?.[LABELS.oneOff] === undefined,
    ) as unknown as Docker.Service[];
  }

  private async tasksOf(serviceId: string): Promise<Task[]> {
    return (await (
      await this.docker()
    ).listTasks({
      filters: { service: [serviceId] },
    })) as unknown as Task[];
  }

  /**
   * The addresses of the nodes that are up, by node id. A node the manager
   * marked down (its heartbeats stopped: a node lost) has none, so its tasks,
   * which the manager still lists as running until it replaces them, leave
   * the route as soon as the node is known down.
   */
  private async nodeAddresses(given?: SwarmNode[]): Promise<Map<string, string>> {
    const nodes = given ?? ((await (await this.docker()).listNodes()) as unknown as SwarmNode[]);
    return new Map(
      nodes.filter((n) => n.Status?.State === 'ready').map((n) => [n.ID, n.Status?.Addr ?? '']),
    );
  }

  /** The service's instances: the current task of each slot Swarm keeps, ranked by slot. */
  private describeTasks(
    serviceId: string,
    labels: Record<string, string>,
    tasks: Task[],
    nodes: Map<string, string>,
    /** Every node's hostname (down ones too), by id: the instances' `node`. */
    hostnames?: Map<string, string>,
  ): Instance[] {
    const bySlot = new Map<number, Task[]>();
    for (const t of tasks) {
      const slot = t.Slot ?? 0;
      bySlot.set(slot, [...(bySlot.get(slot) ?? []), t]);
    }
    const instances: Instance[] = [];
    const slots = [...bySlot.keys()].sort((a, b) => a - b);
    for (const slot of slots) {
      const all = (bySlot.get(slot) ?? []).sort((a, b) => a.CreatedAt.localeCompare(b.CreatedAt));
      const current = all.filter((t) => t.DesiredState === 'running').at(-1);
      if (current === undefined) continue; // lowered away, or being removed
      const state = stateOf(current);
      const published = current.Status.PortStatus?.Ports?.[0]?.PublishedPort;
      const node = current.NodeID ? nodes.get(current.NodeID) : undefined;
      instances.push({
        id: instanceId(serviceId, current.ID),
        app: labels[LABELS.app] ?? '',
        type: labels[LABELS.process] ?? '',
        release: Number(labels[LABELS.release]),
        instance: instances.length + 1,
        state,
        address: state === 'running' && node && published ? `${node}:${published}` : undefined,
        startedAt: state === 'running' ? current.Status.Timestamp : undefined,
        // Swarm restarts a task that exited as a new task in its slot.
        restarts: all.filter((t) => t !== current && t.CreatedAt < current.CreatedAt).length,
        exitCode: state === 'exited' ? current.Status.ContainerStatus?.ExitCode : undefined,
        ...(current.NodeID && hostnames?.has(current.NodeID)
          ? { node: hostnames.get(current.NodeID) }
          : {}),
      });
    }
    return instances;
  }

  async list(app: string): Promise<Instance[]> {
    const all = (await (await this.docker()).listNodes()) as unknown as SwarmNode[];
    const nodes = await this.nodeAddresses(all);
    const hostnames = new Map(all.map((n) => [n.ID, n.Description?.Hostname ?? n.ID]));
    const instances: Instance[] = [];
    for (const s of (await this.servicesOf(app)) as unknown as {
      ID: string;
      Spec: { Labels?: Record<string, string> };
    }[]) {
      // A service removed since it was listed (a rollout's drain ending) has no tasks.
      const tasks = await this.tasksOf(s.ID).catch((e: unknown) => {
        if (notFound(e)) return [];
        throw e;
      });
      instances.push(...this.describeTasks(s.ID, s.Spec.Labels ?? {}, tasks, nodes, hostnames));
    }
    return instances.sort(
      (a, b) => a.type.localeCompare(b.type) || a.release - b.release || a.instance - b.instance,
    );
  }

  async start(spec: InstanceSpec): Promise<Instance> {
    const app = validate.appName(spec.app);
    validate.processType(spec.type);
    for (const n of [spec.release, spec.instance, spec.port, spec.stopTimeoutSec]) {
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`not a count: ${n}`);
    }
    // Not carried to services yet: said, rather than dropped (issue 20).
    if (spec.dockerOptions !== undefined) this.unsupported(app, 'apply docker-options');
    if (spec.restartPolicy !== undefined) this.unsupported(app, 'apply ps:set restart-policy');
    const key = `${app}/${spec.type}/${spec.release}`;
    const serviceId = spec.instance > 1 ? this.filling.get(key) : undefined;
    const before = new Set<string>();
    if (serviceId === undefined) {
      const created = await this.create(spec);
      this.filling.set(key, created);
      // A first task that never ran leaves no service behind (its task would
      // stay pending, or keep restarting, with no instance of Berth's to stop).
      return this.awaitNewTask(created, before, spec).catch(async (e: unknown) => {
        this.filling.delete(key);
        await (await this.docker())
          .getService(created)
          .remove()
          .catch(() => {});
        throw e;
      });
    }
    for (const t of await this.tasksOf(serviceId)) before.add(t.ID);
    await this.setReplicas(serviceId, (r) => Math.max(r, spec.instance));
    try {
      return await this.awaitNewTask(serviceId, before, spec);
    } catch (e) {
      // Swarm would go on trying (an image missing, a health check that
      // fails): the replica this start added goes.
      await this.setReplicas(serviceId, (r) => Math.max(0, r - 1)).catch(() => 0);
      throw e;
    }
  }

  private create(spec: InstanceSpec): Promise<string> {
    return this.createService(spec);
  }

  /**
   * Makes the service for `spec` (serviceSpec), with the registry's
   * credentials when its image is in one (as --with-registry-auth); its id.
   */
  private async createService(spec: InstanceSpec, oneOff?: 'attached' | 'detached') {
    const docker = await this.docker();
    const { body, auth } = await this.serviceSpec(spec, oneOff);
    const options = body as unknown as Docker.CreateServiceOptions;
    const created = (await (auth
      ? docker.createService(auth as Docker.AuthConfig, options)
      : docker.createService(options))) as unknown as { id?: string; ID?: string };
    const id = created.id ?? created.ID;
    if (!id) throw new Error('the swarm manager did not say which service it made');
    return id;
  }

  /**
   * The service for `spec`: an instance's (replicated, restarted on any
   * exit, its web PORT published), or with `oneOff` a one-off's (a job of
   * one task that never restarts, publishes nothing and has no alias).
   */
  private async serviceSpec(
    spec: InstanceSpec,
    oneOff?: 'attached' | 'detached',
  ): Promise<{ body: Record<string, unknown>; auth: DistributedImage['auth'] }> {
    const docker = await this.docker();
    const distributed = this.o.distribute
      ? await this.o.distribute(spec.app, spec.image)
      : { ref: spec.image, inspect: undefined };
    const image =
      distributed.inspect ??
      ((await docker
        .getImage(spec.image)
        .inspect()
        .catch(() => undefined)) as Docker.ImageInspectInfo | undefined);
    const memory = spec.limits?.memory ?? this.o.defaults?.memory ?? 0;
    const pids = spec.limits?.pids ?? this.o.defaults?.pids ?? 0;
    const labels = {
      ...MANAGED_LABELS,
      ...(this.o.labels ?? {}),
      [LABELS.app]: spec.app,
      [LABELS.process]: spec.type,
      [LABELS.release]: String(spec.release),
      ...(oneOff ? { [LABELS.oneOff]: oneOff } : {}),
    };
    const suffix = randomBytes(3).toString('hex');
    const web = spec.type === 'web' && oneOff === undefined;
    const storage = await this.storagePlacement(spec, image);
    const checks = oneOff ? [] : (spec.commandChecks ?? []);
    if (checks.length > 1) {
      this.unsupported(spec.app, `run ${checks.length} command checks of ${spec.type} (one each)`);
    }
    const body = {
      Name: `${spec.app}-${spec.type}-${oneOff ? 'once-' : ''}v${spec.release}-${suffix}`,
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: distributed.ref,
          // Args, like docker-local's Cmd: the image's own entry point stays.
          ...(spec.command === null ? {} : { Args: commandFor(image, spec.command) }),
          Env: Object.entries({ ...spec.env, PORT: String(spec.port) }).map(
            ([k, v]) => `${k}=${v}`,
          ),
          Labels: labels,
          Init: true,
          StopGracePeriod: spec.stopTimeoutSec * 1e9,
          // As docker-local's CONFINED: no raw sockets (API 1.41).
          CapabilityDrop: ['NET_RAW'],
          ...(storage.mounts.length > 0 ? { Mounts: storage.mounts } : {}),
          // app.json's command check, run by the task's node (swarm-checks.ts).
          ...(checks[0] ? { Healthcheck: healthConfig(checks[0]) } : {}),
        },
        Resources: {
          Limits: {
            ...(memory > 0 ? { MemoryBytes: memory } : {}),
            ...(spec.limits?.cpus ? { NanoCPUs: Math.round(spec.limits.cpus * 1e9) } : {}),
            ...(pids > 0 ? { Pids: pids } : {}),
          },
        },
        // An instance that exits comes back, as docker-local's unless-stopped;
        // a one-off runs once.
        RestartPolicy: oneOff ? { Condition: 'none' } : { Condition: 'any', Delay: 1e9 },
        ...placementOf(spec, storage.constraints),
        Networks: [
          {
            Target: this.o.network,
            ...(oneOff
              ? {}
              : { Aliases: [spec.type === 'web' ? spec.app : `${spec.type}.${spec.app}`] }),
          },
        ],
        // logs:set max-size, as on docker-local (`unlimited`: no rotation).
        LogDriver: {
          Name: 'json-file',
          Options:
            spec.logMaxSize === 'unlimited'
              ? {}
              : { ...LOG_OPTIONS, ...(spec.logMaxSize ? { 'max-size': spec.logMaxSize } : {}) },
        },
      },
      // A job (API 1.41): its task runs to its end once, and Swarm starts no other.
      Mode: oneOff
        ? { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } }
        : { Replicated: { Replicas: 1 } },
      EndpointSpec: {
        // No IPVS: no virtual IP, no ingress mesh; a web task's PORT on a port its node picks.
        Mode: 'dnsrr',
        ...(web
          ? { Ports: [{ Protocol: 'tcp', TargetPort: spec.port, PublishMode: 'host' }] }
          : {}),
      },
    };
    return { body, auth: distributed.auth };
  }

  /** Sets the service's replicas to what `to` makes of them; their new number. */
  private async setReplicas(serviceId: string, to: (replicas: number) => number): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const service = (await this.docker()).getService(serviceId);
      const info = (await service.inspect()) as {
        Version: { Index: number };
        Spec: { Mode: { Replicated?: { Replicas?: number } } } & Record<string, unknown>;
      };
      const replicas = to(info.Spec.Mode.Replicated?.Replicas ?? 0);
      try {
        await service.update({
          version: info.Version.Index,
          ...info.Spec,
          Mode: { Replicated: { Replicas: replicas } },
        });
        return replicas;
      } catch (e) {
        // Another update came between: the version is out of date.
        if (attempt >= 5 || !/update out of sequence/i.test(String(e))) throw e;
      }
    }
  }

  /** Waits for a task of the service that was not there before to run. */
  private async awaitNewTask(serviceId: string, before: Set<string>, spec: InstanceSpec) {
    const end = Date.now() + (this.o.startTimeoutMs ?? 120_000);
    let unplacedSince: number | undefined;
    for (;;) {
      const tasks = await this.tasksOf(serviceId);
      const fresh = tasks.filter((t) => !before.has(t.ID));
      const failed = fresh.find((t) => FAILED.has(t.Status.State) && t.Status.Err);
      // A placement no node meets keeps the task pending for ever: said
      // after a few seconds (a node may be coming back), not at the timeout.
      const notPlaced = fresh.map(unplaced).find((e) => e !== undefined);
      unplacedSince = notPlaced === undefined ? undefined : (unplacedSince ?? Date.now());
      if (notPlaced !== undefined && Date.now() - (unplacedSince ?? 0) > UNPLACED_MS) {
        throw new BerthError('BERTH_E_INSTANCE_START', {
          app: spec.app,
          type: spec.type,
          reason: `${notPlaced}; scheduler-swarm:report ${spec.app} shows its placement, nodes:list the nodes' labels`,
        });
      }
      const running = fresh.find((t) => t.Status.State === 'running');
      if (running) {
        const info = (await (await this.docker()).getService(serviceId).inspect()) as {
          Spec: { Labels?: Record<string, string> };
        };
        const instances = this.describeTasks(
          serviceId,
          info.Spec.Labels ?? {},
          tasks,
          await this.nodeAddresses(),
        );
        const instance = instances.find((i) => i.id === instanceId(serviceId, running.ID));
        if (instance) return instance;
      }
      if (failed || Date.now() > end) {
        throw new BerthError('BERTH_E_INSTANCE_START', {
          app: spec.app,
          type: spec.type,
          reason:
            failed?.Status.Err ??
            `no task of it ran within ${Math.round((end - Date.now() + (this.o.startTimeoutMs ?? 120_000)) / 1000)} s`,
        });
      }
      await sleep(250);
    }
  }

  async stop(instance: Instance): Promise<void> {
    const { serviceId } = idParts(instance.id);
    const service = (await this.docker()).getService(serviceId);
    const info = (await service.inspect().catch(() => undefined)) as
      | { Spec: { Mode: { Replicated?: { Replicas?: number } } } }
      | undefined;
    if (info === undefined) return;
    const replicas = info.Spec.Mode.Replicated?.Replicas ?? 0;
    if (replicas <= 1) {
      await service.remove().catch(() => {});
      for (const [k, v] of this.filling) if (v === serviceId) this.filling.delete(k);
    } else {
      // A rollout stops its old instances together: another stop may have
      // removed the service between the look above and this one.
      const gone = await this.setReplicas(serviceId, (r) => Math.max(0, r - 1)).then(
        () => false,
        (e: unknown) => {
          if (notFound(e)) return true;
          throw e;
        },
      );
      if (gone) return;
    }
    // Stopped once no more of its tasks run than it keeps (SIGTERM, then SIGKILL after its grace period).
    const keep = replicas <= 1 ? 0 : replicas - 1;
    const end = Date.now() + (instance.startedAt ? 30_000 : 5_000) + 60_000;
    while (Date.now() < end) {
      // A task on a node that is down stays 'running' in the manager's
      // list, with no node to confirm its end: it is not waited for.
      const up = await this.nodeAddresses().catch(() => undefined);
      const running = (await this.tasksOf(serviceId).catch(() => [])).filter(
        (t) =>
          (t.Status.State === 'running' || t.Status.State === 'starting') &&
          (up === undefined || (t.NodeID !== undefined && up.has(t.NodeID))),
      ).length;
      if (running <= keep) return;
      await sleep(250);
    }
  }

  /** A task's handle; its logs (GET /tasks/{id}/logs) are in dockerode, not in its types. */
  private async task(id: string) {
    return (await this.docker()).getTask(idParts(id).taskId) as unknown as {
      logs(o: Record<string, unknown>): Promise<unknown>;
    };
  }

  private async taskLogs(instance: Instance, o: { tail: number; timestamps: boolean }) {
    const raw = (await (
      await this.task(instance.id)
    ).logs({
      stdout: true,
      stderr: true,
      timestamps: o.timestamps,
      tail: o.tail,
      follow: false,
    })) as Buffer;
    return demux(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
  }

  async logs(instance: Instance, lines: number): Promise<string[]> {
    return (await this.taskLogs(instance, { tail: lines, timestamps: false }))
      .split('\n')
      .filter((l) => l !== '')
      .slice(-lines);
  }

  async logLines(instance: Instance, tail: number): Promise<LogLine[]> {
    return parseTimedLines(
      await this.taskLogs(instance, { tail, timestamps: true }),
      sourceOf(instance),
      instance.release,
    );
  }

  async followLogs(
    instance: Instance,
    o: { since: number; signal: AbortSignal },
    onLine: (line: LogLine) => void,
  ): Promise<void> {
    if (o.signal.aborted) return;
    const stream = (await (
      await this.task(instance.id)
    ).logs({
      stdout: true,
      stderr: true,
      timestamps: true,
      follow: true,
      since: o.since,
    })) as NodeJS.ReadableStream & { destroy(): void };
    const stop = () => stream.destroy();
    o.signal.addEventListener('abort', stop, { once: true });
    const source = sourceOf(instance);
    try {
      await streamLines((await this.docker()).modem, stream, (raw) => {
        const space = raw.indexOf(' ');
        onLine({
          time: raw.slice(0, space),
          source,
          release: instance.release,
          text: raw.slice(space + 1),
        });
      }).catch(() => {});
    } finally {
      o.signal.removeEventListener('abort', stop);
    }
  }

  /** What the one-offs (swarm-jobs.ts) need of this scheduler. */
  private jobHost(): JobHost {
    return {
      docker: () => this.docker(),
      createService: (spec, oneOff) => this.createService(spec, oneOff),
      startTimeoutMs: this.o.startTimeoutMs ?? 120_000,
    };
  }

  /** A Swarm job; app.json's predeploy, whose changes Dokku commits into the image, is refused. */
  async runOnce(
    spec: InstanceSpec,
    onLine: (line: string) => void,
    signal: AbortSignal,
    o: { commitAs?: string } = {},
  ): Promise<OneOffResult> {
    this.checkOneOff(spec);
    // The task's container is on whichever node ran it: there is no commit through the manager.
    if (o.commitAs !== undefined && spec.command !== null) {
      this.unsupported(spec.app, "keep what app.json's predeploy changed in the image");
    }
    return runJob(this.jobHost(), spec, { onLine }, signal);
  }

  /**
   * A Swarm job with its output to the client's; the task runs on any node,
   * so nothing attaches to it: no terminal (refused) and no stdin.
   */
  async runAttached(spec: InstanceSpec, io: AttachedIo, signal: AbortSignal): Promise<number> {
    this.checkOneOff(spec);
    if (io.terminal !== undefined) {
      throw new BerthError('BERTH_E_SWARM_NO_TERMINAL', { app: validate.appName(spec.app) });
    }
    return (await runJob(this.jobHost(), spec, { stdout: io.stdout, stderr: io.stderr }, signal))
      .exitCode;
  }

  /** A Swarm job left to run; its service is removed once it ended (watch). */
  async runDetached(spec: InstanceSpec): Promise<string> {
    this.checkOneOff(spec);
    await removeFinishedJobs(await this.docker()).catch(() => 0);
    return startDetachedJob(this.jobHost(), spec);
  }

  /** What a one-off's spec must be (as start()'s). */
  private checkOneOff(spec: InstanceSpec) {
    const app = validate.appName(spec.app);
    validate.processType(spec.type);
    for (const n of [spec.release, spec.port, spec.stopTimeoutSec]) {
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`not a count: ${n}`);
    }
    if (spec.dockerOptions !== undefined) this.unsupported(app, 'apply docker-options');
  }

  /**
   * Only the command of the instance's health check (app.json's command
   * check, swarm-checks.ts): Swarm runs it in the task, which is `running`
   * once it passed, so it passed when the task runs. Nothing else can run in
   * a task through the manager: BERTH_E_SWARM_UNSUPPORTED.
   */
  async exec(
    instance: Instance,
    argv: readonly string[],
  ): Promise<{ exitCode: number; output: string }> {
    const { serviceId, taskId } = idParts(instance.id);
    const docker = await this.docker();
    const info = (await docker
      .getService(serviceId)
      .inspect()
      .catch(() => undefined)) as
      | { Spec: { TaskTemplate: { ContainerSpec: { Healthcheck?: { Test?: string[] } } } } }
      | undefined;
    const check = checkOf(info?.Spec.TaskTemplate.ContainerSpec.Healthcheck?.Test, argv);
    if (check === undefined) {
      this.unsupported(
        instance.app,
        'run a command in a task other than its app.json command check',
      );
    }
    const task = (await this.tasksOf(serviceId)).find((t) => t.ID === taskId);
    if (task?.Status.State === 'running') return { exitCode: 0, output: check.output };
    return {
      exitCode: 1,
      output: `its task is ${task?.Status.State ?? 'gone'}${task?.Status.Err ? `: ${task.Status.Err}` : ''}`,
    };
  }

  /**
   * Storage lives on the manager node Berth talks to (as CapRover keeps a
   * persistent app on its leader): the app's volumes are docker-local's on
   * that node's Engine, and an app that mounts one runs every instance and
   * one-off there (a placement constraint), so its data is where it runs.
   */
  private storageEngine:
    | Promise<{ local: DockerLocal; nodeId: string; hostname: string }>
    | undefined;

  private managerEngine() {
    this.storageEngine ??= (async () => {
      const docker = await this.docker();
      const nodeId = ((await docker.info()) as { Swarm?: { NodeID?: string } }).Swarm?.NodeID;
      if (!nodeId) throw new Error('BERTH_SWARM_MANAGER is not a node of a swarm');
      const node = (await docker.getNode(nodeId).inspect()) as SwarmNode;
      return {
        local: new DockerLocal(docker, { labels: this.o.labels ?? {} }),
        nodeId,
        hostname: node.Description?.Hostname ?? nodeId,
      };
    })();
    this.storageEngine.catch(() => {
      this.storageEngine = undefined;
    });
    return this.storageEngine;
  }

  /** The mounts of `spec`'s storage and the constraint that pins it to their node (none without storage). */
  private async storagePlacement(
    spec: InstanceSpec,
    image: Docker.ImageInspectInfo | undefined,
  ): Promise<{ mounts: Docker.MountSettings[]; constraints: string[] }> {
    if ((spec.mounts ?? []).length === 0) return { mounts: [], constraints: [] };
    const { local, nodeId } = await this.managerEngine();
    // A buildpack image's user gets its volumes, as on one machine (the image is on every node).
    if (image) await local.ownStorage(spec.app, spec, image);
    return {
      mounts: (spec.mounts ?? []).map((m) => local.storageMount(spec.app, m)),
      constraints: [`node.id==${nodeId}`],
    };
  }

  async ensureStorage(app: string, name: string, appCreatedAt: string): Promise<string> {
    return (await this.managerEngine()).local.ensureStorage(app, name, appCreatedAt);
  }

  async storageVolumes(app: string): Promise<StorageVolume[]> {
    const { local, hostname } = await this.managerEngine();
    return (await local.storageVolumes(app)).map((v) => ({ ...v, node: hostname }));
  }

  async removeStorage(app: string, name: string): Promise<void> {
    await (await this.managerEngine()).local.removeStorage(app, name);
  }

  async appNetwork(): Promise<NetworkInfo | undefined> {
    return undefined;
  }

  async removeAppNetwork(): Promise<void> {}

  ensureAppNetwork(app: string): Promise<string> {
    return Promise.reject(
      new BerthError('BERTH_E_SWARM_UNSUPPORTED', {
        app,
        what: 'give an app a network of its own',
      }),
    );
  }

  async sharedNetwork(): Promise<NetworkInfo | undefined> {
    return undefined;
  }

  async removeSharedNetwork(): Promise<void> {}

  /**
   * CPU and memory of the tasks on the manager node only, read from its own
   * Engine as docker-local reads them: `docker stats` is each node's Engine's,
   * and the manager has no figures of its workers' tasks (left out, so the
   * startup check takes them as busy and the web page shows none).
   */
  async usage(ids: readonly string[]): Promise<Map<string, InstanceUsage>> {
    if (ids.length === 0) return new Map();
    const { local, nodeId } = await this.managerEngine();
    const docker = await this.docker();
    const containers = new Map<string, string>();
    for (const id of ids) {
      const task = (await docker
        .getTask(idParts(id).taskId)
        .inspect()
        .catch(() => undefined)) as
        | { NodeID?: string; Status?: { ContainerStatus?: { ContainerID?: string } } }
        | undefined;
      const container = task?.Status?.ContainerStatus?.ContainerID;
      if (task?.NodeID === nodeId && container) containers.set(container, id);
    }
    const figures = await local.usage([...containers.keys()]);
    return new Map(
      [...figures].flatMap(([container, u]) => {
        const id = containers.get(container);
        return id === undefined ? [] : [[id, u] as const];
      }),
    );
  }

  /**
   * Swarm moves tasks on its own (a node lost, a task that exited), and a
   * manager's events say nothing of tasks: every WATCH_EVERY_MS the
   * services Berth made, their running tasks and the nodes are listed, and
   * an app whose tasks or their nodes' states changed is reported, so the
   * reconciler reroutes it within about a second of the manager knowing.
   * Nothing runs without BERTH_SWARM_MANAGER.
   */
  watch(events: SchedulerEvents): { stop(): void } {
    if (this.o.manager === undefined) return { stop() {} };
    let seen = new Map<string, string>();
    let reachable = true;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let looks = 0;
    const look = async () => {
      try {
        // Detached one-offs that ended leave their services behind: removed here.
        if (looks++ % SWEEP_EVERY === 0)
          await removeFinishedJobs(await this.docker()).catch(() => 0);
        const now = await this.taskSignatures();
        if (!reachable) {
          reachable = true;
          events.log.info('the swarm manager answers again; reconciling every app');
          events.onReconnect();
        } else {
          for (const app of new Set([...seen.keys(), ...now.keys()])) {
            if (seen.get(app) !== now.get(app)) events.onApp(app);
          }
        }
        seen = now;
      } catch (e) {
        if (reachable) events.log.warn({ err: e }, 'the swarm manager does not answer');
        reachable = false;
      }
      if (!stopped) timer = setTimeout(look, WATCH_EVERY_MS).unref();
    };
    timer = setTimeout(look, 0).unref();
    return {
      stop() {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }

  /** Per app, its services' running tasks with their nodes' states, as one comparable text. */
  private async taskSignatures(): Promise<Map<string, string>> {
    const docker = await this.docker();
    const services = (await docker.listServices({
      filters: { label: [`${LABELS.managed}=true`] },
    })) as unknown as { ID: string; Spec: { Labels?: Record<string, string> } }[];
    const appOf = new Map(
      services
        .filter((s) => s.Spec.Labels?.[LABELS.oneOff] === undefined)
        .map((s) => [s.ID, s.Spec.Labels?.[LABELS.app] ?? '']),
    );
    const tasks = (await docker.listTasks({
      filters: { 'desired-state': ['running'] },
    })) as unknown as Task[];
    const ready = await this.nodeAddresses();
    const parts = new Map<string, string[]>();
    for (const t of tasks) {
      const app = appOf.get(t.ServiceID);
      if (!app) continue;
      const node = t.NodeID && ready.has(t.NodeID) ? 'up' : 'down';
      parts.set(app, [...(parts.get(app) ?? []), `${t.ID}:${t.Status.State}:${node}`]);
    }
    for (const app of appOf.values()) if (!parts.has(app)) parts.set(app, []);
    return new Map([...parts].map(([app, p]) => [app, p.sort().join(',')]));
  }
}
