// A datastore on the Engine: its volume (`berth-<kind>-<name>`), a network of
// its own, the one-off that initialises the volume, and the server's
// container (`berth-<kind>-<name>`). Everything carries berth.datastore and
// never berth.app, so nothing that selects an app's objects (the reconciler,
// image retention, apps:destroy) ever sees it.
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { DEFAULTS } from '../../core/config.ts';
import { CONFINED, dockerStatus, LABELS, MANAGED_LABELS } from '../../core/docker.ts';
import { execInContainer } from '../../core/docker-exec.ts';
import { BerthError } from '../../core/errors.ts';
import type { Datastore } from '../../core/store/index.ts';
import * as validate from '../../core/validate.ts';
import { NETWORK } from '../scheduler/docker-local.ts';
import { DockerNetworks } from '../scheduler/docker-networks.ts';
import { type DatastoreKind, databaseName } from './kind.ts';

/** The container's, the volume's and the host name linked apps reach it by. */
export const serverName = (kind: string, name: string) =>
  `berth-${kind}-${validate.datastoreName(name)}`;

/** The volume that holds its data: the container's name, or the one upgrade made. */
export const volumeName = (ds: Pick<Datastore, 'kind' | 'name' | 'volume'>) =>
  ds.volume ?? serverName(ds.kind, ds.name);

/** A datastore's server is a handful of processes per connection: room for Postgres' 100. */
export const SERVER_PIDS = 512;
/** Its memory limit when create gives none (--memory). */
export const DEFAULT_MEMORY = 512 * 1024 * 1024;
const LOG_OPTIONS = { 'max-size': '10m', 'max-file': '3' };
/** How long a new or restarted server has to answer its health check. */
const READY_MS = 60_000;

export interface EngineDeps {
  docker: Docker;
  /** BERTH_APP_NETWORKS: the datastore's own network takes its /26 there. */
  appNetworks?: string;
  /** The apps' network prefix (tests: one of theirs). */
  network?: string;
  /** More labels on what is made (tests: berth.test-run). */
  labels?: Readonly<Record<string, string>>;
}

export function datastoreNetworks(d: EngineDeps): DockerNetworks {
  return new DockerNetworks(d.docker, {
    prefix: d.network ?? NETWORK,
    pool: d.appNetworks ?? DEFAULTS.BERTH_APP_NETWORKS,
    labels: d.labels ?? {},
  });
}

export const labelsOf = (d: EngineDeps, ds: Pick<Datastore, 'kind' | 'name'>) => ({
  ...MANAGED_LABELS,
  ...d.labels,
  [LABELS.datastore]: ds.kind,
  [LABELS.datastoreName]: ds.name,
});

/**
 * The volume, initialised by the kind's `init` with the password on stdin
 * (never in an environment or an argument), and the server's container,
 * started and answering. On failure everything made here is removed.
 */
export async function createServer(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Datastore,
  image: string,
): Promise<void> {
  const name = serverName(ds.kind, ds.name);
  const volume = volumeName(ds);
  // `docker volume create` hands back a volume that exists: one left by an
  // earlier service of the name (its record lost, say) holds data, which a
  // failed create must not remove. Such leftovers are refused, untouched.
  for (const [what, named, exists] of [
    ['volume', volume, () => d.docker.getVolume(volume).inspect()],
    ['container', name, () => d.docker.getContainer(name).inspect()],
  ] as const) {
    const found = await exists().then(
      () => true,
      (e: unknown) => {
        if (dockerStatus(e) === 404) return false;
        throw e;
      },
    );
    if (found) {
      throw new BerthError('BERTH_E_DATASTORE_START', {
        title: kind.title,
        name: ds.name,
        kind: ds.kind,
        reason: `a ${what} named ${named} is already on the Docker Engine (an earlier service's, with its data?); nothing was changed: pick another name, or look at it and remove it (docker ${what} rm ${named})`,
      });
    }
  }
  try {
    await d.docker.createVolume({ Name: volume, Labels: labelsOf(d, ds) });
    await initVolume(d, kind, ds, image);
    const network = await datastoreNetworks(d).ensureDatastore(ds.kind, ds.name);
    const container = await createServerContainer(d, kind, ds, image, network);
    await container.start();
    await waitHealthy(d, kind, ds);
  } catch (e) {
    const logs = await lastLines(d, ds, 5).catch(() => []);
    await removeServer(d, ds).catch(() => {});
    if (e instanceof BerthError) throw e;
    throw new BerthError(
      'BERTH_E_DATASTORE_START',
      {
        title: kind.title,
        name: ds.name,
        kind: ds.kind,
        reason: [(e as Error).message, ...logs].join(' | ').slice(0, 600),
      },
      { cause: e },
    );
  }
}

/**
 * The server's container (not started), on its own network, its port
 * published on the host where `ds.exposed` says (expose), nowhere else.
 */
export function createServerContainer(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Datastore,
  image: string,
  network: string,
  /** Its container's name: the server's, or the one upgrade starts beside it. */
  container = serverName(ds.kind, ds.name),
) {
  // The host name linked apps reach it by, whatever the container is called.
  const name = serverName(ds.kind, ds.name);
  const port = `${kind.port}/tcp`;
  return d.docker.createContainer({
    name: container,
    Image: image,
    Cmd: ['serve'],
    Env: [`BERTH_DATABASE=${databaseName(ds.name)}`],
    Labels: labelsOf(d, ds),
    StopSignal: kind.stopSignal,
    StopTimeout: 30,
    ...(ds.exposed ? { ExposedPorts: { [port]: {} } } : {}),
    HostConfig: {
      RestartPolicy: { Name: 'unless-stopped' },
      Memory: ds.memory,
      MemorySwap: ds.memory,
      PidsLimit: SERVER_PIDS,
      Mounts: [{ Type: 'volume', Source: volumeName(ds), Target: kind.dataPath }],
      NetworkMode: network,
      LogConfig: { Type: 'json-file', Config: LOG_OPTIONS },
      ...(ds.exposed
        ? {
            PortBindings: {
              [port]: [{ HostIp: ds.exposed.address, HostPort: String(ds.exposed.port) }],
            },
          }
        : {}),
      ...CONFINED,
    },
    NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [name] } } },
  });
}

/** The one-off `init` on the new volume, the password written to its stdin. */
export async function initVolume(d: EngineDeps, kind: DatastoreKind, ds: Datastore, image: string) {
  const container = await d.docker.createContainer({
    Image: image,
    Cmd: ['init'],
    Env: [`BERTH_DATABASE=${databaseName(ds.name)}`],
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    Labels: labelsOf(d, ds),
    HostConfig: {
      Memory: ds.memory,
      Mounts: [{ Type: 'volume', Source: volumeName(ds), Target: kind.dataPath }],
      NetworkMode: 'none',
      ...CONFINED,
    },
  });
  try {
    const stream = (await container.attach({
      stream: true,
      stdin: true,
      stdout: true,
      stderr: true,
      hijack: true,
    })) as unknown as Duplex;
    let output = '';
    const sink = {
      write: (chunk: Buffer) => {
        output = (output + chunk.toString('utf8')).slice(-4000);
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    container.modem.demuxStream(stream, sink, sink);
    await container.start();
    stream.end(ds.password);
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    if (StatusCode !== 0) {
      const last = output.trim().split('\n').slice(-3).join(' | ');
      throw new Error(`initialising its volume failed (exit ${StatusCode}): ${last}`);
    }
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

/** Waits until the kind's health check passes; BERTH_E_DATASTORE_START when it never does. */
export async function waitHealthy(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Datastore,
  container = serverName(ds.kind, ds.name),
) {
  const until = Date.now() + READY_MS;
  let last = '';
  while (Date.now() < until) {
    const check = await health(d, kind, ds, container);
    if (check.ok) return;
    last = check.detail;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new BerthError('BERTH_E_DATASTORE_START', {
    title: kind.title,
    name: ds.name,
    kind: ds.kind,
    reason: `no answer to its health check within ${READY_MS / 1000} s${last ? ` (${last})` : ''}`,
  });
}

/** The container's state as Docker has it: running, exited, restarting, ...; `missing` when gone. */
export async function serverState(
  d: EngineDeps,
  ds: Pick<Datastore, 'kind' | 'name'>,
): Promise<{ status: string; id: string | undefined; networks: Record<string, string> }> {
  try {
    const info = await d.docker.getContainer(serverName(ds.kind, ds.name)).inspect();
    const networks: Record<string, string> = {};
    for (const [n, e] of Object.entries(info.NetworkSettings.Networks ?? {})) {
      networks[n] = e.IPAddress ?? '';
    }
    return { status: info.State.Status, id: info.Id, networks };
  } catch (e) {
    if (dockerStatus(e) === 404) return { status: 'missing', id: undefined, networks: {} };
    throw e;
  }
}

/** Runs the kind's health check in the server's container. */
export async function health(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Pick<Datastore, 'kind' | 'name'>,
  name = serverName(ds.kind, ds.name),
): Promise<{ ok: boolean; detail: string }> {
  try {
    const container = d.docker.getContainer(name);
    const lines: string[] = [];
    const r = await execInContainer(container, kind.healthCommand, {
      onLine: (l) => lines.push(l),
      signal: AbortSignal.timeout(10_000),
    });
    return { ok: r.exitCode === 0, detail: lines.slice(-1)[0] ?? `exit ${r.exitCode}` };
  } catch (e) {
    return { ok: false, detail: (e as Error).message.replace(/^\(HTTP code \d+\) [a-z ]+ - /, '') };
  }
}

/** The server's last lines (logs). */
export async function lastLines(
  d: EngineDeps,
  ds: Pick<Datastore, 'kind' | 'name'>,
  tail: number,
): Promise<string[]> {
  const buf = (await d.docker.getContainer(serverName(ds.kind, ds.name)).logs({
    stdout: true,
    stderr: true,
    tail,
  })) as unknown as Buffer;
  return demuxText(buf).split('\n').filter(Boolean);
}

/** A multiplexed log buffer (8-byte frame headers) as text. */
function demuxText(buf: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Removes the container, then its own network and the volume with the data. */
export async function removeServer(d: EngineDeps, ds: Pick<Datastore, 'kind' | 'name' | 'volume'>) {
  const name = serverName(ds.kind, ds.name);
  try {
    await d.docker.getContainer(name).remove({ force: true });
  } catch (e) {
    if (dockerStatus(e) !== 404) throw e;
  }
  const networks = datastoreNetworks(d);
  await networks.remove(networks.datastoreName(ds.kind, ds.name), name);
  await removeVolume(d, ds, volumeName(ds));
}

/** Removes a volume of the datastore's (labelled so); nothing when it is gone. */
export async function removeVolume(
  d: EngineDeps,
  ds: Pick<Datastore, 'kind' | 'name'>,
  name: string,
) {
  try {
    const volume = d.docker.getVolume(name);
    const info = await volume.inspect();
    // Only Berth's own datastore volume of that name.
    if (info.Labels?.[LABELS.datastore] === ds.kind) await volume.remove();
  } catch (e) {
    if (dockerStatus(e) !== 404) throw e;
  }
}

/** Joins an app's network, reachable there as `berth-<kind>-<name>`; nothing when it is on it. */
export async function joinNetwork(d: EngineDeps, ds: Datastore, network: string) {
  const name = serverName(ds.kind, ds.name);
  try {
    await d.docker
      .getNetwork(network)
      .connect({ Container: name, EndpointConfig: { Aliases: [name] } });
  } catch (e) {
    // Already on it (a link made again after a crash between its steps).
    if (/already exists/i.test((e as Error).message)) return;
    throw e;
  }
}

/** Leaves an app's network; nothing when it is not on it (or either is gone). */
export async function leaveNetwork(
  d: EngineDeps,
  ds: Pick<Datastore, 'kind' | 'name'>,
  network: string,
) {
  try {
    await d.docker
      .getNetwork(network)
      .disconnect({ Container: serverName(ds.kind, ds.name), Force: true });
  } catch (e) {
    if (dockerStatus(e) === 404) return;
    if (/is not connected/i.test((e as Error).message)) return;
    throw e;
  }
}
