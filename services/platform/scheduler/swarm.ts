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
// What is not here yet (issue 21): one-off runs and the release phase, exec
// (command checks), storage, per-app networks, usage figures, images pushed
// to a registry without BERTH_SWARM_REGISTRY or registry:set (the image must be on the nodes).
//
// Images: with a registry (../registry/distribute.ts), a release's image is
// pushed there before its release is made (prepareImage, the push's
// progress in the deploy's output), and a service runs the registry's
// reference, created with the registry's credentials (X-Registry-Auth, as
// `docker service create --with-registry-auth`), which the manager hands the
// nodes that pull it.
// Those say so with BERTH_E_SWARM_UNSUPPORTED or report nothing.
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { LABELS, MANAGED_LABELS } from '../../core/docker.ts';
import { streamLines } from '../../core/docker-exec.ts';
import { BerthError } from '../../core/errors.ts';
import * as validate from '../../core/validate.ts';
import { commandFor } from '../build/buildpack-build.ts';
import type { DistributedImage } from '../registry/distribute.ts';
import { parseTimedLines, sourceOf } from './app-logs.ts';
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

type SwarmNode = { ID: string; Status?: { State?: string; Addr?: string } };

/** How often watch() looks at the swarm's tasks and nodes (the manager sends no task events). */
const WATCH_EVERY_MS = 1000;

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
    return list as unknown as Docker.Service[];
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
  private async nodeAddresses(): Promise<Map<string, string>> {
    const nodes = (await (await this.docker()).listNodes()) as unknown as SwarmNode[];
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
      });
    }
    return instances;
  }

  async list(app: string): Promise<Instance[]> {
    const nodes = await this.nodeAddresses();
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
      instances.push(...this.describeTasks(s.ID, s.Spec.Labels ?? {}, tasks, nodes));
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
    if ((spec.mounts ?? []).length > 0) this.unsupported(app, 'mount storage');
    // Not carried to services yet: said, rather than dropped (issue 20).
    if (spec.dockerOptions !== undefined) this.unsupported(app, 'apply docker-options');
    if (spec.restartPolicy !== undefined) this.unsupported(app, 'apply ps:set restart-policy');
    const key = `${app}/${spec.type}/${spec.release}`;
    let serviceId = spec.instance > 1 ? this.filling.get(key) : undefined;
    const before = new Set<string>();
    if (serviceId === undefined) {
      serviceId = await this.create(spec);
      this.filling.set(key, serviceId);
    } else {
      for (const t of await this.tasksOf(serviceId)) before.add(t.ID);
      await this.setReplicas(serviceId, (r) => Math.max(r, spec.instance));
    }
    return this.awaitNewTask(serviceId, before, spec);
  }

  private async create(spec: InstanceSpec): Promise<string> {
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
    };
    const suffix = randomBytes(3).toString('hex');
    const created = (await docker.createService(
      distributed.auth as Docker.AuthConfig,
      {
        Name: `${spec.app}-${spec.type}-v${spec.release}-${suffix}`,
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
          },
          Resources: {
            Limits: {
              ...(memory > 0 ? { MemoryBytes: memory } : {}),
              ...(spec.limits?.cpus ? { NanoCPUs: Math.round(spec.limits.cpus * 1e9) } : {}),
              ...(pids > 0 ? { Pids: pids } : {}),
            },
          },
          // An instance that exits comes back, as docker-local's unless-stopped.
          RestartPolicy: { Condition: 'any', Delay: 1e9 },
          Networks: [
            {
              Target: this.o.network,
              Aliases: [spec.type === 'web' ? spec.app : `${spec.type}.${spec.app}`],
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
        Mode: { Replicated: { Replicas: 1 } },
        EndpointSpec: {
          // No IPVS: no virtual IP, no ingress mesh; a web task's PORT on a port its node picks.
          Mode: 'dnsrr',
          ...(spec.type === 'web'
            ? { Ports: [{ Protocol: 'tcp', TargetPort: spec.port, PublishMode: 'host' }] }
            : {}),
        },
      } as unknown as Docker.CreateServiceOptions,
    )) as unknown as { id?: string; ID?: string };
    const id = created.id ?? created.ID;
    if (!id) throw new Error('the swarm manager did not say which service it made');
    return id;
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
    for (;;) {
      const tasks = await this.tasksOf(serviceId);
      const fresh = tasks.filter((t) => !before.has(t.ID));
      const failed = fresh.find((t) => FAILED.has(t.Status.State) && t.Status.Err);
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

  runOnce(
    spec: InstanceSpec,
    _onLine: (line: string) => void,
    _signal: AbortSignal,
  ): Promise<OneOffResult> {
    return Promise.reject(
      new BerthError('BERTH_E_SWARM_UNSUPPORTED', { app: spec.app, what: 'run a one-off process' }),
    );
  }

  runAttached(spec: InstanceSpec, _io: AttachedIo, _signal: AbortSignal): Promise<number> {
    return this.runOnce(spec, () => {}, AbortSignal.abort()).then(() => 0);
  }

  runDetached(spec: InstanceSpec): Promise<string> {
    return this.runOnce(spec, () => {}, AbortSignal.abort()).then(() => '');
  }

  exec(instance: Instance): Promise<{ exitCode: number; output: string }> {
    return Promise.reject(
      new BerthError('BERTH_E_SWARM_UNSUPPORTED', {
        app: instance.app,
        what: 'run a command in an instance',
      }),
    );
  }

  ensureStorage(app: string): Promise<string> {
    return Promise.reject(
      new BerthError('BERTH_E_SWARM_UNSUPPORTED', { app, what: 'keep storage' }),
    );
  }

  async storageVolumes(): Promise<StorageVolume[]> {
    return [];
  }

  removeStorage(app: string): Promise<void> {
    return this.ensureStorage(app).then(() => {});
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

  /** Not measured on the nodes yet: no figures (the startup check then takes them as busy). */
  async usage(): Promise<Map<string, InstanceUsage>> {
    return new Map();
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
    const look = async () => {
      try {
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
    const appOf = new Map(services.map((s) => [s.ID, s.Spec.Labels?.[LABELS.app] ?? '']));
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
