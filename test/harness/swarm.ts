// A 3-node Docker Swarm on this machine, for the swarm scheduler's tests:
// three Docker Engines inside containers on the shared Engine (the recipe of
// /work/shared/swarm-sim, issue 21), a swarm formed among them, a registry
// (Debian's docker-registry) on the manager for images, and an overlay.
//
// Safety, as the recipe learned it: the nodes' network is --internal with a
// subnet of its own, the swarm's address pool and the overlay have explicit
// subnets, so no request to an address the test did not make leaves the
// machine (before that, one to an overlay address went out by the default
// route). The shared Engine's own swarm state is never touched: `swarm init`
// runs inside node 1 only.
//
// The nodes are not --privileged (this machine's sandbox lacks
// CAP_SYS_RESOURCE, which --privileged asks for): all capabilities but that
// one, unconfined seccomp, and an entry point that remounts /sys and the
// cgroup hierarchies read-write. /var/lib/docker is a tmpfs (overlay2 works on
// it), so a node's state goes with its container.
//
// Everything carries `berth.test-swarm=<run>` and the creating process's pid;
// what a killed run left (its pid gone) is removed when the next one starts.
// The node image is kept between runs, rebuilt when its revision (what it is
// made of) changes.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { importDebianRootfs, mmdebstrapArgs } from '../../services/core/debian-image.ts';
import { registryContainerName } from '../../services/platform/registry/own-registry.ts';
import { testLabels } from './docker.ts';

const execFileP = promisify(execFile);

export const SWARM_LABEL = 'berth.test-swarm';
const PID_LABEL = 'berth.test-swarm.pid';
const REVISION_LABEL = 'berth.test-swarm.node-revision';
export const NODE_IMAGE = 'berth-test/swarm-node:bookworm';
/** Where this machine's Engine looks for a registry's CA (trustRegistry). */
const HOST_CERTS_D = '/etc/docker/certs.d';

const NODE_PACKAGES = [
  'docker.io',
  'iptables',
  'ca-certificates',
  'iproute2',
  'procps',
  'docker-registry',
  // Not in mmdebstrap's apt variant; the entry point remounts with it.
  'mount',
];

// Not --privileged, so /sys and the cgroup v1 hierarchies are made writable
// here; stale pid files would stop dockerd from starting its containerd
// after a `docker start` of a killed node.
const ENTRYPOINT = `#!/bin/sh
mount -o remount,rw /sys || echo "warn: remount /sys rw failed" >&2
for d in /sys/fs/cgroup/*; do
  [ -d "$d" ] && { mount -o remount,bind,rw "$d" || echo "warn: remount $d rw failed" >&2; }
done
rm -rf /var/run/docker.pid /var/run/docker /run/containerd
exec dockerd "$@"
`;

/** What the node image is made of: a change to any of it makes a new image. */
export const nodeImageRevision = (): string =>
  createHash('sha256')
    .update(JSON.stringify({ suite: 'bookworm', packages: NODE_PACKAGES, ENTRYPOINT }))
    .digest('hex')
    .slice(0, 16);

export interface SwarmFigures {
  /** Node image build, ms (0: cached). */
  nodeImageMs: number;
  enginesReadyMs: number;
  swarmFormedMs: number;
}

export interface SimSwarm {
  runId: string;
  /** The nodes' container names; [0] is the manager, which runs the registry. */
  nodes: string[];
  /** The nodes' addresses on the node network, by name. */
  addresses: Record<string, string>;
  /** The manager's Engine API (a unix socket bind-mounted from node 1): BERTH_SWARM_MANAGER. */
  manager: string;
  /** The attachable overlay the apps' tasks join (explicit subnet). */
  overlay: string;
  overlaySubnet: string;
  /** host:port of the registry in node 1, as the nodes reach it. */
  registry: string;
  /**
   * The node network's gateway: this machine's address on it, which the nodes
   * reach (Berth's own registry listens there, BERTH_SWARM_REGISTRY=<gateway>:PORT).
   */
  gateway: string;
  /**
   * What an operator does once per node for a registry with its own CA:
   * copies the CA to /etc/docker/certs.d/<address>/ca.crt on every running node, and
   * on this machine, whose Engine pushes (removed with the swarm).
   */
  trustRegistry(address: string, caPem: string): Promise<void>;
  figures: SwarmFigures;
  /** `docker` in a node; stdout. */
  exec(node: string, args: readonly string[]): Promise<string>;
  /** Puts a shared-Engine image into every node, through the registry; ms taken. */
  distribute(image: string): Promise<number>;
  /** Removes everything the swarm made (nodes, network, temp dir); the node image stays. */
  remove(): Promise<void>;
}

const docker = (args: readonly string[], o: { timeoutMs?: number } = {}) =>
  execFileP('docker', [...args], {
    timeout: o.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  }).then((r) => r.stdout);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Removes the nodes and networks of earlier runs whose process is gone (killed runs). */
export async function removeSwarmLeftovers(client: Docker): Promise<number> {
  let removed = 0;
  const dead = (labels: Record<string, string> | undefined) => {
    const pid = Number(labels?.[PID_LABEL]);
    return !Number.isInteger(pid) || pid <= 0 || !alive(pid);
  };
  const containers = await client.listContainers({
    all: true,
    filters: { label: [SWARM_LABEL] },
  });
  for (const c of containers) {
    if (!dead(c.Labels)) continue;
    await client
      .getContainer(c.Id)
      .remove({ force: true, v: true })
      .catch(() => {});
    removed++;
  }
  const networks = await client.listNetworks({ filters: { label: [SWARM_LABEL] } });
  for (const n of networks) {
    if (!dead(n.Labels)) continue;
    await client
      .getNetwork(n.Id)
      .remove()
      .catch(() => {});
    removed++;
  }
  // A killed run's trust of its registry (trustRegistry): a 10.197.N.1 with no network left.
  const live = new Set(
    (await client.listNetworks({ filters: { label: [SWARM_LABEL] } })).flatMap((n) =>
      (n.IPAM?.Config ?? []).map((c) => (c.Subnet ?? '').replace(/\.0\/24$/, '.1')),
    ),
  );
  for (const dir of await readdir(HOST_CERTS_D).catch(() => [] as string[])) {
    const m = /^(10\.197\.\d+\.1):\d+$/.exec(dir);
    if (m && !live.has(m[1] as string)) {
      await rm(path.join(HOST_CERTS_D, dir), { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}

/** The node image, built by mmdebstrap when missing or of another revision; ms taken (0: cached). */
export async function ensureNodeImage(client: Docker, workDir: string): Promise<number> {
  const revision = nodeImageRevision();
  const have = await client
    .getImage(NODE_IMAGE)
    .inspect()
    .catch(() => undefined);
  if (have?.Config?.Labels?.[REVISION_LABEL] === revision) return 0;
  const started = Date.now();
  const entrypoint = path.join(workDir, 'node-entrypoint');
  await writeFile(entrypoint, ENTRYPOINT, { mode: 0o755 });
  const args = mmdebstrapArgs({
    suite: 'bookworm',
    packages: NODE_PACKAGES,
    uploads: [{ source: entrypoint, target: '/usr/local/bin/node-entrypoint', mode: '0755' }],
  });
  const { id } = await importDebianRootfs({
    docker: client,
    args,
    workDir,
    changes: [
      'ENTRYPOINT ["/usr/local/bin/node-entrypoint"]',
      `LABEL ${REVISION_LABEL}=${revision} ${SWARM_LABEL}=image`,
    ],
    onLine: () => {},
  });
  const [repo, tag] = NODE_IMAGE.split(':') as [string, string];
  await client.getImage(id).tag({ repo, tag });
  // The image of an older revision, untagged now, goes.
  if (have !== undefined && have.Id !== id) {
    await client
      .getImage(have.Id)
      .remove()
      .catch(() => {});
  }
  return Date.now() - started;
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>) {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A network of `--internal` bridge with a random /24 of 10.197.0.0/16 (one
 * in use by another network of the shared Engine is skipped).
 */
async function createNodeNetwork(client: Docker, name: string, labels: Record<string, string>) {
  for (let attempt = 0; ; attempt++) {
    const subnet = `10.197.${randomInt(1, 255)}.0/24`;
    try {
      await client.createNetwork({
        Name: name,
        Driver: 'bridge',
        Internal: true,
        CheckDuplicate: true,
        IPAM: { Config: [{ Subnet: subnet }] },
        Labels: labels,
      });
      return subnet;
    } catch (e) {
      if (attempt >= 10) throw e;
    }
  }
}

/** Starts the 3-node swarm; the caller removes it (remove()) at the end. */
export async function startSwarm(
  client: Docker,
  o: {
    runId: string;
    /**
     * The nodes pull a task's image (from a registry the test runs: Berth's
     * own); default false: they run the image they have (distribute()) and
     * never ask a registry, which the internal network could not reach.
     */
    pull?: boolean;
  },
): Promise<SimSwarm> {
  await removeSwarmLeftovers(client);
  const work = await mkdtemp(path.join(os.tmpdir(), 'berth-swarm-'));
  const id = randomBytes(3).toString('hex');
  const labels = {
    ...testLabels(o.runId),
    [SWARM_LABEL]: o.runId,
    [PID_LABEL]: String(process.pid),
  };
  const net = `berth-swarm-${id}`;
  const nodes = [1, 2, 3].map((n) => `berth-swarm-${id}-node${n}`);
  const manager = nodes[0] as string;
  const registry = `${manager}:5000`;
  const sockDir = path.join(work, 'manager');
  const trusted: string[] = [];
  const removeAll = async () => {
    for (const dir of trusted) await rm(dir, { recursive: true, force: true });
    for (const n of nodes) {
      await client
        .getContainer(n)
        .remove({ force: true, v: true })
        .catch(() => {});
    }
    await client
      .getNetwork(net)
      .remove()
      .catch(() => {});
    await rm(work, { recursive: true, force: true });
  };
  try {
    const nodeImageMs = await ensureNodeImage(client, work);
    const subnet = await createNodeNetwork(client, net, labels);
    // Docker's bridge takes the subnet's first address on this machine.
    const gateway = subnet.replace(/\.0\/24$/, '.1');
    // The swarm's own networks (ingress, and any overlay made without a
    // subnet) take their subnets from here; the apps' overlay is one of them.
    // (ingress takes the pool's first /24; the apps' overlay its last.)
    const base = randomInt(0, 16) * 16;
    const pool = `10.196.${base}.0/20`;
    const overlaySubnet = `10.196.${base + 15}.0/24`;
    let t = Date.now();
    for (const name of nodes) {
      const container = await client.createContainer({
        name,
        Hostname: name,
        Image: NODE_IMAGE,
        Labels: labels,
        // Tasks use the image a node has (the registry fills it) rather
        // than asking Docker Hub, which the internal network cannot reach.
        Env: o.pull ? [] : ['DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1'],
        Cmd: [
          '-H',
          'unix:///var/run/docker.sock',
          ...(name === manager ? ['-H', 'unix:///berth-manager/docker.sock'] : []),
          '--insecure-registry',
          registry,
        ],
        HostConfig: {
          NetworkMode: net,
          Init: true,
          CapAdd: ['ALL'],
          CapDrop: ['SYS_RESOURCE'],
          SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
          // --security-opt systempaths=unconfined, which the CLI makes into these.
          MaskedPaths: [],
          ReadonlyPaths: [],
          DeviceCgroupRules: ['a *:* rwm'],
          Tmpfs: { '/var/lib/docker': 'exec,size=4g' },
          Binds: name === manager ? [`${sockDir}:/berth-manager`] : [],
        },
      });
      await container.start();
    }
    const exec = (node: string, args: readonly string[]) =>
      docker(['exec', node, 'docker', ...args]);
    await Promise.all(
      nodes.map((n) =>
        until(`${n}'s Engine`, 60_000, async () => {
          await exec(n, ['info']);
          return true;
        }),
      ),
    );
    const enginesReadyMs = Date.now() - t;
    const addresses: Record<string, string> = {};
    for (const n of nodes) {
      const info = await client.getContainer(n).inspect();
      addresses[n] = info.NetworkSettings.Networks[net]?.IPAddress ?? '';
    }
    t = Date.now();
    await exec(manager, [
      'swarm',
      'init',
      '--advertise-addr',
      addresses[manager] as string,
      '--default-addr-pool',
      pool,
      '--default-addr-pool-mask-length',
      '24',
    ]);
    // Node loss is noticed in about a second rather than five.
    await exec(manager, ['swarm', 'update', '--dispatcher-heartbeat', '1s']);
    const token = (await exec(manager, ['swarm', 'join-token', '-q', 'worker'])).trim();
    for (const n of nodes.slice(1)) {
      await exec(n, [
        'swarm',
        'join',
        '--token',
        token,
        '--advertise-addr',
        addresses[n] as string,
        `${addresses[manager]}:2377`,
      ]);
    }
    await until('3 ready nodes', 30_000, async () => {
      const ready = (await exec(manager, ['node', 'ls', '--format', '{{.Status}}']))
        .split('\n')
        .filter((s) => s.trim() === 'Ready').length;
      return ready === 3 ? true : undefined;
    });
    const swarmFormedMs = Date.now() - t;
    const overlay = `berth-swarm-${id}`;
    await exec(manager, [
      'network',
      'create',
      '--driver',
      'overlay',
      '--attachable',
      '--subnet',
      overlaySubnet,
      overlay,
    ]);
    // The registry: Debian's docker-registry, in node 1 beside its Engine.
    await docker([
      'exec',
      manager,
      'sh',
      '-c',
      `printf 'version: 0.1\\nlog:\\n  level: warn\\nstorage:\\n  filesystem:\\n    rootdirectory: /var/lib/docker/registry-data\\nhttp:\\n  addr: :5000\\n' > /etc/berth-registry.yml`,
    ]);
    await docker([
      'exec',
      '-d',
      manager,
      'sh',
      '-c',
      'exec docker-registry serve /etc/berth-registry.yml >/var/log/registry.log 2>&1',
    ]);
    await until('the registry', 20_000, async () => {
      await exec(manager, ['pull', `${registry}/none:none`]).catch(
        (e: Error & { stderr?: string }) => {
          // Answering "not found" is answering.
          if (!/not found|unknown/i.test(String(e.stderr))) throw e;
        },
      );
      return true;
    });
    const distribute = async (image: string) => {
      const started = Date.now();
      const remote = `${registry}/${image}`;
      await pipeSaveLoad(image, manager);
      await exec(manager, ['tag', image, remote]);
      await exec(manager, ['push', remote]);
      await Promise.all(
        nodes.slice(1).map(async (n) => {
          await exec(n, ['pull', remote]);
          await exec(n, ['tag', remote, image]);
        }),
      );
      return Date.now() - started;
    };
    return {
      runId: o.runId,
      nodes,
      addresses,
      manager: `unix://${path.join(sockDir, 'docker.sock')}`,
      overlay,
      overlaySubnet,
      registry,
      figures: { nodeImageMs, enginesReadyMs, swarmFormedMs },
      gateway,
      async trustRegistry(address, caPem) {
        if (!/^[0-9.]+:[0-9]+$/.test(address)) throw new Error(`not HOST:PORT: ${address}`);
        for (const n of nodes) {
          // A node the test killed (node loss) is skipped, as an operator skips a machine that is down.
          const running = await client
            .getContainer(n)
            .inspect()
            .then(
              (i) => i.State.Running,
              () => false,
            );
          if (!running) continue;
          await execFileWithInput(
            'docker',
            [
              'exec',
              '-i',
              n,
              'sh',
              '-c',
              'mkdir -p "/etc/docker/certs.d/$1" && cat > "/etc/docker/certs.d/$1/ca.crt"',
              'sh',
              address,
            ],
            caPem,
          );
        }
        const dir = path.join(HOST_CERTS_D, address);
        await mkdir(dir, { recursive: true });
        trusted.push(dir);
        await writeFile(path.join(dir, 'ca.crt'), caPem);
      },
      exec,
      distribute,
      remove: removeAll,
    };
  } catch (e) {
    const log = await docker(['logs', '--tail', '20', manager]).catch(() => '');
    await removeAll();
    throw new Error(`${(e as Error).message}${log ? `\n${manager}'s last lines:\n${log}` : ''}`);
  }
}

/** Removes Berth's own registry at `address` (its container and volume), which a test's Berth started. */
export async function removeOwnRegistry(client: Docker, address: string): Promise<void> {
  const name = registryContainerName(address);
  await client
    .getContainer(name)
    .remove({ force: true, v: true })
    .catch(() => {});
  await client
    .getVolume(name)
    .remove()
    .catch(() => {});
}

/** Runs `cmd args` with `input` on its stdin. */
function execFileWithInput(cmd: string, args: readonly string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, [...args], { stdio: ['pipe', 'ignore', 'inherit'] });
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}`)),
    );
    p.stdin.end(input);
  });
}

/** `docker save IMAGE | docker exec -i NODE docker load`. */
function pipeSaveLoad(image: string, node: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'inherit'] });
    const load = spawn('docker', ['exec', '-i', node, 'docker', 'load', '-q'], {
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    save.stdout.pipe(load.stdin);
    const exit = (p: ReturnType<typeof spawn>) =>
      new Promise<number | null>((r) => p.on('close', (code) => r(code)));
    Promise.all([exit(save), exit(load)]).then(([saved, loaded]) =>
      saved === 0 && loaded === 0
        ? resolve()
        : reject(new Error(`docker save ${image} | load into ${node}: exit ${saved}/${loaded}`)),
    );
  });
}
