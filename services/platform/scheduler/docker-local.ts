// The docker-local scheduler: instances are containers on this machine's
// Docker Engine. Each app has a bridge network of its own (./docker-networks.ts)
// where its processes reach each other by name (the web instances of app
// `api` answer as `api`, other types as `<type>.api`, round-robin by DNS) and
// no other app's; apps meet only on shared networks their owners attached
// them to. Containers are named and labelled by app, process type, release
// and instance; they restart unless stopped (a crash-looping one backs off,
// Docker's doubling delay) and their logs are rotated (json-file, 3 × 10 MB).
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { DEFAULTS, type DefaultLimits } from '../../core/config.ts';
import {
  BATCH_CPU_SHARES,
  CONFINED,
  dockerStatus,
  LABELS,
  MANAGED_LABELS,
} from '../../core/docker.ts';
import { execInContainer, streamLines } from '../../core/docker-exec.ts';
import { commitContainer } from '../../core/docker-images.ts';
import { noSymlinks } from '../../core/docker-options.ts';
import { BerthError } from '../../core/errors.ts';
import type { TerminalSize } from '../../core/terminal.ts';
import * as validate from '../../core/validate.ts';
import { APP_USER, commandFor, usesLauncher } from '../build/buildpack-build.ts';
import { archiveInstance, parseTimedLines, sourceOf } from './app-logs.ts';
import { DockerNetworks } from './docker-networks.ts';
import { watchEngine } from './engine-events.ts';
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

/**
 * The prefix of the networks' names: the app `shop`'s is `berth.shop`. Also
 * the one network every app shared before apps had their own, where
 * instances an older Berth started are still found (describe).
 */
export const NETWORK = 'berth';

/** The Docker volume of an app's storage (names have no dots, so no two apps' volumes meet). */
const storageVolume = (app: string, name: string) =>
  `berth-storage.${validate.appName(app)}.${validate.storageName(name)}`;
const LOG_OPTIONS = { 'max-size': '10m', 'max-file': '3' };

/** logs:set max-size: Docker's json-file rotation, three files; `unlimited`: no rotation (Dokku omits the option). */
const logOptions = (maxSize: string | undefined): Record<string, string> =>
  maxSize === 'unlimited'
    ? {}
    : maxSize === undefined
      ? LOG_OPTIONS
      : { ...LOG_OPTIONS, 'max-size': maxSize };

/**
 * ps:set restart-policy as the Engine takes it (`on-failure:5` is a name and
 * a count); Berth's default stays unless-stopped: its reconciler and the
 * crash-loop notice watch what restarts.
 */
function restartPolicyOf(policy: string | undefined): {
  Name: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount?: number;
} {
  const [name = 'unless-stopped', count] = validate
    .restartPolicy(policy ?? 'unless-stopped')
    .split(':');
  return name === 'on-failure'
    ? { Name: 'on-failure', ...(count ? { MaximumRetryCount: Number(count) } : {}) }
    : { Name: name as 'no' | 'always' | 'unless-stopped' };
}
/**
 * How Berth removes a container: with its anonymous volumes (those Docker
 * makes for an image's VOLUME lines), or each restart and one-off would
 * leave one behind. The app's storage is named volumes, which `v` keeps.
 */
const REMOVE = { force: true, v: true } as const;

export interface DockerLocalOptions {
  /** The prefix of the apps' networks' names; default `berth` (tests: one of their own). */
  network?: string;
  /** BERTH_APP_NETWORKS: where app networks take their subnets; default its default. */
  appNetworks?: string;
  /** More labels on every container and the network (tests: berth.test-run). */
  labels?: Readonly<Record<string, string>>;
  /** Where a removed container's last lines are kept (./app-logs.ts); absent: not kept. */
  logArchive?: string;
  /** Limits of instances whose app set none (BERTH_DEFAULT_*); absent: none. */
  defaults?: DefaultLimits;
}

/** The Engine's multiplexed log stream (8-byte frame headers) as text. */
function demuxLogs(raw: Buffer): string {
  const chunks: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const size = raw.readUInt32BE(offset + 4);
    chunks.push(raw.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** How long a one-off's last output may take to arrive after it exited. */
const OUTPUT_DRAIN_MS = 2000;

/**
 * A container's ENTRYPOINT that reads `export` lines from stdin, then runs
 * the image's own entrypoint and command with that env (runOnce's commitAs).
 */
const READ_ENV = ['/bin/sh', '-c', 'eval "$(cat)" && exec "$@"'];

/** `export K='v'` lines a shell reads back exactly (keys are config keys: validate.envKey). */
function exportsOf(env: Readonly<Record<string, string>>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${validate.envKey(k)}='${v.replaceAll("'", "'\\''")}'`)
    .join('\n');
}

function stateOf(info: Docker.ContainerInspectInfo): InstanceState {
  const s = info.State;
  if (s.Restarting) return 'restarting';
  if (s.Running) return 'running';
  if (s.Status === 'created') return 'starting';
  return 'exited';
}

export class DockerLocal implements Scheduler {
  readonly name = 'docker-local';
  private readonly network: string;
  private readonly labels: Readonly<Record<string, string>>;
  private readonly logArchive: string | undefined;
  private readonly defaults: DefaultLimits;
  private readonly networks: DockerNetworks;
  /** Storage volumes given to APP_USER (ownStorage), as `name@createdAt`. */
  private readonly owned = new Set<string>();

  constructor(
    private readonly docker: Docker,
    o: DockerLocalOptions = {},
  ) {
    this.network = o.network ?? NETWORK;
    this.labels = o.labels ?? {};
    this.logArchive = o.logArchive;
    this.defaults = o.defaults ?? { memory: 0, pids: 0 };
    this.networks = new DockerNetworks(docker, {
      prefix: this.network,
      pool: o.appNetworks ?? DEFAULTS.BERTH_APP_NETWORKS,
      labels: this.labels,
    });
  }

  appNetwork(app: string): Promise<NetworkInfo | undefined> {
    return this.networks.info(this.networks.appName(app));
  }

  /** Its instances are gone first (apps:destroy stops them; a rename moved them). */
  removeAppNetwork(app: string): Promise<void> {
    return this.networks.remove(this.networks.appName(app), `of app ${app}`);
  }

  ensureAppNetwork(app: string): Promise<string> {
    return this.networks.ensureApp(app);
  }

  sharedNetwork(name: string): Promise<NetworkInfo | undefined> {
    return this.networks.info(this.networks.sharedName(name));
  }

  removeSharedNetwork(name: string): Promise<void> {
    return this.networks.remove(this.networks.sharedName(name), name);
  }

  /** The container for `spec`: a long-running instance, or a one-off that runs once. */
  private async create(
    spec: InstanceSpec,
    once: boolean,
    o: {
      autoRemove?: boolean;
      stdin?: boolean;
      tty?: TerminalSize;
      bareEnv?: boolean;
      entrypoint?: string[];
    } = {},
  ): Promise<Docker.Container> {
    const app = validate.appName(spec.app);
    validate.processType(spec.type);
    for (const n of [spec.release, spec.instance, spec.port, spec.stopTimeoutSec]) {
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`not a count: ${n}`);
    }
    const network = await this.networks.ensureApp(app);
    const shared = [];
    for (const n of spec.networks ?? []) shared.push(await this.networks.ensureShared(n));
    const image = await this.docker.getImage(spec.image).inspect();
    await this.ownStorage(app, spec, image);
    const memory = spec.limits?.memory ?? this.defaults.memory;
    const pids = spec.limits?.pids ?? this.defaults.pids;
    const opts = spec.dockerOptions ?? {};
    for (const b of opts.binds ?? []) noSymlinks(`--volume=${b.source}:${b.target}`, b.source);
    // docker-options' --env sits under the app's config, which wins.
    const env = Object.entries({ ...opts.env, ...spec.env, PORT: String(spec.port) }).map(
      ([k, v]) => `${k}=${v}`,
    );
    // A suffix, since a restart runs the same release's instance again beside the old one.
    const suffix = randomBytes(3).toString('hex');
    const name = once
      ? `${app}.${spec.type}.once.v${spec.release}.${suffix}`
      : `${app}.${spec.type}.${spec.instance}.v${spec.release}.${suffix}`;
    const alias = once ? {} : { Aliases: [spec.type === 'web' ? app : `${spec.type}.${app}`] };
    const container = await this.docker.createContainer({
      name,
      Image: spec.image,
      ...(spec.command === null ? {} : { Cmd: commandFor(image, spec.command) }),
      ...(o.entrypoint ? { Entrypoint: o.entrypoint } : {}),
      // bareEnv: the image's own (runOnce's commitAs gives the process its env on stdin).
      ...(o.bareEnv ? {} : { Env: env }),
      StopTimeout: spec.stopTimeoutSec,
      ...(opts.stopSignal ? { StopSignal: opts.stopSignal } : {}),
      // A one-off attached to a client: its stdin closes when the client's ends.
      ...(o.stdin ? { OpenStdin: true, StdinOnce: true, AttachStdin: true } : {}),
      ...(o.tty ? { Tty: true } : {}),
      Labels: {
        // docker-options' --label first: Berth's own (which it refuses) cannot be overridden.
        ...opts.labels,
        ...MANAGED_LABELS,
        ...this.labels,
        [LABELS.app]: app,
        [LABELS.process]: spec.type,
        [LABELS.release]: String(spec.release),
        [LABELS.instance]: String(spec.instance),
      },
      HostConfig: {
        // A one-off runs once; an instance comes back when it exits, with Docker's backoff.
        RestartPolicy: once ? { Name: 'no' } : restartPolicyOf(spec.restartPolicy),
        AutoRemove: o.autoRemove ?? false,
        // Engines from API 1.42 make the TTY this size from the start; older ones are resized after.
        ...(o.tty && o.tty.rows > 0 && o.tty.cols > 0
          ? { ConsoleSize: [o.tty.rows, o.tty.cols] }
          : {}),
        LogConfig: { Type: 'json-file', Config: logOptions(spec.logMaxSize) },
        NetworkMode: network,
        Init: true,
        // The app's storage: named volumes, made (labelled) on first use, kept across deploys.
        Mounts: [
          ...(spec.mounts ?? []).map((m) => this.storageMount(app, m)),
          // docker-options -v: host paths an admin added (checked in core/docker-options.ts).
          ...(opts.binds ?? []).map((b) => ({
            Type: 'bind' as const,
            Source: b.source,
            Target: b.target,
            ReadOnly: b.readOnly,
          })),
        ],
        ...(opts.shmSize ? { ShmSize: opts.shmSize } : {}),
        ...(opts.ulimits ? { Ulimits: opts.ulimits.map((u) => ({ ...u })) } : {}),
        ...(opts.extraHosts ? { ExtraHosts: [...opts.extraHosts] } : {}),
        ...(opts.tmpfs ? { Tmpfs: { ...opts.tmpfs } } : {}),
        ...(opts.dns ? { Dns: [...opts.dns] } : {}),
        ...(memory > 0 ? { Memory: memory, MemorySwap: memory } : {}),
        ...(pids > 0 ? { PidsLimit: pids } : {}),
        ...CONFINED,
        ...(once ? { CpuShares: BATCH_CPU_SHARES } : {}),
        ...(spec.limits?.cpus ? { NanoCpus: Math.round(spec.limits.cpus * 1e9) } : {}),
      },
      NetworkingConfig: { EndpointsConfig: { [network]: alias } },
    });
    // The shared networks, under the same names, before it starts (Engines
    // before API 1.44 take one network at create).
    try {
      for (const n of shared) {
        await this.docker.getNetwork(n).connect({ Container: container.id, EndpointConfig: alias });
      }
    } catch (e) {
      await container.remove(REMOVE).catch(() => {});
      throw e;
    }
    return container;
  }

  private async startOrExplain(container: Docker.Container, spec: InstanceSpec) {
    try {
      await container.start();
    } catch (e) {
      await container.remove(REMOVE).catch(() => {});
      throw new BerthError('BERTH_E_INSTANCE_START', {
        app: spec.app,
        type: spec.type,
        reason: (e as Error).message.replace(/^\(HTTP code \d+\) [a-z ]+ - /, ''),
      });
    }
  }

  async start(spec: InstanceSpec): Promise<Instance> {
    const container = await this.create(spec, false);
    await this.startOrExplain(container, spec);
    return this.describe(await container.inspect(), spec.port);
  }

  async runDetached(spec: InstanceSpec): Promise<string> {
    const container = await this.create(spec, true, { autoRemove: true });
    await this.startOrExplain(container, spec);
    return (await container.inspect()).Name.replace(/^\//, '');
  }

  async runOnce(
    spec: InstanceSpec,
    onLine: (line: string) => void,
    signal: AbortSignal,
    o: { commitAs?: string } = {},
  ): Promise<OneOffResult> {
    signal.throwIfAborted();
    // A run to be committed keeps the release's config out of the container's
    // Env: a commit merges every variable of it into the image (secrets in a
    // layer anyone with the image reads). It reads them from its stdin instead.
    const commit = o.commitAs !== undefined && spec.command !== null;
    // The env is read before the image's own ENTRYPOINT (or the launcher,
    // before .profile.d) runs, as a process's env is at run time.
    const entrypoint = commit
      ? [
          ...READ_ENV,
          'sh',
          ...([] as string[]).concat((await this.imageConfig(spec.image)).Entrypoint ?? []),
        ]
      : undefined;
    const container = await this.create(
      spec,
      true,
      entrypoint ? { stdin: true, bareEnv: true, entrypoint } : {},
    );
    const kill = () => void container.kill().catch(() => {});
    signal.addEventListener('abort', kill, { once: true });
    try {
      // Attached before it starts, so no line is missed.
      const stream = commit
        ? ((await container.attach({
            stream: true,
            stdin: true,
            stdout: true,
            stderr: true,
            hijack: true,
          })) as unknown as Duplex)
        : await container.attach({ stream: true, stdout: true, stderr: true });
      const lines: string[] = [];
      const ended = streamLines(container.modem, stream, (line) => {
        // Only the last lines are kept: a cron run may write for a day.
        if (lines.push(line) > 20) lines.shift();
        onLine(line);
      }).catch(() => {});
      await this.startOrExplain(container, spec);
      if (commit)
        (stream as Duplex).end(`${exportsOf({ ...spec.env, PORT: String(spec.port) })}\n`);
      const { StatusCode } = (await container.wait()) as { StatusCode: number };
      await ended;
      signal.throwIfAborted();
      if (StatusCode === 0 && commit && o.commitAs !== undefined) {
        const c = await this.imageConfig(spec.image);
        await commitContainer(container, {
          ref: o.commitAs,
          comment: `berth predeploy of ${spec.app} v${spec.release}`,
          // The image's own settings: the container's would bake in the
          // predeploy command and the release's config (secrets) as its Env.
          config: {
            // Docker takes a missing Entrypoint (and, without one, Cmd) from
            // the container: an empty one keeps the wrapper out. (An image
            // with neither gets the command as its Cmd; it runs nothing alone.)
            Cmd: c.Cmd ?? [],
            Entrypoint: c.Entrypoint ?? [],
            Env: c.Env,
            WorkingDir: c.WorkingDir,
            User: c.User,
            ExposedPorts: c.ExposedPorts,
            Labels: c.Labels,
          },
        });
      }
      return { exitCode: StatusCode, lines };
    } finally {
      signal.removeEventListener('abort', kill);
      await container.remove(REMOVE).catch(() => {});
    }
  }

  /**
   * Runs a one-off attached to `io` to its end and resolves its exit code:
   * io.stdin is its stdin (the end of it closes the process's); with a
   * terminal it runs in a TTY of the terminal's size, resized along with it.
   * The container is removed afterwards; aborting `signal` kills it.
   */
  async runAttached(spec: InstanceSpec, io: AttachedIo, signal: AbortSignal): Promise<number> {
    signal.throwIfAborted();
    const { terminal } = io;
    const container = await this.create(
      terminal ? { ...spec, env: { ...spec.env, TERM: terminal.term } } : spec,
      true,
      { stdin: true, ...(terminal ? { tty: terminal.size } : {}) },
    );
    const kill = () => void container.kill().catch(() => {});
    signal.addEventListener('abort', kill, { once: true });
    let stream: Duplex | undefined;
    let unsubscribe: (() => void) | undefined;
    try {
      // Attached before it starts, so no output is missed.
      stream = (await container.attach({
        stream: true,
        stdin: true,
        stdout: true,
        stderr: true,
        hijack: true,
      })) as unknown as Duplex;
      const attached = stream;
      attached.on('error', () => {});
      const ended = new Promise<void>((resolve) => {
        attached.once('end', resolve);
        attached.once('close', resolve);
      });
      if (terminal) attached.pipe(terminal.output, { end: false });
      else container.modem.demuxStream(attached, io.stdout, io.stderr);
      await this.startOrExplain(container, spec);
      if (terminal) {
        const resize = ({ rows, cols }: TerminalSize) =>
          rows > 0 && cols > 0 ? container.resize({ h: rows, w: cols }) : Promise.resolve();
        // Sized before any input, so a program that reads first sees its size.
        // (An Engine before API 1.42 ignores ConsoleSize; and like docker's
        // CLI, a resize right after the start is retried while the TTY is set up.)
        for (let attempt = 0; attempt < 10; attempt++) {
          if (
            await resize(terminal.size).then(
              () => true,
              () => false,
            )
          )
            break;
          await new Promise((r) => setTimeout(r, 10 * 2 ** attempt));
        }
        unsubscribe = terminal.onResize((size) => void resize(size).catch(() => {}));
      }
      io.stdin.pipe(attached);
      const { StatusCode } = (await container.wait()) as { StatusCode: number };
      await Promise.race([ended, new Promise((r) => setTimeout(r, OUTPUT_DRAIN_MS).unref())]);
      signal.throwIfAborted();
      return StatusCode;
    } finally {
      unsubscribe?.();
      if (stream) {
        io.stdin.unpipe(stream);
        stream.destroy();
      }
      signal.removeEventListener('abort', kill);
      await container.remove(REMOVE).catch(() => {});
    }
  }

  /** A mount of the app's storage volume, made (labelled) by the Engine on first use (swarm.ts's too). */
  storageMount(app: string, m: { name: string; path: string }): Docker.MountSettings {
    return {
      Type: 'volume' as const,
      Source: storageVolume(app, m.name),
      Target: validate.containerPath(m.path),
      VolumeOptions: {
        // A new volume starts with what the image has at the path (Docker's default).
        NoCopy: false,
        DriverConfig: { Name: 'local', Options: {} },
        Labels: {
          ...MANAGED_LABELS,
          ...this.labels,
          [LABELS.app]: app,
          [LABELS.storage]: m.name,
        },
      },
    };
  }

  /**
   * A buildpack image runs as APP_USER, but the Engine makes a volume's
   * top directory root's when the image has nothing at the mount path, and a
   * volume an app wrote while it ran as root holds root's files: either way
   * the app could not write its own storage. So each volume is given to the
   * app user, once per volume (the `owned` cache, keyed by the volume's
   * creation time so that a volume made again is done again), by a short
   * container of the same image run as root with no network. Other images
   * keep Docker's rule: their user and their files are the Dockerfile's.
   */
  private async imageConfig(image: string) {
    return (await this.docker.getImage(image).inspect()).Config;
  }

  async ownStorage(app: string, spec: InstanceSpec, image: Docker.ImageInspectInfo): Promise<void> {
    if (image.Config?.User !== APP_USER || !usesLauncher(image)) return;
    for (const m of spec.mounts ?? []) {
      const mount = this.storageMount(app, m);
      const created = async () => {
        const info = await this.docker
          .getVolume(mount.Source as string)
          .inspect()
          .catch(() => undefined);
        return info && `${info.Name}@${(info as { CreatedAt?: string }).CreatedAt ?? ''}`;
      };
      const before = await created();
      if (before !== undefined && this.owned.has(before)) continue;
      const container = await this.docker.createContainer({
        Image: spec.image,
        User: '0:0',
        Entrypoint: ['/bin/sh'],
        // A constant script: the user is an argument, never part of the text.
        Cmd: [
          '-c',
          'owner=$(stat -c %u:%g /volume) && { [ "$owner" = "$1" ] || chown -R "$1" /volume; }',
          'berth-storage-owner',
          APP_USER,
        ],
        WorkingDir: '/',
        Labels: { ...MANAGED_LABELS, ...this.labels },
        HostConfig: {
          NetworkMode: 'none',
          Memory: 64 * 1024 * 1024,
          MemorySwap: 64 * 1024 * 1024,
          PidsLimit: 16,
          ...CONFINED,
          Mounts: [{ ...mount, Target: '/volume' }],
        },
      });
      try {
        await container.start();
        const { StatusCode } = (await container.wait()) as { StatusCode: number };
        if (StatusCode !== 0) {
          const output = demuxLogs(await container.logs({ stdout: true, stderr: true }));
          throw new BerthError('BERTH_E_INSTANCE_START', {
            app,
            type: spec.type,
            reason: `storage ${m.name} could not be given to the app's user: ${output.trim().split('\n').pop() || `exit code ${StatusCode}`}`,
          });
        }
      } finally {
        await container.remove(REMOVE).catch(() => {});
      }
      const after = await created();
      if (after !== undefined) this.owned.add(after);
    }
  }

  /**
   * The app's storage volume `name`, made (labelled as Berth's, and with the
   * app's createdAt) when missing; its Docker name. Docker answers a create of
   * a volume that exists with that volume, labels unchanged.
   */
  async ensureStorage(app: string, name: string, appCreatedAt: string): Promise<string> {
    const volume = storageVolume(app, name);
    await this.docker.createVolume({
      Name: volume,
      Labels: {
        ...MANAGED_LABELS,
        ...this.labels,
        [LABELS.app]: app,
        [LABELS.storage]: name,
        [LABELS.appCreated]: appCreatedAt,
      },
    });
    return volume;
  }

  /** The app's storage volumes on the Engine (mounted or not), by name within the app. */
  async storageVolumes(app: string): Promise<StorageVolume[]> {
    const { Volumes } = await this.docker.listVolumes({
      filters: {
        label: [`${LABELS.managed}=true`, `${LABELS.app}=${validate.appName(app)}`, LABELS.storage],
      },
    });
    return (Volumes ?? [])
      .map((v) => ({
        name: v.Labels?.[LABELS.storage] ?? '',
        volume: v.Name,
        madeFor: v.Labels?.[LABELS.appCreated] ?? null,
        // dockerode's type lacks it; every Engine since API 1.24 gives it.
        createdAt: String((v as { CreatedAt?: string }).CreatedAt ?? ''),
      }))
      .filter((v) => {
        try {
          return v.volume === storageVolume(app, v.name);
        } catch {
          return false; // a label Berth did not write
        }
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Removes one of the app's storage volumes and its data (no container may use it). */
  async removeStorage(app: string, name: string): Promise<void> {
    await this.docker
      .getVolume(storageVolume(app, name))
      .remove()
      .catch((e: unknown) => {
        if (dockerStatus(e) !== 404) throw e;
      });
  }

  /**
   * CPU and memory of running instances (by id), as `docker stats` shows
   * them: CPU over the Engine's last two readings, which it takes once a
   * second, so an answer takes it up to 2 s. (A one-shot reading has no
   * previous one to compute CPU from, and it too waits for the next reading.)
   * Instances gone meanwhile are left out.
   */
  async usage(ids: readonly string[]): Promise<Map<string, InstanceUsage>> {
    const samples = await Promise.all(
      ids.map((id) =>
        this.docker
          .getContainer(id)
          .stats({ stream: false })
          .catch((e: unknown) => {
            if (dockerStatus(e) === 404) return undefined; // removed meanwhile
            throw e;
          }),
      ),
    );
    const usage = new Map<string, InstanceUsage>();
    ids.forEach((id, i) => {
      const b = samples[i];
      if (!b) return;
      const cpu = b.cpu_stats.cpu_usage.total_usage - b.precpu_stats.cpu_usage.total_usage;
      const system = (b.cpu_stats.system_cpu_usage ?? 0) - (b.precpu_stats.system_cpu_usage ?? 0);
      const cpus = b.cpu_stats.online_cpus || b.cpu_stats.cpu_usage.percpu_usage?.length || 1;
      // As docker's CLI: cgroup v2 counts page cache in usage as inactive_file, v1 as total_inactive_file.
      const stats = (b.memory_stats.stats ?? {}) as Record<string, number | undefined>;
      const cache = stats.inactive_file ?? stats.total_inactive_file ?? 0;
      usage.set(id, {
        cpuPercent: system > 0 && cpu >= 0 ? (cpu / system) * cpus * 100 : 0,
        memoryBytes: Math.max(0, (b.memory_stats.usage ?? 0) - cache),
        memoryLimitBytes: b.memory_stats.limit ?? 0,
      });
    });
    return usage;
  }

  async list(app: string): Promise<Instance[]> {
    const found = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.managed}=true`, `${LABELS.app}=${validate.appName(app)}`] },
    });
    const instances: Instance[] = [];
    for (const c of found) {
      try {
        const info = await this.docker.getContainer(c.Id).inspect();
        const port = Number(
          info.Config.Env?.find((e) => e.startsWith('PORT='))?.slice('PORT='.length),
        );
        instances.push(this.describe(info, Number.isSafeInteger(port) ? port : undefined));
      } catch (e) {
        if (dockerStatus(e) !== 404) throw e; // removed meanwhile
      }
    }
    return instances.sort(
      (a, b) => a.type.localeCompare(b.type) || a.release - b.release || a.instance - b.instance,
    );
  }

  async stop(instance: Instance): Promise<void> {
    const container = this.docker.getContainer(instance.id);
    try {
      // No t: the Engine waits the container's own StopTimeout, then kills.
      await container.stop();
    } catch (e) {
      // 304: not running; 404: gone already.
      if (dockerStatus(e) === 404) return;
      if (dockerStatus(e) !== 304) throw e;
    }
    // Its last lines outlive it, for `logs` (a failure to keep them does not keep it).
    if (this.logArchive) await archiveInstance(this, this.logArchive, instance).catch(() => {});
    await container.remove(REMOVE).catch((e: unknown) => {
      // 404: gone; 409 "removal … already in progress": another stop of it
      // (a drain's retirement, the reconciler) is removing it.
      if (dockerStatus(e) === 404) return;
      if (dockerStatus(e) === 409 && /removal .* already in progress/.test(String(e))) return;
      throw e;
    });
  }

  async exec(
    instance: Instance,
    argv: readonly string[],
    timeoutMs: number,
  ): Promise<{ exitCode: number; output: string }> {
    const r = await execInContainer(this.docker.getContainer(instance.id), argv, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { exitCode: r.exitCode, output: r.stdout };
  }

  async logs(instance: Instance, lines: number): Promise<string[]> {
    const raw = (await this.docker
      .getContainer(instance.id)
      .logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    return demuxLogs(raw)
      .split('\n')
      .filter((l) => l !== '')
      .slice(-lines);
  }

  async logLines(instance: Instance, tail: number): Promise<LogLine[]> {
    const raw = (await this.docker.getContainer(instance.id).logs({
      stdout: true,
      stderr: true,
      timestamps: true,
      tail,
      follow: false,
    })) as unknown as Buffer;
    return parseTimedLines(demuxLogs(raw), sourceOf(instance), instance.release);
  }

  async followLogs(
    instance: Instance,
    o: { since: number; signal: AbortSignal },
    onLine: (line: LogLine) => void,
  ): Promise<void> {
    if (o.signal.aborted) return;
    const stream = (await this.docker.getContainer(instance.id).logs({
      stdout: true,
      stderr: true,
      timestamps: true,
      follow: true,
      since: o.since,
    })) as NodeJS.ReadableStream & { destroy(): void };
    const stop = () => stream.destroy();
    if (o.signal.aborted) stop();
    o.signal.addEventListener('abort', stop, { once: true });
    const source = sourceOf(instance);
    try {
      // A stream the caller's going away destroyed ends the follow, not the caller.
      await streamLines(this.docker.modem, stream, (raw) => {
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

  watch(events: SchedulerEvents): { stop(): void } {
    return watchEngine(this.docker, events);
  }

  private describe(info: Docker.ContainerInspectInfo, port: number | undefined): Instance {
    const labels = info.Config.Labels ?? {};
    const networks = info.NetworkSettings.Networks ?? {};
    // Its app's network; or, for an instance an older Berth started, the
    // one network all apps shared then (NETWORK): it keeps serving from
    // there until its app's next rollout replaces it.
    const ip =
      networks[`${this.network}.${labels[LABELS.app] ?? ''}`]?.IPAddress ||
      networks[this.network]?.IPAddress;
    const state = stateOf(info);
    return {
      id: info.Id,
      app: labels[LABELS.app] ?? '',
      type: labels[LABELS.process] ?? '',
      release: Number(labels[LABELS.release]),
      instance: Number(labels[LABELS.instance]),
      state,
      address: state === 'running' && ip && port ? `${ip}:${port}` : undefined,
      startedAt: info.State.StartedAt || undefined,
      restarts: info.RestartCount ?? 0,
      exitCode: state === 'running' ? undefined : info.State.ExitCode,
    };
  }
}
